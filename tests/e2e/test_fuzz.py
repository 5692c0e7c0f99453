"""Fuzz both chat endpoints over raw HTTP: never a 5xx, every answer in its API's shape, every answer
recorded once in an audit chain that verifies.

The real gateway, with personal-data protection on, in front of real loopback upstreams: a US cloud
that may see personal data only pseudonymised (it echoes the prompt, so restoration runs) and a
trusted Japanese backend. Deterministic (derandomize, no example database); ONSHORE_FUZZ_EXAMPLES
runs it longer (e.g. ONSHORE_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest tests/e2e/test_fuzz.py).
"""

from __future__ import annotations

import http.client
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.exceptions import InvalidSignature
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from onshore.app import SIGNING_KEY_FILE, open_store
from onshore.prove.chain import checkpoint_message, verify
from onshore.prove.signer import Signer, b64url_decode
from onshore.settings import Settings
from onshore.store.keyfile import load_signing_key
from tests.openapi import validate
from tests.support import fuzz
from tests.support.gateway import RunningGateway, add_key, backend, make_settings
from tests.support.upstream import Behaviour, FakeUpstream

EXAMPLES = int(os.environ.get("ONSHORE_FUZZ_EXAMPLES", "500"))
MODELS = ["chat", "chat-jp", "embed"]
MAX_BODY = 256 * 1024
# What a refusal may be: bad input, no or a bad key, policy, no such model, too large.
REFUSALS = {400, 401, 403, 404, 413}


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


@dataclass
class Rig:
    gateway: RunningGateway
    settings: Settings
    us: FakeUpstream
    jp: FakeUpstream
    keys: list[str]
    answered: list[tuple[str, bool]] = field(default_factory=list)  # (request id, streamed)

    def send(self, case: fuzz.HttpCase) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.gateway.port, timeout=20)
        try:
            conn.putrequest("POST", case.path, skip_accept_encoding=True)
            for name, value in case.headers:
                conn.putheader(name, value)
            if case.chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            else:
                conn.putheader("Content-Length", str(len(case.body)))
            conn.endheaders()
            conn.send(_chunked(case.body) if case.chunked else case.body)
            response = conn.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            conn.close()

    def healthy(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.gateway.port, timeout=5)
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            return response.status == 200 and json.loads(response.read()) == {"status": "ok"}
        finally:
            conn.close()


