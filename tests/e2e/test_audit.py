"""Prove: every request leaves a record; the chain verifies; tampering is named; audit failure fails closed."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from onshore.cli import main
from tests.support.gateway import RunningGateway, add_key, backend, make_settings, rules
from tests.support.upstream import FakeUpstream

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello"}]


class Rig:
    def __init__(self, tmp: Path) -> None:
        self.upstream = FakeUpstream().start()
        self.settings = make_settings(
            tmp,
            {"jp": backend(self.upstream.base_url)},
            {"chat": {"routes": [{"backend": "jp", "model": "m"}]}},
            {
                "acme": rules(
                    ["JP"],
                    special_care={"jurisdictions": [], "audit_content": "none"},
                    personal={"jurisdictions": ["JP"], "audit_content": "none"},
                )
            },
            gateway={"audit": {"checkpoint_interval_seconds": 0.2}},
        )
        self.key = add_key(self.settings, "acme")
        self.gateway = RunningGateway(self.settings).start()
        self.client = openai.OpenAI(base_url=self.gateway.url + "/v1", api_key=self.key, max_retries=0)
        self.db = self.settings.data_dir / "onshore.db"

    def cli(self, *args: str) -> int:
        return main([*args, "--data-dir", str(self.settings.data_dir)])

    def records(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.db) as conn:
            return [json.loads(body) for (body,) in conn.execute("SELECT body FROM audit_records ORDER BY seq")]

    def close(self) -> None:
        self.client.close()
        self.gateway.stop()
        self.upstream.stop()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    try:
        yield r
    finally:
        r.close()


def test_every_request_is_recorded_and_verifies(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    rig.client.chat.completions.create(model="chat", messages=MESSAGES)
    list(rig.client.chat.completions.create(model="chat", messages=MESSAGES, stream=True))
    with pytest.raises(openai.PermissionDeniedError):
        rig.client.chat.completions.create(
            model="chat", messages=MESSAGES, extra_headers={"Onshore-Data-Class": "special_care"}
        )
    with pytest.raises(openai.NotFoundError):
        rig.client.chat.completions.create(model="nope", messages=MESSAGES)
    with (
        openai.OpenAI(base_url=rig.gateway.url + "/v1", api_key="bad", max_retries=0) as bad,
        pytest.raises(openai.AuthenticationError),
    ):
        bad.models.list()
    records = rig.records()
    kinds = [(r["kind"], r["status"], r["outcome"]) for r in records]
    assert kinds == [
        ("request", 200, "ok"),
        ("stream_open", 200, "streaming"),
        ("stream_close", 200, "completed"),
        ("request", 403, "refused"),
        ("request", 404, "refused"),
    ]
    ok = records[0]
    assert ok["tenant"] == "acme" and ok["key_id"] == rig.key.split("_")[1] and rig.key not in json.dumps(records)
    assert ok["decision"]["chosen"]["jurisdiction"] == "JP" and ok["decision"]["allowed"] == ["jp"]
    assert len(ok["decision"]["policy_hash"]) == 64
    assert ok["usage"] == {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}
    assert ok["content"]["kept"] == "digest" and len(ok["content"]["response_sha256"]) == 64
    assert ok["durations_ms"]["total"] >= ok["durations_ms"]["upstream"] > 0
    assert records[2]["stream_of"] == records[1]["id"] and records[2]["usage"]["completion_tokens"] == 3
    denied = records[3]
    assert denied["error_code"] == "residency_policy_denied"
    assert denied["decision"]["rule"] == "tenants.acme.classes.special_care"
    assert denied["content"] == {"kept": "none", "request_sha256": None, "response_sha256": None}
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert records[1]["prev_hash"] != records[0]["prev_hash"]
    time.sleep(0.5)  # a checkpoint interval
    capsys.readouterr()
    assert rig.cli("audit", "verify") == 0
    out = capsys.readouterr().out
    assert "OK: 5 records" in out and "signed checkpoints verified" in out and "0 signed" not in out


def test_unauthenticated_requests_are_recorded_too(rig: Rig) -> None:
    httpx.post(rig.gateway.url + "/v1/chat/completions", json={"model": "chat", "messages": MESSAGES})
    record = rig.records()[-1]
    assert record["status"] == 401 and record["tenant"] is None and record["error_code"] == "invalid_api_key"


def test_export_jsonl(rig: Rig, tmp_path: Path) -> None:
    for _ in range(3):
        rig.client.chat.completions.create(model="chat", messages=MESSAGES)
    out = tmp_path / "audit.jsonl"
    assert rig.cli("audit", "export", "--since", "2000-01-01T00:00:00Z", "--output", str(out)) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 3 and all(len(line["hash"]) == 64 for line in lines)
    assert rig.cli("audit", "export", "--until", "2000-01-01", "--output", str(out)) == 0
    assert out.read_text() == ""


@pytest.mark.parametrize("tamper", ["change", "delete", "insert", "reorder"])
def test_tampering_with_sqlite_is_named(rig: Rig, tamper: str, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(5):
        rig.client.chat.completions.create(model="chat", messages=MESSAGES)
    rig.gateway.stop()  # stop writing; the rig's close() tolerates the second stop
    with sqlite3.connect(rig.db) as conn:
        rows = conn.execute("SELECT seq, id, ts, body, hash FROM audit_records ORDER BY seq").fetchall()
        if tamper == "change":
            conn.execute(
                "UPDATE audit_records SET body = replace(body, '\"status\":200', '\"status\":201') WHERE seq = 3"
            )
            expected = "record seq 3"
        elif tamper == "delete":
            conn.execute("DELETE FROM audit_records WHERE seq = 3")
            expected = "record seq 3: missing"
        elif tamper == "insert":
            conn.execute("UPDATE audit_records SET seq = seq + 100 WHERE seq >= 3")
            conn.execute("UPDATE audit_records SET seq = seq - 99 WHERE seq >= 100")
            conn.execute("INSERT INTO audit_records VALUES (3, 'forged', ?, ?, ?)", rows[1][2:])
            expected = "record seq 3"
        else:
            conn.execute("UPDATE audit_records SET seq = -1 WHERE seq = 2")
            conn.execute("UPDATE audit_records SET seq = 2 WHERE seq = 4")
            conn.execute("UPDATE audit_records SET seq = 4 WHERE seq = -1")
            expected = "record seq 2"
    capsys.readouterr()
    assert rig.cli("audit", "verify") == 1
    err = capsys.readouterr().err
    assert "BROKEN" in err and expected in err, err


def test_audit_failure_fails_the_request_closed(rig: Rig) -> None:
    rig.client.chat.completions.create(model="chat", messages=MESSAGES)
    with sqlite3.connect(rig.db) as conn:
        conn.execute("ALTER TABLE audit_records RENAME TO audit_records_hidden")
    with pytest.raises(openai.InternalServerError) as info:
        rig.client.chat.completions.create(model="chat", messages=MESSAGES)
    assert info.value.status_code == 503 and info.value.body["code"] == "audit_unavailable"  # type: ignore[index]
    assert httpx.get(rig.gateway.url + "/readyz").status_code == 503
    # A stream is not started either.
    with pytest.raises(openai.InternalServerError):
        rig.client.chat.completions.create(model="chat", messages=MESSAGES, stream=True)
    with sqlite3.connect(rig.db) as conn:
        conn.execute("ALTER TABLE audit_records_hidden RENAME TO audit_records")
    rig.client.chat.completions.create(model="chat", messages=MESSAGES)
    # Ready again once the store works: at once for the writer; a checkpoint that fell in the broken
    # window shows in readiness until its retry, one checkpoint interval (0.2 s) later.
    deadline = time.monotonic() + 5
    while (ready := httpx.get(rig.gateway.url + "/readyz")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.status_code == 200, ready.text
    assert rig.cli("audit", "verify") == 0


def test_client_disconnect_mid_stream_closes_upstream(rig: Rig) -> None:
    rig.upstream.behaviour.chunks = 50
    rig.upstream.behaviour.chunk_delay = 0.05
    body = {"model": "chat", "messages": MESSAGES, "stream": True}
    with httpx.stream(
        "POST", rig.gateway.url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {rig.key}"}
    ) as response:
        stream = response.iter_raw()
        first = next(stream)
        assert first.startswith(b"data: ")
    deadline = time.monotonic() + 5
    while rig.upstream.streams_closed_early == 0:
        assert time.monotonic() < deadline, "the upstream request was not closed"
        time.sleep(0.02)
    while not rig.records() or rig.records()[-1]["kind"] != "stream_close":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    close = rig.records()[-1]
    assert close["outcome"] == "client_disconnected"
    assert rig.upstream.streams_finished == 0


def test_a_bug_on_the_request_path_refuses_and_is_recorded(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    from onshore.service import steps

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(steps, "plan", broken)  # the protect stage's planning, as the service calls it
    with pytest.raises(openai.InternalServerError) as info:
        rig.client.chat.completions.create(model="chat", messages=MESSAGES)
    assert info.value.status_code == 500
    assert info.value.body["code"] == "internal_error"  # type: ignore[index]
    assert "simulated bug" not in info.value.response.text  # nothing internal leaks
    assert not rig.upstream.received  # and nothing reached a backend
    record = rig.records()[-1]
    assert record["status"] == 500 and record["error_code"] == "internal_error"


def test_deleting_the_checkpoints_is_detected(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(3):
        rig.client.chat.completions.create(model="chat", messages=MESSAGES)
    rig.gateway.stop()
    time.sleep(1.1)
    assert rig.cli("audit", "verify", "--max-uncovered-age", "1") == 0
    with sqlite3.connect(rig.db) as conn:
        conn.execute("DELETE FROM audit_checkpoints")
    capsys.readouterr()
    # The witness outside the database still holds them: the deletion is named.
    assert rig.cli("audit", "verify", "--max-uncovered-age", "1") == 1
    assert "checkpoints were deleted" in capsys.readouterr().err
    # Without a witness, the records' age gives it away.
    (rig.settings.data_dir / "audit-witness.jsonl").unlink()
    assert rig.cli("audit", "verify", "--max-uncovered-age", "1") == 1
    assert "no signed checkpoint covers them" in capsys.readouterr().err


def test_a_bug_mid_stream_ends_it_with_an_error_recorded_once(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    from onshore.service import relay

    calls = 0
    original = relay.StreamRelay._relay_chunk

    def flaky(self: relay.StreamRelay, document: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("simulated bug")
        original(self, document)

    monkeypatch.setattr(relay.StreamRelay, "_relay_chunk", flaky)
    with pytest.raises(openai.APIError):
        list(rig.client.chat.completions.create(model="chat", messages=MESSAGES, stream=True))
    records = rig.records()
    assert [(r["kind"], r["outcome"]) for r in records] == [
        ("stream_open", "streaming"),
        ("stream_close", "gateway_error"),
    ]
    assert len({r["id"] for r in records}) == 2


def test_unreadable_key_store_fails_closed_after_the_staleness_limit(tmp_path: Path) -> None:
    upstream = FakeUpstream().start()
    settings = make_settings(
        tmp_path,
        {"jp": backend(upstream.base_url)},
        {"chat": {"routes": [{"backend": "jp", "model": "m"}]}},
        {"acme": rules(["JP"])},
        gateway={"key_max_staleness_seconds": 0.3, "metrics_token_env": "METRICS_TOKEN"},
        environ={"METRICS_TOKEN": "metrics-secret"},
    )
    key = add_key(settings, "acme")
    gateway = RunningGateway(settings).start()
    db = settings.data_dir / "onshore.db"
    try:
        with openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0) as client:
            client.chat.completions.create(model="chat", messages=MESSAGES)
            with sqlite3.connect(db) as conn:
                conn.execute("ALTER TABLE meta RENAME TO meta_hidden")
            time.sleep(0.8)
            with pytest.raises(openai.InternalServerError) as info:
                client.chat.completions.create(model="chat", messages=MESSAGES)
            assert info.value.status_code == 503 and info.value.body["code"] == "keys_unavailable"  # type: ignore[index]
            with sqlite3.connect(db) as conn:
                conn.execute("ALTER TABLE meta_hidden RENAME TO meta")
            time.sleep(0.3)
            client.chat.completions.create(model="chat", messages=MESSAGES)
        # /metrics needs its token when one is configured
        assert httpx.get(gateway.url + "/metrics").status_code == 401
        ok = httpx.get(gateway.url + "/metrics", headers={"Authorization": "Bearer metrics-secret"})
        assert ok.status_code == 200 and "onshore_requests_total" in ok.text
    finally:
        gateway.stop()
        upstream.stop()
