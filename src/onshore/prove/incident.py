"""A draft of the APPI breach report (個人情報保護法 第26条, 施行規則 第8条第1項) from the verified audit chain.

Pure: fed parsed records of the incident window, it says what the gateway knows (which requests,
which backends in which countries, which personal-data types, how many values and an estimate of
the people, with its basis), computes the report-worthiness triggers (施行規則 第7条) and the
deadlines from the discovery time, and marks every item a person must fill in. It is a draft for a
person to check and file, never a filing.

Security events (OCSF, once the gateway emits them) are an optional input: authentication-failure
bursts and tamper findings are shown under 原因 and その他 as hints for the person, and a burst marks
不正の目的 as something to examine; the judgement stays the person's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal

from onshore.prove.report.evidence import ChainEvidence, iso

DRAFT_TYPE = "onshore-appi-breach-draft"
JST = timezone(timedelta(hours=9), "JST")
PEOPLE_THRESHOLD = 1000  # 施行規則 第7条第4号: more than 1,000 people
PUBLIC_BODY_THRESHOLD = 100  # 行政機関等: more than 100 people
FINAL_DAYS, FINAL_DAYS_UNAUTHORISED = 30, 60
PRELIMINARY_GUIDANCE_DAYS = (3, 5)  # 速報: 「速やかに」, the guidelines' 概ね3～5日以内
# Types whose values risk financial damage if misused (施行規則 第7条第2号: card numbers, bank accounts).
FINANCIAL_TYPES = frozenset({"credit_card", "bank_account"})
# Outcomes after which the request's bytes were (or may have been) sent to the backend.
_REACHED = ("ok", "timeout", "read_failed", "bad_response")
# OCSF classes the draft reads when security events are given.
OCSF_AUTHENTICATION, OCSF_DETECTION_FINDING = 3002, 2004

Status = Literal["met", "possible", "not_indicated", "person_judges"]


@dataclass(frozen=True, slots=True)
class DraftInputs:
    since: float
    until: float
    discovered_at: float
    tenant: str | None = None
    backends: frozenset[str] = frozenset()  # only requests that reached these (empty: any backend)
    public_body: bool = False
    # From the detector of the running version (the caller passes them; prove does not import protect):
    special_care_types: frozenset[str] = frozenset()  # 要配慮個人情報 (e.g. health_info)
    value_types: frozenset[str] = frozenset()  # types that identify a person by a value (phone, name...)


def reached(attempt: dict[str, Any]) -> bool:
    outcome = str(attempt.get("outcome"))
    return outcome in _REACHED or outcome.startswith("status_")


@dataclass(slots=True)
class _Tally:
    requests: int = 0
    with_values: int = 0  # requests whose personal values reached a backend as they are
    placeholders_only: int = 0  # requests sent pseudonymised: values replaced by placeholders
    declared_without_findings: int = 0  # class personal/special_care, nothing detected
    special_care_values: int = 0
    special_care_pseudonymised: int = 0
    people_estimate: int = 0
    people_upper: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    sent_values: Counter[str] = field(default_factory=Counter)
    sent_placeholders: Counter[str] = field(default_factory=Counter)
    classes: Counter[str] = field(default_factory=Counter)
    backends: Counter[tuple[str, str, str, str, str]] = field(default_factory=Counter)
    seqs: list[int] = field(default_factory=list)
    admin: list[dict[str, Any]] = field(default_factory=list)
    policy_hashes: set[str] = field(default_factory=set)


def _facts(body: dict[str, Any], name: str) -> tuple[str, str, str, str, str]:
    chosen = (body.get("decision") or {}).get("chosen") or {}
    if chosen.get("name") != name:  # tried but did not serve: the record names it only
        return (name, "?", "?", "?", "?")

    def fact(key: str) -> str:  # the record states the facts of the backend that served
        return str(chosen.get(key) or "?")

    return (
        name,
        fact("jurisdiction"),
        fact("storage_jurisdiction"),
        fact("operator"),
        fact("operator_jurisdiction"),
    )  # tried but did not serve: the record names it only


def _tally(records: Iterable[tuple[int, dict[str, Any]]], inputs: DraftInputs) -> _Tally:
    t = _Tally()
    for seq, body in records:
        ts = body.get("ts")
        if not isinstance(ts, int | float) or not inputs.since <= ts < inputs.until:
            continue
        if body.get("kind") == "admin":
            t.admin.append({"seq": seq, "at": iso(ts), **{k: body.get(k) for k in ("action", "backend", "reason")}})
            continue
        if body.get("kind") not in ("request", "stream_open"):
            continue
        if inputs.tenant is not None and body.get("tenant") != inputs.tenant:
            continue
        targets = [str(a.get("backend")) for a in body.get("attempts") or [] if isinstance(a, dict) and reached(a)]
        if inputs.backends:
            targets = [b for b in targets if b in inputs.backends]
        if not targets:
            continue  # its content reached no backend (of those named)
        t.requests += 1
        t.seqs.append(seq)
        t.first_ts = ts if t.first_ts is None else min(t.first_ts, ts)
        t.last_ts = ts if t.last_ts is None else max(t.last_ts, ts)
        data_class = str(body.get("data_class"))
        t.classes[data_class] += 1
        digest = (body.get("decision") or {}).get("policy_hash")
        if digest:
            t.policy_hashes.add(str(digest))
        for name in targets:
            t.backends[_facts(body, name)] += 1
        _personal(t, body, targets, data_class, inputs)
    return t


def _personal(t: _Tally, body: dict[str, Any], targets: list[str], data_class: str, inputs: DraftInputs) -> None:
    personal = body.get("personal_data") or {}
    found = {str(k): v for k, v in (personal.get("found") or {}).items() if type(v) is int and v > 0}
    if not found:
        if data_class in ("personal", "special_care"):
            t.declared_without_findings += 1
        return
    pseudonymised = set(personal.get("pseudonymised_for") or [])
    as_values = [b for b in targets if b not in pseudonymised]
    special = data_class == "special_care" or any(k in inputs.special_care_types for k in found)
    if as_values:
        t.with_values += 1
        t.sent_values.update(found)
        t.special_care_values += special
        identifying = [n for k, n in found.items() if k in inputs.value_types]
        t.people_estimate += max(identifying, default=0)
        t.people_upper += sum(identifying)
    else:
        t.placeholders_only += 1
        t.special_care_pseudonymised += special
        t.sent_placeholders.update({k: n for k, n in found.items() if k in inputs.value_types})
        t.sent_values.update({k: n for k, n in found.items() if k not in inputs.value_types})


def _jst_date(ts: float) -> date:
    return datetime.fromtimestamp(ts, JST).date()


def deadlines(discovered_at: float) -> dict[str, Any]:
    """Deadlines from the discovery time, counted in calendar days (weekends and holidays included),
    the discovery day as day 1: the earlier, safe reading; a person confirms with the PPC guidelines."""
    day = _jst_date(discovered_at)
    low, high = PRELIMINARY_GUIDANCE_DAYS
    return {
        "discovered_at": datetime.fromtimestamp(discovered_at, JST).isoformat(timespec="minutes"),
        "preliminary": {
            "rule": "速やかに (promptly)",
            "guidance_from": (day + timedelta(days=low - 1)).isoformat(),
            "guidance_until": (day + timedelta(days=high - 1)).isoformat(),
        },
        "final": (day + timedelta(days=FINAL_DAYS - 1)).isoformat(),
        "final_if_unauthorised_purpose": (day + timedelta(days=FINAL_DAYS_UNAUTHORISED - 1)).isoformat(),
        "notify_individuals": "速やかに (promptly; 法第26条第2項)",
    }


def _trigger(key: str, ja: str, en: str, status: Status, basis: str) -> dict[str, str]:
    return {"key": key, "ja": ja, "en": en, "status": status, "basis": basis}


def triggers(t: _Tally, inputs: DraftInputs, events: dict[str, int]) -> list[dict[str, str]]:
    threshold = PUBLIC_BODY_THRESHOLD if inputs.public_body else PEOPLE_THRESHOLD
    special: Status = (
        "met" if t.special_care_values else "possible" if t.special_care_pseudonymised else "not_indicated"
    )
    financial_sent = sum(t.sent_values[k] for k in FINANCIAL_TYPES)
    people: Status = (
        "met" if t.people_estimate > threshold else "possible" if t.people_upper > threshold else "not_indicated"
    )
    bursts = events.get("authentication_failures", 0)
    return [
        _trigger(
            "special_care",
            "要配慮個人情報が含まれる",
            "Special-care personal information (施行規則 第7条第1号)",
            special,
            f"requests in class special_care or with special-care types: {t.special_care_values} sent with values, "
            f"{t.special_care_pseudonymised} sent pseudonymised",
        ),
        _trigger(
            "financial",
            "不正に利用されることにより財産的被害が生じるおそれ",
            "Risk of financial damage from misuse (第7条第2号)",
            "possible" if financial_sent else "not_indicated",
            f"card or bank-account numbers sent as values: {financial_sent}; "
            "a person judges whether misuse is possible",
        ),
        _trigger(
            "unauthorised_purpose",
            "不正の目的をもって行われたおそれ",
            "Possibly done for an unauthorised purpose (第7条第3号)",
            "person_judges",
            "the gateway cannot know intent (e.g. unauthorised access at the provider)"
            + (f"; security events show {bursts} authentication failures in the window" if bursts else ""),
        ),
        _trigger(
            "people",
            f"本人の数が{threshold:,}人を超える",
            f"More than {threshold:,} people ({'public body' if inputs.public_body else '第7条第4号'})",
            people,
            f"estimate {t.people_estimate:,}, upper bound {t.people_upper:,} (see item 3)",
        ),
    ]


def summarise_events(events: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Counts the draft uses from OCSF security events (optional input)."""
    counts: Counter[str] = Counter()
    for event in events:
        uid = event.get("class_uid")
        if uid == OCSF_AUTHENTICATION and event.get("status_id") == 2:  # status Failure
            counts["authentication_failures"] += 1
        elif uid == OCSF_DETECTION_FINDING:
            counts["detection_findings"] += 1
        counts["events"] += 1
    return dict(counts)


