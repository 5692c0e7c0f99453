"""The sovereignty report's pure parts: the tally, the refusal on a broken chain, the signature and
the HTML's escaping."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from onshore.prove.chain import GENESIS_HASH, ChainHead, Checkpoint, link, verify
from onshore.prove.report.evidence import ChainBroken, ChainEvidence, chain_evidence
from onshore.prove.report.html import embedded_envelope, render_html
from onshore.prove.report.signed import ReportSignatureError, sign_report, verify_report
from onshore.prove.report.sovereignty import Period, SovereigntyTally
from onshore.prove.signer import Signer

CHAIN = ChainEvidence(4, 4, "a" * 64, 1, 0, 0, 4, 50.0, ("kid",), 0)
JP = {
    "name": "jp",
    "jurisdiction": "JP",
    "storage_jurisdiction": "JP",
    "region": "tokyo",
    "operator": "L",
    "operator_jurisdiction": "JP",
}


def served(**kw: Any) -> dict[str, Any]:
    return {
        "ts": kw.pop("ts", 10.0),
        "kind": "request",
        "tenant": "acme",
        "model": "chat",
        "data_class": "public",
        "status": 200,
        "attempts": [{"backend": "jp", "outcome": "ok"}],
        "decision": {"rule": "r", "policy_hash": "p", "excluded": [], "chosen": JP},
        **kw,
    }


def tally(records: list[dict[str, Any]], tenant: str | None = "acme") -> dict[str, Any]:
    t = SovereigntyTally(tenant, Period(0, 100), frozenset({"phone"}))
    return t.add_all(enumerate(records, start=1)).document(CHAIN, 60.0)


def test_only_the_tenant_and_the_period_count_and_admin_actions_always_do() -> None:
    records = [
        served(),
        served(tenant="globex"),
        served(ts=100.0),  # until is exclusive
        {
            "ts": 20.0,
            "kind": "admin",
            "action": "disable",
            "backend": "jp",
            "actor": "a",
            "reason": "r",
            "outcome": "ok",
        },
    ]
    doc = tally(records)
    assert doc["requests"]["total"] == 1 and doc["scope"] == {"records": 2, "first_seq": 1, "last_seq": 4}
    assert [a["seq"] for a in doc["kill_switch"]["actions"]] == [4]
    assert tally(records, tenant=None)["requests"]["total"] == 2


def test_a_stream_counts_once_and_its_close_gives_outcome_and_tokens() -> None:
    records = [
        served(kind="stream_open"),
        {
            "ts": 11.0,
            "kind": "stream_close",
            "tenant": "acme",
            "outcome": "client_disconnected",
            "usage": {"prompt_tokens": 2, "completion_tokens": 5},
        },
    ]
    doc = tally(records)
    assert doc["requests"]["total"] == 1 and doc["requests"]["stream_outcomes"] == {"client_disconnected": 1}
    assert doc["requests"]["tokens"] == {"prompt_tokens": 2, "completion_tokens": 5}


def test_facts_are_the_recorded_ones_even_when_they_changed_mid_period() -> None:
    moved = {**JP, "storage_jurisdiction": "SG"}
    doc = tally([served(), served(decision={"rule": "r", "policy_hash": "q", "excluded": [], "chosen": moved})])
    assert {x["jurisdiction"]: x["requests"] for x in doc["storage_jurisdictions"]} == {"JP": 1, "SG": 1}
    assert len(doc["backends"]) == 2 and [p["policy_hash"] for p in doc["policy_versions"]] == ["p", "q"]


def test_a_broken_chain_refuses_and_names_the_record() -> None:
    rows, _ = link([{"id": f"r{i}", "ts": float(i)} for i in range(1, 4)], ChainHead(0, GENESIS_HASH))
    tampered = [rows[0], type(rows[1])(2, "r2", 2.0, rows[1].body.replace(b'"ts":2', b'"ts":9'), rows[1].hash), rows[2]]
    report = verify(tampered, [], lambda cp: True)
    with pytest.raises(ChainBroken, match=r"record seq 2 \(id r2\)"):
        chain_evidence(report, [], 0, None)
    good = verify(rows, [], lambda cp: True)
    cp = Checkpoint(3, rows[2].hash, 5.0, "k", "s")
    assert chain_evidence(good, [cp], 1, None).covered_seq == 3
    with pytest.raises(ChainBroken, match="older than two checkpoint intervals"):
        chain_evidence(good, [], 0, "records seq 1..3 are older than two checkpoint intervals")


def test_the_signature_fails_after_any_edit_and_under_another_key() -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    envelope = sign_report(tally([served()]), signer)
    keys = {signer.kid: signer.public_key}
    assert verify_report(envelope, keys)["requests"]["total"] == 1
    edited = copy.deepcopy(envelope)
    edited["report"]["requests"]["total"] = 2
    with pytest.raises(ReportSignatureError, match="edited after signing"):
        verify_report(edited, keys)
    other = Signer(Ed25519PrivateKey.generate())
    with pytest.raises(ReportSignatureError, match="unknown key id"):
        verify_report(envelope, {other.kid: other.public_key})
    forged = sign_report(edited["report"], other)
    forged["jws"] = forged["jws"].replace(forged["jws"].split(".")[0], envelope["jws"].split(".")[0])
    with pytest.raises(ReportSignatureError, match="does not verify"):
        verify_report(forged, keys)


def test_the_html_escapes_recorded_text_and_embeds_the_signed_json() -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    hostile = "</script><img src=x onerror=alert(1)>"
    admin = {
        "ts": 20.0,
        "kind": "admin",
        "action": "disable",
        "backend": "jp",
        "actor": "a",
        "reason": hostile,
        "outcome": "ok",
    }
    envelope = sign_report(tally([served(), admin]), signer)
    page = render_html(envelope)
    assert hostile not in page and "&lt;/script&gt;&lt;img" in page
    assert embedded_envelope(page) == envelope
    assert "<link" not in page and "src=" not in page.replace("src=x", "")  # self-contained
    assert "データ主権レポート" in page and "Sovereignty report" in page
