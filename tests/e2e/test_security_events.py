"""Security events from real requests through the real gateway, received by real receivers (rsyslog
over TLS, a Splunk HEC receiver, an NDJSON file); each is a valid OCSF event of its class and carries
no prompt text or personal value. A dead sink never delays or fails a request."""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import msgspec
import openai
import pytest
import yaml
from openai.types.chat import ChatCompletionMessageParam

from onshore.cli import main
from tests.support.gateway import RunningGateway, add_key, backend, make_settings, rules
from tests.support.siem import DeadSink, HecReceiver, Rsyslog
from tests.support.upstream import FakeUpstream
from tests.unit.events.ocsf_required import missing

PHONE = "090-1234-5678"
SECRET_WORDS = "the-quarterly-merger-plan"
PROMPT = f"{SECRET_WORDS}: 電話は{PHONE}です"
HEC_TOKEN = "hec-test-token"
ENVIRON = {"ADMIN": "admin-secret", "R": "redis://127.0.0.1:6379/0", "HEC": HEC_TOKEN}
personal = {"jurisdictions": ["JP", "US"], "audit_content": "none"}


def _settings(tmp: Path, sinks: dict[str, Any], jp: str, us: str, broken: str) -> Any:
    return make_settings(
        tmp,
        {
            "jp": backend(jp),
            "us": backend(us, "US", operator="US Inc"),
            "broken": backend(broken),
        },
        {
            "chat": {"routes": [{"backend": "us", "model": "m"}]},
            "home": {"routes": [{"backend": "jp", "model": "m"}]},
            "flaky": {"routes": [{"backend": "broken", "model": "m"}]},
        },
        {
            "acme": rules(["JP", "US"], special_care={"jurisdictions": []}, personal=personal),
            "strict": rules(["JP", "US"], personal={**personal, "personal_data": {"foreign_jurisdiction": "block"}}),
            "limited": {**rules(["JP"]), "limits": {"per_key": {"requests_per_minute": 1}}},
            "metered": {**rules(["JP"]), "limits": {"budget": {"tokens": 1, "period": "day"}}},
        },
        gateway={
            "admin_key_env": "ADMIN",
            "redis": {"url_env": "R", "prefix": f"onshore-events-{uuid.uuid4().hex[:8]}:"},
            "security_events": {"auth_burst": {"failures": 3, "window_seconds": 60}, **sinks},
        },
        environ=ENVIRON,
    )


class Rig:
    def __init__(self, tmp: Path) -> None:
        (tmp / "syslog-dir").mkdir()
        self.syslog = Rsyslog(tmp / "syslog-dir").start()
        self.hec = HecReceiver(HEC_TOKEN).start()
        self.jp, self.us, self.broken = (
            FakeUpstream("jp").start(),
            FakeUpstream("us").start(),
            FakeUpstream("x").start(),
        )
        self.broken.behaviour.status = 500
        self.ndjson = tmp / "events.ndjson"
        sinks = {
            "ndjson": {"path": str(self.ndjson)},
            "syslog": {"host": "127.0.0.1", "port": self.syslog.port, "ca_file": str(self.syslog.ca)},
            "splunk_hec": {"url": self.hec.url, "token_env": "HEC"},
        }
        self.settings = _settings(tmp / "data", sinks, self.jp.base_url, self.us.base_url, self.broken.base_url)
        self._clients: list[openai.OpenAI] = []
        self.keys = {t: add_key(self.settings, t) for t in ("acme", "strict", "limited", "metered")}
        self.gateway = RunningGateway(self.settings).start()
        self.config = tmp / "onshore.yaml"
        self.config.write_text(yaml.safe_dump(msgspec.to_builtins(self.settings.file)), encoding="utf-8")

    def cli(self, *args: str) -> int:
        return main([*args, "--config", str(self.config)])

    def client(self, tenant: str) -> openai.OpenAI:
        client = openai.OpenAI(base_url=self.gateway.url + "/v1", api_key=self.keys[tenant], max_retries=0)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self.gateway.stop()
        for part in (self.jp, self.us, self.broken):
            part.stop()
        self.hec.stop()
        self.syslog.stop()


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    for name, value in ENVIRON.items():  # the CLI reads its credentials from the environment
        monkeypatch.setenv(name, value)
    r = Rig(tmp_path)
    try:
        yield r
    finally:
        r.close()


def _wait(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)


def _codes(documents: list[dict[str, Any]]) -> set[str]:
    return {d["metadata"]["event_code"] for d in documents}


