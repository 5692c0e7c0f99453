"""Logs and traces from real requests through the real gateway: the access log written to a file
(one parseable line per request, the fields an SRE needs) and OTLP spans received by a real
loopback receiver (one per stage, parented under the request). Neither holds a prompt, a personal
value or an API key secret: asserted on the bytes."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.support.gateway import RunningGateway, add_key, backend, make_settings, rules
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.upstream import FakeUpstream

PHONE = "090-1234-5678"
MY_NUMBER = "123456789018"  # valid check digit
NAME = "鈴木花子"
SECRET_WORDS = "the-quarterly-merger-plan"
PROMPT = f"{SECRET_WORDS}: {NAME}様の電話は{PHONE}、マイナンバーは{MY_NUMBER}です"
PERSONAL = (PHONE, MY_NUMBER, NAME, "1234-5678", "123456789018")
FIELDS = {
    "ts",
    "level",
    "request_id",
    "endpoint",
    "stream",
    "status",
    "outcome",
    "total_ms",
    "attempts",
    "failovers",
}


class Rig:
    def __init__(self, tmp: Path) -> None:
        self.jp, self.us, self.broken = (
            FakeUpstream("jp").start(),
            FakeUpstream("us").start(),
            FakeUpstream("x").start(),
        )
        self.broken.behaviour.status = 503
        self.otlp = OtlpReceiver().start()
        self.log_path = tmp / "access.log"
        self.settings = make_settings(
            tmp / "data",
            {
                "jp": backend(self.jp.base_url),
                "us": backend(self.us.base_url, "US", operator="US Inc"),
                "broken": backend(self.broken.base_url),
            },
            {
                "chat": {"routes": [{"backend": "us", "model": "m"}]},
                "home": {"routes": [{"backend": "broken", "model": "m"}, {"backend": "jp", "model": "m"}]},
                "embed": {"endpoint": "embeddings", "routes": [{"backend": "jp", "model": "e"}]},
            },
            {"acme": rules(["JP", "US"], special_care={"jurisdictions": []})},
            gateway={
                "access_log": {"format": "json", "path": str(self.log_path)},
                "telemetry": {"otlp": {"endpoint": self.otlp.url, "export_interval_seconds": 0.05}},
            },
        )
        self.key = add_key(self.settings, "acme")
        self.gateway = RunningGateway(self.settings).start()
        self.client = openai.OpenAI(base_url=self.gateway.url + "/v1", api_key=self.key, max_retries=0)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_path.read_bytes().splitlines()]

    def close(self) -> None:
        self.client.close()
        self.gateway.stop()
        for part in (self.jp, self.us, self.broken, self.otlp):
            part.stop()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    try:
        yield r
    finally:
        r.close()


def _wait(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)


def _drive(rig: Rig) -> None:
    say: list[ChatCompletionMessageParam] = [{"role": "user", "content": PROMPT}]
    rig.client.chat.completions.create(model="chat", messages=say)  # pseudonymised for the US backend
    stream = rig.client.chat.completions.create(model="chat", messages=say, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    rig.client.chat.completions.create(model="home", messages=say)  # broken (503), then jp
    with pytest.raises(openai.PermissionDeniedError):  # residency: special_care may go nowhere
        rig.client.chat.completions.create(
            model="chat", messages=say, extra_headers={"Onshore-Data-Class": "special_care"}
        )
    with (
        openai.OpenAI(base_url=rig.gateway.url + "/v1", api_key="onsk_0123456789ab_wrongsecret", max_retries=0) as bad,
        pytest.raises(openai.AuthenticationError),
    ):
        bad.chat.completions.create(model="chat", messages=say)
    rig.client.embeddings.create(model="embed", input=[PROMPT])


def test_one_access_log_line_per_request_with_no_content_keys_or_personal_values(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="onshore.pipeline"):
        _drive(rig)
    _wait(lambda: len(rig.lines()) >= 6)
    lines = rig.lines()
    assert len(lines) == 6  # a stream is one line, at its close
    for line in lines:
        assert set(line) >= FIELDS, line
        assert line["event"] == "access" and line["request_id"]
    answer, streamed, failed_over, denied, unauthorised, embedded = lines
    assert answer["endpoint"] == "chat" and answer["status"] == 200 and answer["outcome"] == "ok"
    assert answer["tenant"] == "acme" and answer["model"] == "chat" and answer["data_class"] == "personal"
    assert answer["backend"] == "us" and answer["jurisdiction"] == "US" and answer["rule"]
    assert answer["principal"] == rig.key.split("_")[1]  # the key id, public in every key
    assert answer["tokens_in"] and answer["tokens_out"] and answer["upstream_ms"] > 0
    assert {"phone:1", "my_number:1"} <= set(answer["pii_found"].split(",")) and answer["pii_count"] >= 3
    assert answer["pii_pseudonymised_for"] == "us" and answer["stream"] is False
    assert streamed["stream"] is True and streamed["outcome"] == "completed" and streamed["status"] == 200
    assert 0 < streamed["ttfb_ms"] <= streamed["total_ms"] and streamed["tokens_out"]
    assert streamed["backend"] == "us" and streamed["pii_found"] == answer["pii_found"]
    assert failed_over["backend"] == "jp" and failed_over["attempts"] == 2 and failed_over["failovers"] == 1
    assert denied["status"] == 403 and denied["outcome"] == "refused" and denied["data_class"] == "special_care"
    assert denied["error"] == "residency_policy_denied" and denied["rule"] and denied["level"] == "info"
    assert unauthorised["status"] == 401 and unauthorised["principal"] is None and unauthorised["tenant"] is None
    assert embedded["endpoint"] == "embeddings" and embedded["status"] == 200 and embedded["backend"] == "jp"
    # The response header and the line name the same request.
    raw = rig.log_path.read_bytes()
    secret = rig.key.split("_", 2)[2]
    for value in (*PERSONAL, SECRET_WORDS, "merger", rig.key, secret, "wrongsecret", "Hello from upstream"):
        assert value.encode() not in raw, value
    # /metrics: the model label, time to first token and tokens per second of the stream.
    metrics = httpx.get(f"{rig.gateway.url}/metrics").text
    assert 'onshore_requests_total{endpoint="chat",model="chat",status="200"} 2.0' in metrics
    assert 'onshore_time_to_first_token_seconds_count{model="chat"} 1.0' in metrics
    assert 'onshore_stream_tokens_per_second_count{model="chat"} 1.0' in metrics
    assert 'onshore_tokens_total{kind="completion",model="embed"}' in metrics
    # The failover is said at warning: which backend, why, which request.
    failover = [r.getMessage() for r in caplog.records if "failover" in r.getMessage()]
    assert failover and "broken" in failover[0] and "status_503" in failover[0]
    assert failed_over["request_id"] in failover[0]


def test_the_request_id_in_the_log_is_the_one_the_client_got(rig: Rig) -> None:
    answer = httpx.post(
        f"{rig.gateway.url}/v1/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {rig.key}"},
    )
    _wait(lambda: len(rig.lines()) >= 1)
    assert rig.lines()[0]["request_id"] == answer.headers["x-request-id"]


def _by_trace(spans: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    traces: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        traces.setdefault(span["traceId"], []).append(span)
    return traces


def _attrs(span: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}


def test_spans_per_stage_reach_a_real_otlp_receiver_without_content(rig: Rig) -> None:
    _drive(rig)
    _wait(lambda: len(_by_trace(rig.otlp.spans())) >= 6)
    assert set(rig.otlp.content_types) == {"application/json"}
    traces = list(_by_trace(rig.otlp.spans()).values())
    assert len(traces) == 6
    roots = {}
    for spans in traces:
        (root,) = [s for s in spans if "parentSpanId" not in s]
        assert root["name"] == "request" and root["kind"] == 2
        roots[_attrs(root)["onshore.request_id"]] = (root, spans)
    answer = next((root, spans) for root, spans in roots.values() if _attrs(root).get("onshore.backend") == "us")
    root, spans = answer
    by_name = {s["name"]: s for s in spans}
    stages = ["identify", "admit", "protect.scan", "decide", "protect.plan", "route", "prove"]
    assert set(stages) <= set(by_name)
    for stage in stages:
        assert by_name[stage]["parentSpanId"] == root["spanId"], stage
        assert int(root["startTimeUnixNano"]) <= int(by_name[stage]["startTimeUnixNano"])
        assert int(by_name[stage]["endTimeUnixNano"]) <= int(root["endTimeUnixNano"])
    assert by_name["upstream"]["parentSpanId"] == by_name["route"]["spanId"] and by_name["upstream"]["kind"] == 3
    assert _attrs(by_name["upstream"]) == {
        "onshore.backend": "us",
        "onshore.attempt.outcome": "ok",
        "onshore.jurisdiction": "US",
    }
    attrs = _attrs(root)
    assert attrs["onshore.tenant"] == "acme" and attrs["gen_ai.request.model"] == "chat"
    assert attrs["onshore.data_class"] == "personal" and attrs["onshore.jurisdiction"] == "US"
    assert attrs["onshore.rule"] and attrs["http.response.status_code"] == "200"
    assert {s["resource"]["attributes"][0]["value"]["stringValue"] for s in rig.otlp.spans()} == {"onshore"}
    # The stream: a relay span between its two records; the failover: two upstream children.
    streamed = next(spans for _, spans in roots.values() if any(s["name"] == "relay" for s in spans))
    assert [s["name"] for s in streamed].count("prove") == 2
    failed_over = next(spans for _, spans in roots.values() if [s["name"] for s in spans].count("upstream") == 2)
    first, second = (s for s in failed_over if s["name"] == "upstream")
    assert _attrs(first)["onshore.attempt.outcome"] == "status_503" and first["status"] == {"code": 2}
    assert int(first["endTimeUnixNano"]) <= int(second["startTimeUnixNano"])
    denied = next(root for root, _ in roots.values() if _attrs(root)["http.response.status_code"] == "403")
    assert _attrs(denied)["onshore.error"] == "residency_policy_denied"
    raw = b"".join(rig.otlp.bodies)
    for value in (*PERSONAL, SECRET_WORDS, "merger", rig.key, rig.key.split("_", 2)[2], "wrongsecret"):
        assert value.encode() not in raw, value


def test_requests_without_an_audit_record_of_their_own_are_logged_too(rig: Rig) -> None:
    listed = httpx.get(f"{rig.gateway.url}/v1/models", headers={"Authorization": f"Bearer {rig.key}"})
    assert listed.status_code == 200
    refused = httpx.get(f"{rig.gateway.url}/v1/models", headers={"Authorization": "Bearer onsk_0123456789ab_nope"})
    assert refused.status_code == 401
    missing = httpx.get(f"{rig.gateway.url}/v1/responses/resp_nothing", headers={"Authorization": f"Bearer {rig.key}"})
    assert missing.status_code == 404
    _wait(lambda: len(rig.lines()) >= 3)
    lines = rig.lines()
    assert [(x["endpoint"], x["status"], x["outcome"]) for x in lines] == [
        ("models", 200, "ok"),
        ("models", 401, "refused"),
        ("responses_stored", 404, "refused"),
    ]
    assert lines[0]["request_id"] == listed.headers["x-request-id"] and lines[0]["tenant"] == "acme"
    assert lines[0]["principal"] == rig.key.split("_")[1] and lines[1]["principal"] is None
    assert lines[2]["request_id"] == missing.headers["x-request-id"]
    assert rig.key.encode() not in rig.log_path.read_bytes()