def _chunked(body: bytes) -> bytes:
    pieces = [body[i : i + 4096] for i in range(0, len(body), 4096)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def rig_settings(data_dir: Path, us: FakeUpstream, jp: FakeUpstream) -> Settings:
    backends = {
        "us-cloud": backend(us.base_url, "US", operator="Hyperscaler Inc", retention_days=30),
        "jp": backend(jp.base_url, "JP", region="tokyo-1"),
    }
    models = {
        "chat": {"routes": [{"backend": "us-cloud", "model": "gpt-x"}, {"backend": "jp", "model": "qwen"}]},
        "chat-jp": {"routes": [{"backend": "jp", "model": "qwen"}]},
        "embed": {"endpoint": "embeddings", "routes": [{"backend": "jp", "model": "e5"}]},
    }
    # Personal data may reach the US cloud, but only pseudonymised (the default actions for its gaps).
    abroad = {"jurisdictions": ["JP", "US"], "max_retention_days": 30, "audit_content": "digest"}
    classes = {c: abroad for c in ("public", "internal", "confidential", "personal")}
    classes["special_care"] = {"jurisdictions": ["JP"], "audit_content": "digest"}
    return make_settings(
        data_dir,
        backends,
        models,
        {"acme": {"classes": classes}},
        gateway={"max_body_bytes": MAX_BODY, "audit": {"checkpoint_interval_seconds": 1}},
    )


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """One gateway for the module: the regression cases below run first and are in the audit check too."""
    us, jp = FakeUpstream("us").start(), FakeUpstream("jp").start()
    settings = rig_settings(tmp_path_factory.mktemp("fuzz"), us, jp)
    keys = [
        add_key(settings, "acme"),
        add_key(settings, "acme", "personal"),
        add_key(settings, "acme", models=("chat-jp",)),
    ]
    gateway = RunningGateway(settings).start()
    try:
        yield Rig(gateway, settings, us, jp, keys)
    finally:
        gateway.stop()
        us.stop()
        jp.stop()


# --- what every answer must look like --------------------------------------------------------------
def _sse_events(body: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) per SSE event; comments (the receipt) dropped."""
    events = []
    for block in body.decode("utf-8").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        if data:
            events.append((name, "\n".join(data)))
    return events


def _check_openai(answer: Answer, streamed: bool) -> None:
    if answer.status != 200:
        validate(json.loads(answer.body), "ErrorResponse")
        return
    if not streamed:
        validate(json.loads(answer.body), "CreateChatCompletionResponse")
        return
    events = _sse_events(answer.body)
    assert events and events[-1][1] == "[DONE]", events[-3:]
    for _, data in events[:-1]:
        chunk = json.loads(data)
        assert "error" not in chunk, chunk  # a healthy upstream: no error event mid-stream
        validate(chunk, "CreateChatCompletionStreamResponse")


def _check_anthropic(answer: Answer, streamed: bool) -> None:
    if answer.status != 200:
        jsonschema.validate(json.loads(answer.body), fuzz.ANTHROPIC_ERROR)
        return
    if not streamed:
        jsonschema.validate(json.loads(answer.body), fuzz.ANTHROPIC_MESSAGE)
        return
    events = _sse_events(answer.body)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-1] == "message_stop", names
    for name, data in events:
        document = json.loads(data)
        assert name in fuzz.ANTHROPIC_EVENTS and document["type"] == name, (name, document)
        jsonschema.validate(document, {"type": "object", **fuzz.ANTHROPIC_EVENTS[name]})


def check(rig: Rig, case: fuzz.HttpCase, answer: Answer) -> None:
    assert answer.status < 500, (case.label, answer.status, answer.body[:500])
    assert answer.status == 200 or answer.status in REFUSALS, (case.label, answer.status, answer.body[:500])
    streamed = answer.headers.get("Content-Type", "").startswith("text/event-stream")
    if answer.status != 200 or not streamed:
        assert answer.headers.get("Content-Type", "").startswith("application/json"), (case.label, answer.headers)
    request_id = answer.headers.get("Onshore-Request-Id")
    assert request_id, (case.label, answer.status, answer.body[:300])  # every answer is a recorded one
    rig.answered.append((request_id, streamed))
    if case.path == fuzz.CHAT_PATH:
        _check_openai(answer, streamed)
    else:
        _check_anthropic(answer, streamed)


def check_audit(rig: Rig) -> None:
    """`onshore audit verify`'s checks, read through the store; one record per answer, streams in pairs."""
    store = open_store(rig.settings)
    try:
        rows = list(store.iter_records())
        checkpoints = store.checkpoints()
        public = Signer(load_signing_key(rig.settings.data_dir / SIGNING_KEY_FILE)).public_key

        def signature_ok(cp: Any) -> bool:
            try:
                public.verify(b64url_decode(cp.signature), checkpoint_message(cp.seq, cp.hash, cp.ts, cp.kid))
            except (InvalidSignature, ValueError):
                return False
            return True

        report = verify(rows, checkpoints, signature_ok)
    finally:
        store.close()
    assert report.ok, str(report.first_break)
    assert checkpoints and max(cp.seq for cp in checkpoints) == report.head.seq  # shutdown signs the head
    records = [json.loads(row.body) for row in rows]
    opened = Counter(r["id"] for r in records if r["kind"] in ("request", "stream_open"))
    assert sorted(opened) == sorted(request_id for request_id, _ in rig.answered)
    assert all(count == 1 for count in opened.values())
    streams = {r["id"] for r in records if r["kind"] == "stream_open"}
    assert streams == {request_id for request_id, streamed in rig.answered if streamed}
    closes = Counter(r["stream_of"] for r in records if r["kind"] == "stream_close")
    assert closes == Counter(streams)
    assert len(records) == len(rig.answered) + len(streams)


# --- what the fuzz found (fixed): each would have been a 500 or a mislabelled refusal -----------------
def _case(path: str, body: bytes, key: str) -> fuzz.HttpCase:
    headers = (("Authorization", b"Bearer " + key.encode()), ("Content-Type", b"application/json"))
    return fuzz.HttpCase("regression", path, headers, body)


@pytest.mark.parametrize("path", [fuzz.CHAT_PATH, fuzz.MESSAGES_PATH])
def test_a_body_that_is_not_utf8_is_refused_as_invalid_json(rig: Rig, path: str) -> None:
    # A lone surrogate written raw (not \u-escaped) is not UTF-8; the decoder raised UnicodeDecodeError.
    body = b'{"model": "chat", "max_tokens": 5, "messages": [{"role": "user", "content": "\xed\xa0\x80"}]}'
    answer = rig.send(_case(path, body, rig.keys[0]))
    check(rig, _case(path, body, rig.keys[0]), answer)
    assert answer.status == 400


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_json_nested_beyond_the_decoder_limit_is_refused(rig: Rig, depth: int) -> None:
    case = _case(fuzz.CHAT_PATH, b"[" * depth + b"]" * depth, rig.keys[0])
    answer = rig.send(case)
    check(rig, case, answer)
    assert answer.status == 400 and json.loads(answer.body)["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("depth", [100, 900, 990])
def test_deeply_nested_tool_schema_is_served_or_refused_never_a_500(rig: Rig, depth: int) -> None:
    schema = b'{"a":' * depth + b"{}" + b"}" * depth
    body = (
        b'{"model": "chat", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", '
        b'"function": {"name": "f", "parameters": ' + schema + b"}}]}"
    )
    case = _case(fuzz.CHAT_PATH, body, rig.keys[0])
    check(rig, case, rig.send(case))


@pytest.mark.parametrize("path", [fuzz.CHAT_PATH, fuzz.MESSAGES_PATH])
def test_a_data_class_header_that_is_not_utf8_is_refused(rig: Rig, path: str) -> None:
    # HTTP allows bytes 0x80-0xFF in a field value; quoting one back in the message made the error body
    # unencodable, and aiohttp answered a plain-text 500.
    body = b'{"model": "chat", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}'
    base = _case(path, body, rig.keys[0])
    case = fuzz.HttpCase("regression", path, (*base.headers, ("Onshore-Data-Class", b"\xe6\x9c\xba\xffpersonal")), body)
    answer = rig.send(case)
    check(rig, case, answer)
    assert answer.status == 400 and json.loads(answer.body)


@pytest.mark.parametrize("path", [fuzz.CHAT_PATH, fuzz.MESSAGES_PATH])
def test_refusals_are_labelled_json(rig: Rig, path: str) -> None:
    case = _case(
        path, b'{"model": "nope", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}', rig.keys[0]
    )
    answer = rig.send(case)
    check(rig, case, answer)  # checks Content-Type: application/json (it was application/octet-stream)
    assert answer.status == 404


@pytest.mark.parametrize("header", [b"personal\x00", b"\x08public", b"\x7fpublic"], ids=["nul", "control", "del"])
def test_a_request_that_is_not_valid_http_is_refused_by_the_server(rig: Rig, header: bytes) -> None:
    """Not an API request: aiohttp's parser answers 400 (plain text) and drops the connection before
    routing, so there is nothing to record. Never a 5xx, and the gateway keeps serving."""
    case = fuzz.HttpCase("protocol", fuzz.CHAT_PATH, (("Onshore-Data-Class", header),), b"{}")
    answer = rig.send(case)
    assert answer.status == 400 and answer.headers.get("Onshore-Request-Id") is None
    assert rig.healthy()


def _code(answer: Answer) -> str:
    """The error code (OpenAI) or type (Anthropic) of a refusal, for the run's summary."""
    if answer.status == 200:
        return ""
    try:
        error = json.loads(answer.body)["error"]
    except (ValueError, KeyError, TypeError):
        return "?"
    return str(error.get("code") or error.get("message", "")[:40])


# --- the fuzz --------------------------------------------------------------------------------------
def test_fuzz_chat_endpoints(rig: Rig) -> None:
    started = time.monotonic()
    labels: Counter[str] = Counter()
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=timedelta(seconds=10),
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=fuzz.http_cases(MODELS, rig.keys), tool_call=st.booleans(), chunk_chars=st.integers(1, 7))
    def run(case: fuzz.HttpCase, tool_call: bool, chunk_chars: int) -> None:
        rig.us.behaviour = Behaviour(echo=True, tool_call=tool_call, chunk_chars=chunk_chars)
        rig.jp.behaviour = Behaviour(tool_call=tool_call)
        answer = rig.send(case)
        event(f"{case.label} -> {answer.status}")
        streamed = answer.headers.get("Content-Type", "").startswith("text/event-stream")
        labels[f"{case.label} -> {answer.status} {'stream' if streamed else _code(answer)}"] += 1
        statuses[answer.status] += 1
        check(rig, case, answer)

    run()
    assert rig.healthy()
    served = statuses[200]
    print(f"\nfuzz: {sum(statuses.values())} requests in {time.monotonic() - started:.1f}s, statuses {dict(statuses)}")
    for label, count in sorted(labels.items()):
        print(f"  {count:5d}  {label}")
    assert served >= EXAMPLES // 10, statuses  # the generated requests reach the upstream, not only refusals
    assert rig.us.received and rig.jp.received
    # The US cloud saw personal data only as placeholders; the trusted backend got it as sent.
    seen_abroad = json.dumps(rig.us.received, ensure_ascii=False)
    assert "[[PHONE_" in seen_abroad and "[[MY_NUMBER_" in seen_abroad
    for value in fuzz.PERSONAL_VALUES:
        assert value not in seen_abroad, value
    rig.gateway.stop()
    check_audit(rig)