def test_every_event_type_reaches_every_sink_as_valid_ocsf(rig: Rig) -> None:
    say: list[ChatCompletionMessageParam] = [{"role": "user", "content": PROMPT}]
    hi: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
    acme = rig.client("acme")
    acme.chat.completions.create(model="chat", messages=say)  # pseudonymised for the US backend
    with pytest.raises(openai.PermissionDeniedError):  # residency: special_care may go nowhere
        acme.chat.completions.create(model="home", messages=say, extra_headers={"Onshore-Data-Class": "special_care"})
    with pytest.raises(openai.PermissionDeniedError):  # personal data blocked for a foreign backend
        rig.client("strict").chat.completions.create(model="chat", messages=say)
    limited = rig.client("limited")
    limited.chat.completions.create(model="home", messages=hi)
    with pytest.raises(openai.RateLimitError):
        limited.chat.completions.create(model="home", messages=hi)
    for _ in range(3):  # three bad keys from one source: three failures and a burst
        with (
            openai.OpenAI(base_url=rig.gateway.url + "/v1", api_key="onsk_0123456789ab_wrong", max_retries=0) as bad,
            pytest.raises(openai.AuthenticationError),
        ):
            bad.models.list()
    for _ in range(5):  # five upstream failures open the breaker
        with pytest.raises(openai.APIStatusError):
            acme.chat.completions.create(model="flaky", messages=hi)
    admin = {"Authorization": "Bearer admin-secret"}
    r = httpx.post(f"{rig.gateway.url}/admin/backends/jp/disable", json={"reason": "drill"}, headers=admin)
    assert r.status_code == 200
    # A refusal then names the rule that held (the operator's switch), never a vague "unavailable".
    said: list[str] = []

    def refused_by_the_switch() -> bool:
        try:
            acme.chat.completions.create(model="home", messages=hi)
        except openai.APIStatusError as exc:
            said.append(str(exc.message))
        return bool(said) and "'jp' is disabled by an operator" in said[-1]

    _wait(refused_by_the_switch)
    assert said and "No compliant backend for this model can be used now: 'jp' is disabled by an operator" in said[-1]
    assert rig.cli("keys", "create", "--tenant", "acme") == 0

    expected = {
        "circuit_breaker_opened",
        "personal_data_pseudonymised",
        "residency_denied",
        "personal_data_blocked",
        "rate_limited",
        "authentication_failed",
        "authentication_failure_burst",
        "backend_disabled",
    }
    _wait(lambda: expected <= _codes(rig.syslog.documents()) and expected <= _codes(rig.hec.documents()))
    for name, documents, raw in (
        ("syslog", rig.syslog.documents(), rig.syslog.raw()),
        ("hec", rig.hec.documents(), rig.hec.raw()),
        ("ndjson", [json.loads(x) for x in rig.ndjson.read_bytes().splitlines()], rig.ndjson.read_bytes()),
    ):
        assert expected <= _codes(documents), name
        for document in documents:
            assert missing(document) == [], (name, document)
        # The phone in any spelling (a bare "090" would also match random ids and timestamps).
        for value in (SECRET_WORDS, PHONE, "09012345678", "1234-5678", "wrong", "admin-secret", HEC_TOKEN, "drill"):
            assert value.encode() not in raw, (name, value)
    # The CLI sends its own event (the key created) straight to the sinks.
    assert "api_key_created" in _codes(rig.hec.documents())
    by_code = {d["metadata"]["event_code"]: d for d in rig.hec.documents()}
    assert by_code["personal_data_pseudonymised"]["unmapped"]["onshore"]["counts"]["phone"] == 1
    assert by_code["authentication_failure_burst"]["count"] == 3
    assert by_code["authentication_failed"]["user"]["uid"] == "0123456789ab"
    assert by_code["backend_disabled"]["actor"]["user"]["uid"] == "admin-api"
    assert by_code["residency_denied"]["class_uid"] == 6003 and by_code["residency_denied"]["action_id"] == 2
    syslog_line = next(x for x in rig.syslog.lines() if " residency_denied " in x)
    assert syslog_line.startswith("108 onshore residency_denied {")  # facility 13 (log audit), warning


def test_a_tampered_chain_is_reported_by_audit_verify(rig: Rig) -> None:
    rig.client("acme").chat.completions.create(model="home", messages=[{"role": "user", "content": "hi"}])
    rig.gateway.stop()
    with sqlite3.connect(rig.settings.data_dir / "onshore.db") as conn:
        (seq, body) = conn.execute("SELECT seq, body FROM audit_records ORDER BY seq LIMIT 1").fetchone()
        conn.execute(
            "UPDATE audit_records SET body = ? WHERE seq = ?",
            (body.replace(b"acme", b"acmx") if isinstance(body, bytes) else body.replace("acme", "acmx"), seq),
        )
    assert rig.cli("audit", "verify") == 1
    found = [d for d in rig.hec.documents() if d["metadata"]["event_code"] == "audit_verification_failed"]
    assert found and found[0]["severity_id"] == 5 and found[0]["unmapped"]["onshore"]["seq"] == seq
    assert missing(found[0]) == []