def _rows(counter: Counter[Any]) -> list[tuple[Any, int]]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def build_draft(
    records: Iterable[tuple[int, dict[str, Any]]],
    inputs: DraftInputs,
    chain: ChainEvidence,
    generated_at: float,
    events: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    t = _tally(records, inputs)
    event_counts = summarise_events(events)
    found = triggers(t, inputs, event_counts)
    worth = any(x["status"] in ("met", "possible") for x in found)
    backends = [
        {
            "backend": b[0],
            "jurisdiction": b[1],
            "storage_jurisdiction": b[2],
            "operator": b[3],
            "operator_jurisdiction": b[4],
            "requests": n,
        }
        for b, n in _rows(t.backends)
    ]
    window = {"since": iso(inputs.since), "until": iso(inputs.until)}
    gateway_knows = {
        "window": window,
        "tenant": inputs.tenant,
        "backends_named": sorted(inputs.backends),
        "requests_reaching_backends": t.requests,
        "first_request": iso(t.first_ts) if t.first_ts is not None else None,
        "last_request": iso(t.last_ts) if t.last_ts is not None else None,
        "record_seqs": _ranges(t.seqs),
        "backends": backends,
        "data_classes": dict(_rows(t.classes)),
    }
    items = _items(t, gateway_knows, chain, event_counts)
    return {
        "type": DRAFT_TYPE,
        "version": 1,
        "draft_notice": {
            "ja": "これは Onshore が監査ログから作成した下書きです。提出前に担当者が内容を確認し、"
            "「要記入」の項目を記入してください。Onshore は報告を提出しません。",
            "en": "This is a draft Onshore built from its audit log. A person checks it, fills in every item "
            "marked 'to be filled in by a person', and files it. Onshore files nothing.",
        },
        "generated_at": iso(generated_at),
        "public_body": inputs.public_body,
        "deadlines": deadlines(inputs.discovered_at),
        "report_worthiness": {
            "likely_reportable": worth,
            "triggers": found,
            "note": "a trigger that is met or possible makes the case reportable unless an exemption applies "
            "(e.g. 高度な暗号化等の秘匿化); a person decides",
        },
        "items": items,
        "chain": chain.document(),
        "kill_switch": t.admin,
        "policy_hashes": sorted(t.policy_hashes),
        "security_events": event_counts or None,
    }


def _ranges(seqs: list[int]) -> list[str]:
    """1,2,3,7 -> ["1-3", "7"]: which records an auditor should pull."""
    out: list[str] = []
    for seq in sorted(seqs):
        if out and "-" in out[-1] and int(out[-1].split("-")[1]) == seq - 1:
            out[-1] = f"{out[-1].split('-')[0]}-{seq}"
        elif out and "-" not in out[-1] and int(out[-1]) == seq - 1:
            out[-1] = f"{out[-1]}-{seq}"
        else:
            out.append(str(seq))
    return out


def _item(no: int, ja: str, en: str, filled_by: str, gateway: Any, person_ja: str, person_en: str) -> dict[str, Any]:
    return {
        "no": no,
        "ja": ja,
        "en": en,
        "filled_by": filled_by,  # "gateway", "person", or "gateway_and_person"
        "gateway": gateway,
        "person": {"ja": person_ja, "en": person_en} if person_ja else None,
    }


def _items(t: _Tally, knows: dict[str, Any], chain: ChainEvidence, events: dict[str, int]) -> list[dict[str, Any]]:
    both, person = "gateway_and_person", "person"
    return [
        _item(
            1,
            "概要",
            "Summary",
            both,
            knows,
            "発生・発覚の経緯、発覚日時、発生日時、事案の概要を記入してください。",
            "How and when it happened and was discovered, and what happened.",
        ),
        _item(
            2,
            "漏えい等が発生し、又は発生したおそれがある個人データの項目",
            "Items of personal data concerned",
            both,
            {
                "sent_as_values": dict(_rows(t.sent_values)),
                "sent_only_as_placeholders": dict(_rows(t.sent_placeholders)),
                "requests_with_values": t.with_values,
                "requests_pseudonymised": t.placeholders_only,
                "requests_declared_personal_without_findings": t.declared_without_findings,
            },
            "検出されなかった項目（ファイル名、文脈上の情報など）がないか確認し、追記してください。",
            "Check for items the detector cannot see (e.g. context, attachments) and add them.",
        ),
        _item(
            3,
            "漏えい等が発生し、又は発生したおそれがある個人データに係る本人の数",
            "Number of people concerned",
            both,
            {
                "estimate": t.people_estimate,
                "upper_bound": t.people_upper,
                "basis": "per request, the largest count of one identifying type (e.g. 2 phone numbers and "
                "1 name: 2 people), summed over the requests that sent values; the upper bound counts every "
                "identifying value. Values are never recorded, so the same person in two requests counts twice. "
                f"{t.declared_without_findings} request(s) declared personal without findings are not counted.",
            },
            "重複や検出漏れを考慮し、本人の数を確定してください。",
            "Settle the number, allowing for duplicates and what the detector missed.",
        ),
        _item(
            4,
            "原因",
            "Cause",
            person,
            {"kill_switch_actions": t.admin, "security_events": events or None},
            "原因（委託先での事故、不正アクセス、誤設定など）を記入してください。",
            "State the cause (an incident at the provider, unauthorised access, misconfiguration...).",
        ),
        _item(
            5,
            "二次被害又はそのおそれの有無及びその内容",
            "Secondary damage, or its risk",
            person,
            None,
            "二次被害の有無と内容を記入してください。",
            "Whether secondary damage occurred or may occur, and what.",
        ),
        _item(
            6,
            "本人への対応の実施状況",
            "What has been done for the people concerned",
            person,
            None,
            "本人への通知・問合せ窓口などの状況を記入してください。",
            "Notification of the people, contact point...",
        ),
        _item(
            7,
            "公表の実施状況",
            "Public announcement",
            person,
            None,
            "公表の有無・予定を記入してください。",
            "Whether and when it is announced.",
        ),
        _item(
            8,
            "再発防止のための措置",
            "Measures against recurrence",
            both,
            {
                "available": [
                    "onshore backends disable NAME --reason ... (kill switch, recorded in the audit log)",
                    "onshore backends drill NAME (which models and tenants lose every compliant route)",
                    "tighten tenants.*.classes.*.personal_data (pseudonymise or block for the backend's gaps)",
                ]
            },
            "実施済み・予定の措置を記入してください。",
            "State the measures taken and planned.",
        ),
        _item(
            9,
            "その他参考となる事項",
            "Other relevant matters",
            both,
            {"audit_chain": chain.document(), "security_events": events or None},
            "委託元・委託先の関係、他の報告先などを記入してください。",
            "Entrustment relations, other authorities informed, and the like.",
        ),
    ]
