"""One contract suite, run against every backend kind through the real gateway.

Each remote kind is served by a real HTTP server on loopback speaking that provider's wire format
(OpenAI, Azure OpenAI with api-key or Entra ID, Anthropic Messages); the embedded kind is the real
SmolLM2 model inside the gateway. The cases are the same; what differs is what each backend can be made
to say (a fake upstream answers as told, the model answers what it knows and fails only as a model can),
so the expected answers come from the rig. The embedded backend's own tests (first run, queue, closing
the model) stay in test_embedded.py.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.support.gateway import RunningGateway, add_key, backend, make_settings, rules
from tests.support.upstream import Behaviour, FakeUpstream

KINDS = ["openai", "azure_openai", "azure_entra", "anthropic", "embedded"]
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello there"}]
QUESTION: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What is the capital of Japan? Answer in one word."}
]
EMBEDDED = {"kind": "embedded", "embedded": {"embeddings": False}}


def backend_config(kind: str, upstream: FakeUpstream) -> tuple[dict[str, Any], dict[str, str]]:
    root = f"http://127.0.0.1:{upstream.port}"
    if kind == "openai":
        return backend(upstream.base_url, api_key_env="UP_KEY"), {"UP_KEY": "sk-openai"}
    if kind == "azure_openai":
        return backend(root, kind="azure_openai", api_key_env="UP_KEY", region="japaneast"), {"UP_KEY": "az-key"}
    if kind == "azure_entra":
        entra = {"tenant_id": "contoso", "client_id": "app-1", "client_secret_env": "ENTRA_SECRET", "authority": root}
        return backend(root, kind="azure_openai", entra=entra, region="japaneast"), {"ENTRA_SECRET": "entra-secret"}
    return backend(root, kind="anthropic", api_key_env="UP_KEY"), {"UP_KEY": "sk-ant"}


def check_wire(kind: str, upstream: FakeUpstream) -> None:
    """The request reached the provider in its own format, with its own credentials."""
    path, headers = upstream.received_paths[-1], upstream.received_headers[-1]
    if kind == "openai":
        assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer sk-openai"
    elif kind == "azure_openai":
        assert path == "/openai/deployments/dep-1/chat/completions?api-version=2024-10-21"
        assert headers["api-key"] == "az-key" and "Authorization" not in headers
    elif kind == "azure_entra":
        assert path.startswith("/openai/deployments/dep-1/chat/completions")
        assert headers["Authorization"].startswith("Bearer entra-token-") and "api-key" not in headers
        assert upstream.token_requests[0]["client_id"] == "app-1"
    else:
        assert path == "/v1/messages" and headers["x-api-key"] == "sk-ant"
        assert headers["anthropic-version"] == "2023-06-01"
        assert upstream.received[-1]["max_tokens"] > 0


@dataclass
class Rig:
    kind: str
    upstream: FakeUpstream | None  # None for the embedded model
    gateway: RunningGateway
    client: openai.OpenAI
    key: str
    db: Path

    @property
    def fake(self) -> FakeUpstream:
        assert self.upstream is not None, "a remote kind"
        return self.upstream

    def records(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.db) as conn:
            return [json.loads(b) for (b,) in conn.execute("SELECT body FROM audit_records ORDER BY seq")]


@pytest.fixture(scope="module", params=KINDS)
def rig(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    kind = str(request.param)
    upstream = None if kind == "embedded" else FakeUpstream(kind).start()
    config, environ = (EMBEDDED, {}) if upstream is None else backend_config(kind, upstream)
    settings = make_settings(
        tmp_path_factory.mktemp(kind),
        {"b": config},
        {"m": {"routes": [{"backend": "b", "model": "dep-1"}]}},
        {"t": rules(["JP"])},
        environ=environ,
    )
    key = add_key(settings, "t")
    gateway = RunningGateway(settings).start()
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    try:
        yield Rig(kind, upstream, gateway, client, key, settings.data_dir / "onshore.db")
    finally:
        client.close()
        gateway.stop()
        if upstream is not None:
            upstream.stop()


@pytest.fixture
def r(rig: Rig) -> Rig:
    if rig.upstream is not None:
        rig.upstream.behaviour = Behaviour()
    return rig


def test_non_streaming(r: Rig) -> None:
    if r.kind == "embedded":
        completion = r.client.chat.completions.create(model="m", messages=QUESTION, max_tokens=20, temperature=0)
        assert "Tokyo" in (completion.choices[0].message.content or "")
        assert completion.usage is not None and 0 < completion.usage.completion_tokens <= 20
    else:
        completion = r.client.chat.completions.create(model="m", messages=MESSAGES)
        assert completion.choices[0].message.content == "Hello from upstream"
        assert completion.usage is not None and completion.usage.completion_tokens == 3
        check_wire(r.kind, r.fake)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "m"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    record = r.records()[-1]
    assert record["decision"]["allowed"] == ["b"]
    assert record["usage"]["completion_tokens"] == completion.usage.completion_tokens


def test_streaming(r: Rig) -> None:
    if r.kind == "embedded":
        stream = r.client.chat.completions.create(
            model="m", messages=QUESTION, max_tokens=20, temperature=0, stream=True
        )
    else:
        r.fake.behaviour.reply = "one two three four"
        r.fake.behaviour.echo = False
        stream = r.client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    if r.kind == "embedded":
        assert "Tokyo" in text
        assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 2  # token by token
    elif r.kind == "anthropic":
        assert text == "one two three four"
    else:
        assert text == "w0 w1 w2 "  # the OpenAI-style fake streams numbered words
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
    close = r.records()[-1]
    assert close["kind"] == "stream_close" and close["outcome"] == "completed"
    assert close["usage"]["completion_tokens"] > 0


def test_upstream_errors_are_mapped(r: Rig) -> None:
    if r.kind == "embedded":
        # What the model can fail at: a prompt longer than its context (2048 tokens) is the client's error.
        long: list[ChatCompletionMessageParam] = [{"role": "user", "content": "alpha beta gamma delta " * 1500}]
        with pytest.raises(openai.BadRequestError) as refused:
            r.client.chat.completions.create(model="m", messages=long, max_tokens=5)
        assert "context" in refused.value.message
        return
    r.fake.behaviour.status = 503
    with pytest.raises(openai.APIStatusError) as info:
        r.client.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.status_code == 502
    assert info.value.body["code"] == "upstream_error"  # type: ignore[index]
    assert "upstream says 503" in info.value.message
    r.fake.behaviour.status = 400
    with pytest.raises(openai.BadRequestError):
        r.client.chat.completions.create(model="m", messages=MESSAGES)


def test_tool_calls(r: Rig) -> None:
    tools: Any = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    if r.kind == "embedded":
        # The small model has no tool-calling template: it refuses rather than ignore the tools.
        with pytest.raises(openai.BadRequestError) as refused:
            r.client.chat.completions.create(model="m", messages=MESSAGES, tools=tools)
        assert "'tools'" in refused.value.message
        return
    r.fake.behaviour.tool_call = True
    r.fake.behaviour.echo = True
    completion = r.client.chat.completions.create(model="m", messages=MESSAGES, tools=tools)
    calls = completion.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "lookup"  # type: ignore[union-attr]
    assert json.loads(calls[0].function.arguments) == {"q": "Hello there"}  # type: ignore[union-attr]
    assert completion.choices[0].finish_reason == "tool_calls"


def test_client_disconnect_mid_stream(r: Rig) -> None:
    if r.kind == "embedded":
        messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Count from 1 to 1000."}]
        body: dict[str, Any] = {"model": "m", "messages": messages, "max_tokens": 1900, "stream": True}
    else:
        r.fake.behaviour.chunks = 60
        r.fake.behaviour.chunk_delay = 0.05
        r.fake.behaviour.reply = " ".join(f"word{i}" for i in range(60))
        closed_before = r.fake.streams_closed_early
        body = {"model": "m", "messages": MESSAGES, "stream": True}
    with httpx.stream(
        "POST", r.gateway.url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {r.key}"}
    ) as response:
        assert next(response.iter_raw()).startswith(b"data: ")
    started = deadline = time.monotonic()
    deadline += 5
    if r.kind == "embedded":
        # The model is free again almost at once: generation stopped instead of running 1900 tokens
        # (~15 s at this machine's speed).
        r.client.chat.completions.create(model="m", messages=QUESTION, max_tokens=3)
        assert time.monotonic() - started < 8
        assert [x for x in r.records() if x["kind"] == "stream_close"][-1]["outcome"] == "client_disconnected"
        return
    while r.fake.streams_closed_early == closed_before or r.records()[-1]["kind"] != "stream_close":
        assert time.monotonic() < deadline, "the upstream stream was not closed"
        time.sleep(0.02)
    assert r.records()[-1]["outcome"] == "client_disconnected"
