"""Reports from a real gateway's audit chain: mixed traffic (allowed, denied, pseudonymised, blocked,
failed over, kill switch) through the real gateway; the sovereignty report's numbers equal the
chain's, it refuses a tampered chain naming the record, its PDF's text holds the Japanese and English,
and its signature fails after an edit. The breach draft is built from the same traffic."""

from __future__ import annotations

import io
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pypdf
import pytest

from onshore.cli import main
from tests.support.report_day import SINCE, UNTIL, ReportDay
from tests.support.services import ServiceUnavailable


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportDay]:
    try:
        scenario = ReportDay(tmp_path_factory.mktemp("reports"))
    except ServiceUnavailable as exc:
        pytest.skip(str(exc))
    try:
        scenario.run_day()
        scenario.gateway.stop()  # the day is over: nothing more is written
        yield scenario
    finally:
        scenario.close()


def _report(day: ReportDay, tmp: Path, form: str, *extra: str) -> Path:
    out = tmp / f"report.{form}"
    args = ("report", "sovereignty", "--since", SINCE, "--until", UNTIL, "--format", form, "-o", str(out), *extra)
    assert day.cli(*args, "--max-uncovered-age", "3600") == 0
    return out


def test_the_reports_numbers_are_the_chains(day: ReportDay, tmp_path: Path) -> None:
    signed = json.loads(_report(day, tmp_path, "json", "--tenant", "acme").read_text(encoding="utf-8"))
    report = signed["report"]
    records = [(seq, r) for seq, r in day.records() if r.get("tenant") == "acme" or r["kind"] == "admin"]
    requests = [r for _, r in records if r["kind"] in ("request", "stream_open")]
    served = [r for r in requests if r["status"] == 200]
    # Counted independently from the SQLite rows...
    assert report["requests"]["total"] == len(requests) == 9
    assert report["requests"]["served"] == len(served) == 6
    assert report["scope"] == {"records": len(records), "first_seq": records[0][0], "last_seq": records[-1][0]}
    processed = Counter(r["decision"]["chosen"]["jurisdiction"] for r in served)
    assert {x["jurisdiction"]: x["requests"] for x in report["processing_jurisdictions"]} == processed
    assert processed == {"JP": 5, "US": 1}
    operators = {(x["operator"], x["home_jurisdiction"]): x["requests"] for x in report["operators"]}
    assert operators == {("Local KK", "JP"): 5, ("Hyperscaler Inc", "US"): 1}
    # ...and as the scenario made them.
    denials = {x["rule"]: x["requests"] for x in report["denials_by_rule"]}
    assert denials == {
        "tenants.acme.classes.special_care": 1,
        "tenants.acme.classes.personal.personal_data": 1,
    }
    assert {x["code"]: x["requests"] for x in report["other_refusals"]} == {"backends_disabled": 1}
    phone = next(x for x in report["personal_data"]["by_type"] if x["type"] == "phone")
    assert phone == {"type": "phone", "found": 2, "pseudonymised": 1, "sent_as_is": 0, "blocked": 1}
    assert report["personal_data"]["requests_pseudonymised"] == 1
    failovers = {(x["from"], x["outcome"], x["to"]): x["requests"] for x in report["failovers"]}
    assert failovers == {("jp-dead", "connect_error", "jp"): 4, ("us", "disabled", "jp"): 1}
    actions = report["kill_switch"]["actions"]
    assert [(a["action"], a["backend"], a["reason"]) for a in actions] == [
        ("disable", "us", "provider changed its terms")
    ]
    assert report["kill_switch"]["skipped_disabled"] == [{"backend": "us", "requests": 2}]
    classes = {x["data_class"]: (x["served"], x["refused"]) for x in report["by_data_class"]}
    assert classes == {"public": (5, 1), "personal": (1, 1), "special_care": (0, 1)}
    assert report["requests"]["stream_outcomes"] == {"completed": 1}
    chain = report["chain"]
    assert chain["verified"] and chain["records"] == len(day.records()) and chain["signed_checkpoints"] > 0
    assert chain["covered_seq"] == len(day.records())
    everyone = json.loads(_report(day, tmp_path, "json").read_text(encoding="utf-8"))["report"]
    assert everyone["requests"]["total"] == 10 and everyone["tenant"] is None