def test_budget_exhausted_and_audit_write_failure_reach_the_siem(rig: Rig) -> None:
    hi: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
    metered = rig.client("metered")
    metered.chat.completions.create(model="home", messages=hi)  # spends more than the 1-token budget
    _wait(lambda: "budget_exhausted" in _codes(rig.hec.documents()) or _refused(metered, hi) == "budget_exceeded")
    # The audit store fails (its table is gone): the request is refused and the SIEM is told.
    with sqlite3.connect(rig.settings.data_dir / "onshore.db") as conn:
        conn.execute("ALTER TABLE audit_records RENAME TO audit_records_hidden")
    with pytest.raises(openai.InternalServerError):
        rig.client("acme").chat.completions.create(model="home", messages=hi)
    _wait(lambda: {"budget_exhausted", "audit_write_failed"} <= _codes(rig.hec.documents()))
    found = {d["metadata"]["event_code"]: d for d in rig.hec.documents()}
    assert {"budget_exhausted", "audit_write_failed"} <= set(found), sorted(found)
    assert found["audit_write_failed"]["class_uid"] == 2004 and found["budget_exhausted"]["class_uid"] == 6003
    assert missing(found["audit_write_failed"]) == [] and missing(found["budget_exhausted"]) == []
    with sqlite3.connect(rig.settings.data_dir / "onshore.db") as conn:
        conn.execute("ALTER TABLE audit_records_hidden RENAME TO audit_records")


def _refused(client: openai.OpenAI, messages: list[ChatCompletionMessageParam]) -> str | None:
    try:
        client.chat.completions.create(model="home", messages=messages)
    except openai.RateLimitError as exc:
        return str(exc.body["code"]) if isinstance(exc.body, dict) else None
    return None


def _p50(url: str, key: str, n: int = 200) -> float:
    times = []
    body = {"model": "home", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
        for _ in range(n):
            started = time.perf_counter()
            bad = client.get("/v1/models", headers={"Authorization": "Bearer nope"})  # an auth-failure event
            assert bad.status_code == 401
            assert client.post("/v1/chat/completions", json=body).status_code == 200
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def test_a_dead_sink_never_delays_or_fails_a_request(tmp_path: Path) -> None:
    jp = FakeUpstream("jp").start()
    hec = HecReceiver(HEC_TOKEN).start()
    dead = DeadSink().start()
    try:
        runs = {}
        for name, sink in (
            ("live", {"splunk_hec": {"url": hec.url, "token_env": "HEC"}}),
            (
                "dead",
                {
                    "splunk_hec": {"url": f"http://127.0.0.1:{dead.port}/services/collector/event", "token_env": "HEC"},
                    "queue_size": 16,
                },
            ),
        ):
            settings = _settings(tmp_path / name, sink, jp.base_url, jp.base_url, jp.base_url)
            key = add_key(settings, "acme")
            gateway = RunningGateway(settings).start()
            try:
                runs[name] = _p50(gateway.url, key)
                metrics = httpx.get(gateway.url + "/metrics").text
            finally:
                gateway.stop()
            if name == "dead":
                dropped = [x for x in metrics.splitlines() if x.startswith("onshore_security_events_dropped_total")]
                assert dropped and float(dropped[0].split()[-1]) > 100  # 200 events, a queue of 16
        print(f"p50 live {runs['live'] * 1000:.2f} ms, dead {runs['dead'] * 1000:.2f} ms")
        assert runs["dead"] <= runs["live"] * 1.5 + 0.002, runs
    finally:
        dead.stop()
        hec.stop()
        jp.stop()


def test_syslog_can_carry_cef_lines_to_rsyslog(tmp_path: Path) -> None:
    # A SIEM that reads ArcSight CEF gets the same events, one CEF line per syslog message.
    (tmp_path / "syslog-dir").mkdir()
    syslog = Rsyslog(tmp_path / "syslog-dir").start()
    jp, us = FakeUpstream("jp").start(), FakeUpstream("us").start()
    sink = {"syslog": {"host": "127.0.0.1", "port": syslog.port, "ca_file": str(syslog.ca), "format": "cef"}}
    settings = _settings(tmp_path / "data", sink, jp.base_url, us.base_url, jp.base_url)
    key = add_key(settings, "acme")
    gateway = RunningGateway(settings).start()
    try:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
        with client, pytest.raises(openai.PermissionDeniedError):  # special_care may go nowhere
            client.chat.completions.create(
                model="home",
                messages=[{"role": "user", "content": PROMPT}],
                extra_headers={"Onshore-Data-Class": "special_care"},
            )
        _wait(lambda: any("|residency_denied|" in line for line in syslog.lines()))
    finally:
        gateway.stop()
        jp.stop()
        us.stop()
        syslog.stop()
    line = next(x for x in syslog.lines() if "|residency_denied|" in x)
    cef = line[line.index("CEF:0|") :]
    assert cef.startswith("CEF:0|Onshore|Onshore|")
    assert "|Residency policy denied a request|5|" in cef
    assert "cs1=acme cs1Label=tenant" in cef and "act=blocked" in cef
    assert SECRET_WORDS.encode() not in syslog.raw() and PHONE.encode() not in syslog.raw()
