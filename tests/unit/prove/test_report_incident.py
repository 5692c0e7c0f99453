"""The breach-report draft: triggers (施行規則 第7条) and deadlines from the discovery time. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from onshore.prove.incident import DraftInputs, build_draft, deadlines
from onshore.prove.report.evidence import ChainEvidence

CHAIN = ChainEvidence(10, 10, "a" * 64, 2, 2, 1, 10, 1.0, ("kid",), 0)
VALUES = frozenset({"phone", "person_name", "credit_card", "bank_account", "email"})
SERVED = {
    "name": "us",
    "jurisdiction": "US",
    "storage_jurisdiction": "US",
    "operator": "H",
    "operator_jurisdiction": "US",
}


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def request(
    found: dict[str, int], *, pseudonymised: bool = False, data_class: str = "personal", **kw: Any
) -> dict[str, Any]:
    return {
        "ts": kw.pop("ts", 100.0),
        "kind": "request",
        "tenant": kw.pop("tenant", "acme"),
        "data_class": data_class,
        "status": 200,
        "attempts": kw.pop("attempts", [{"backend": "us", "outcome": "ok"}]),
        "decision": {"policy_hash": "p", "chosen": SERVED},
        "personal_data": {"scanned": True, "found": found, "pseudonymised_for": ["us"] if pseudonymised else []},
    }


def draft(records: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    inputs = DraftInputs(
        since=0,
        until=1000,
        discovered_at=kw.pop("discovered_at", ts("2026-03-10T15:00:00+09:00")),
        special_care_types=frozenset({"health_info"}),
        value_types=VALUES,
        **kw,
    )
    return build_draft(list(enumerate(records, start=1)), inputs, CHAIN, 500.0)


def status(d: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["status"] for t in d["report_worthiness"]["triggers"]}


def test_deadlines_count_calendar_days_from_discovery_in_japan_time() -> None:
    d = deadlines(ts("2026-03-10T15:00:00+09:00"))
    assert d["preliminary"]["guidance_from"] == "2026-03-12" and d["preliminary"]["guidance_until"] == "2026-03-14"
    assert d["final"] == "2026-04-08"  # the discovery day is day 1 of 30
    assert d["final_if_unauthorised_purpose"] == "2026-05-08"
    late = deadlines(ts("2026-03-10T23:30:00+00:00"))  # 08:30 on the 11th in Japan
    assert late["final"] == "2026-04-09" and late["discovered_at"].startswith("2026-03-11T08:30")


def test_nothing_personal_is_not_reportable() -> None:
    d = draft([request({}, data_class="public")])
    assert status(d) == {
        "special_care": "not_indicated",
        "financial": "not_indicated",
        "unauthorised_purpose": "person_judges",
        "people": "not_indicated",
    }
    assert d["report_worthiness"]["likely_reportable"] is False
    assert "Onshore files nothing" in d["draft_notice"]["en"] and "下書き" in d["draft_notice"]["ja"]


def test_special_care_sent_as_values_is_met_pseudonymised_only_possible() -> None:
    assert status(draft([request({"health_info": 1, "person_name": 1})]))["special_care"] == "met"
    assert status(draft([request({"phone": 1}, data_class="special_care")]))["special_care"] == "met"
    assert status(draft([request({"health_info": 1, "phone": 1}, pseudonymised=True)]))["special_care"] == "possible"


def test_card_numbers_sent_as_values_risk_financial_damage() -> None:
    assert status(draft([request({"credit_card": 1})]))["financial"] == "possible"
    assert status(draft([request({"bank_account": 2}, pseudonymised=True)]))["financial"] == "not_indicated"


@pytest.mark.parametrize(
    ("people_per_request", "public_body", "expected"),
    [(1000, False, "not_indicated"), (1001, False, "met"), (100, True, "not_indicated"), (101, True, "met")],
)
def test_the_people_threshold_is_more_than_1000_or_100_for_public_bodies(
    people_per_request: int, public_body: bool, expected: str
) -> None:
    d = draft([request({"person_name": people_per_request})], public_body=public_body)
    assert d["items"][2]["gateway"]["estimate"] == people_per_request
    assert status(d)["people"] == expected


def test_the_upper_bound_alone_makes_the_threshold_possible() -> None:
    d = draft([request({"person_name": 600, "phone": 600})])  # 600 people, or up to 1,200
    assert d["items"][2]["gateway"]["upper_bound"] == 1200 and status(d)["people"] == "possible"


def test_only_requests_that_reached_the_named_backends_count() -> None:
    records = [
        request({"phone": 1}),
        request(
            {"phone": 1}, attempts=[{"backend": "us", "outcome": "connect_error"}, {"backend": "jp", "outcome": "ok"}]
        ),
        request({"phone": 1}, attempts=[{"backend": "us", "outcome": "status_503"}]),  # sent, then failed
        request({"phone": 1}, tenant="globex"),
        request({"phone": 1}, ts=5000.0),  # outside the window
    ]
    d = draft(records, backends=frozenset({"us"}), tenant="acme")
    gateway = d["items"][0]["gateway"]
    assert gateway["requests_reaching_backends"] == 2 and gateway["record_seqs"] == ["1", "3"]
    assert d["items"][1]["gateway"]["sent_as_values"] == {"phone": 2}


def test_every_item_of_article_8_is_there_and_says_who_fills_it() -> None:
    items = draft([request({"phone": 1})])["items"]
    assert [i["ja"] for i in items] == [
        "概要",
        "漏えい等が発生し、又は発生したおそれがある個人データの項目",
        "漏えい等が発生し、又は発生したおそれがある個人データに係る本人の数",
        "原因",
        "二次被害又はそのおそれの有無及びその内容",
        "本人への対応の実施状況",
        "公表の実施状況",
        "再発防止のための措置",
        "その他参考となる事項",
    ]
    assert {i["no"]: i["filled_by"] for i in items if i["filled_by"] == "person"} == {
        4: "person",
        5: "person",
        6: "person",
        7: "person",
    }
    assert all(i["person"] for i in items)  # a person confirms every item


def test_security_events_are_an_optional_hint() -> None:
    events = [{"class_uid": 3002, "status_id": 2}] * 3 + [{"class_uid": 2004}]
    d = build_draft([], DraftInputs(0, 1000, 10.0), CHAIN, 500.0, events)
    assert d["security_events"] == {"authentication_failures": 3, "events": 4, "detection_findings": 1}
    unauthorised = next(t for t in d["report_worthiness"]["triggers"] if t["key"] == "unauthorised_purpose")
    assert unauthorised["status"] == "person_judges" and "3 authentication failures" in unauthorised["basis"]