def test_the_signature_verifies_and_fails_after_an_edit(
    day: ReportDay, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for form in ("json", "html"):
        path = _report(day, tmp_path, form, "--tenant", "acme")
        assert day.cli("report", "verify", str(path)) == 0, capsys.readouterr().err
        text = path.read_text(encoding="utf-8")
        edited = (
            text.replace('"total": 9', '"total": 8') if form == "json" else text.replace("<dd>9</dd>", "<dd>8</dd>")
        )
        assert edited != text
        path.write_text(edited, encoding="utf-8")
        capsys.readouterr()
        assert day.cli("report", "verify", str(path)) == 1
        err = capsys.readouterr().err
        assert "INVALID" in err and ("edited" in err), err
    signed = tmp_path / "signed.json"
    pdf = _report(day, tmp_path, "pdf", "--tenant", "acme", "--json", str(signed))
    assert day.cli("report", "verify", str(pdf), "--signed", str(signed)) == 0
    capsys.readouterr()
    assert day.cli("report", "verify", str(pdf)) == 1  # a PDF is checked against its signed JSON
    assert "--signed" in capsys.readouterr().err
    data = pdf.read_bytes()
    middle = len(data) // 2
    pdf.write_bytes(data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :])
    assert day.cli("report", "verify", str(pdf), "--signed", str(signed)) == 1
    assert "the PDF differs" in capsys.readouterr().err


def test_the_pdf_holds_japanese_and_english_text_and_the_numbers(day: ReportDay, tmp_path: Path) -> None:
    pdf = _report(day, tmp_path, "pdf", "--tenant", "acme")
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.read_bytes())).pages)
    flowing = text.replace("\n", " ")  # a long cell wraps onto lines of its own
    for heading in (
        "データ主権レポート",
        "Sovereignty report",
        "処理・保存した国・地域",
        "Where requests were processed and stored",
        "運営事業者と本拠国",
        "個人情報の検出と保護",
        "監査ログの検証結果",
        "Hyperscaler Inc",
        "tenants.acme.classes.special_care",
        "provider changed its terms",
    ):
        assert heading in flowing, heading
    assert "リクエスト総数\nRequests\n9" in text
    assert "JP\n5" in text and "US\n1" in text


def test_a_tampered_chain_refuses_the_report_and_names_the_record(
    day: ReportDay, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "data"
    copy.mkdir()
    for name in ("onshore.db", "signing-key.pem", "audit-witness.jsonl"):
        (copy / name).write_bytes((day.settings.data_dir / name).read_bytes())
    seq, record = next(
        (seq, r)
        for seq, r in day.records()
        if r.get("decision", {}).get("chosen", {}) and r["decision"]["chosen"]["jurisdiction"] == "US"
    )
    with sqlite3.connect(copy / "onshore.db") as conn:  # say the US request was processed in Japan
        conn.execute("UPDATE audit_records SET body = replace(body, '\"US\"', '\"JP\"') WHERE seq = ?", (seq,))
    capsys.readouterr()
    out = tmp_path / "refused.json"
    args = ["report", "sovereignty", "--since", SINCE, "--until", UNTIL, "-o", str(out), "--data-dir", str(copy)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "REFUSED" in err and f"record seq {seq} (id {record['id']})" in err and "altered" in err, err
    assert not out.exists()
    assert main(["incident", "draft", "--since", SINCE, "--until", UNTIL, "--data-dir", str(copy)]) == 1
    assert f"record seq {seq}" in capsys.readouterr().err


def test_the_breach_draft_counts_what_reached_the_backend_concerned(
    day: ReportDay, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "draft.json"
    args = ("incident", "draft", "--since", SINCE, "--until", UNTIL, "--tenant", "acme", "--backend", "us")
    assert day.cli(*args, "--discovered-at", "2026-04-01T10:00:00+09:00", "--format", "json", "-o", str(out)) == 0
    draft = json.loads(out.read_text(encoding="utf-8"))["report"]
    summary, items = draft["items"][0]["gateway"], draft["items"][1]["gateway"]
    # acme reached "us" once: the pseudonymised request (the denied one and the kill-switched ones never did).
    assert summary["requests_reaching_backends"] == 1
    assert summary["backends"] == [
        {
            "backend": "us",
            "jurisdiction": "US",
            "storage_jurisdiction": "US",
            "operator": "Hyperscaler Inc",
            "operator_jurisdiction": "US",
            "requests": 1,
        }
    ]
    assert items["sent_only_as_placeholders"] == {"phone": 1} and items["sent_as_values"] == {}
    assert draft["items"][2]["gateway"]["estimate"] == 0  # the backend saw a placeholder, not the number
    assert draft["deadlines"]["final"] == "2026-04-30"
    assert [a["backend"] for a in draft["kill_switch"]] == ["us"]
    assert day.cli(*args, "--format", "html", "-o", str(tmp_path / "draft.html")) == 0
    assert day.cli("report", "verify", str(tmp_path / "draft.html")) == 0
    capsys.readouterr()
    assert day.cli(*args) == 0
    markdown = capsys.readouterr().out
    assert (
        "下書き / DRAFT" in markdown and "要記入 / To fill in" in markdown and "### 9. その他参考となる事項" in markdown
    )
