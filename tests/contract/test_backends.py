"""One contract suite, run against every remote adapter through the real gateway.

Each backend kind is served by a real HTTP server on loopback speaking that provider's wire format
(OpenAI, Azure OpenAI with api-key or Entra ID, Anthropic Messages). The embedded backend runs the
same contract in test_embedded.py with a real model.
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

from tests.support.gateway import RunningGateway, add_key, backend, make_settings, rules
from tests.support.upstream import Behaviour, FakeUpstream

KINDS = ["openai", "azure_openai", "azure_entra", "anthropic"]
MESSAGES = [{"role": "user", "content": "Hello there"}]


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
    upstream: FakeUpstream
    gateway: RunningGateway
    client: openai.OpenAI
    key: str
    db: Path

    def records(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.db) as conn:
            return [json.loads(b) for (b,) in conn.execute("SELECT body FROM audit_records ORDER BY seq")]


@pytest.fixture(scope="module", params=KINDS)
def rig(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    kind = str(request.param)
    upstream = FakeUpstream(kind).start()
    config, environ = backend_config(kind, upstream)
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
        upstream.stop()


@pytest.fixture
def r(rig: Rig) -> Rig:
    rig.upstream.behaviour = Behaviour()
    return rig


def test_non_streaming(r: Rig) -> None:
    completion = r.client.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == "Hello from upstream"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "m"
    assert completion.usage is not None and completion.usage.completion_tokens == 3
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 3
    check_wire(r.kind, r.upstream)
    assert r.records()[-1]["usage"]["completion_tokens"] == 3


def test_streaming(r: Rig) -> None:
    r.upstream.behaviour.reply = "one two three four"
    r.upstream.behaviour.echo = False
    chunks = list(r.client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    if r.kind == "anthropic":
        assert text == "one two three four"
    else:
        assert text == "w0 w1 w2 "  # the OpenAI-style fake streams numbered words
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
    close = r.records()[-1]
    assert close["kind"] == "stream_close" and close["outcome"] == "completed"
    assert close["usage"]["completion_tokens"] > 0


def test_upstream_errors_are_mapped(r: Rig) -> None:
    r.upstream.behaviour.status = 503
    with pytest.raises(openai.APIStatusError) as info:
        r.client.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.status_code == 502
    assert info.value.body["code"] == "upstream_error"  # type: ignore[index]
    assert "upstream says 503" in info.value.message
    r.upstream.behaviour.status = 400
    with pytest.raises(openai.BadRequestError):
        r.client.chat.completions.create(model="m", messages=MESSAGES)


def test_tool_calls(r: Rig) -> None:
    r.upstream.behaviour.tool_call = True
    r.upstream.behaviour.echo = True
    completion = r.client.chat.completions.create(
        model="m",
        messages=MESSAGES,
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    )
    calls = completion.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "lookup"  # type: ignore[union-attr]
    assert json.loads(calls[0].function.arguments) == {"q": "Hello there"}  # type: ignore[union-attr]
    assert completion.choices[0].finish_reason == "tool_calls"


def test_client_disconnect_mid_stream(r: Rig) -> None:
    r.upstream.behaviour.chunks = 60
    r.upstream.behaviour.chunk_delay = 0.05
    r.upstream.behaviour.reply = " ".join(f"word{i}" for i in range(60))
    closed_before = r.upstream.streams_closed_early
    body = {"model": "m", "messages": MESSAGES, "stream": True}
    with httpx.stream(
        "POST", r.gateway.url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {r.key}"}
    ) as response:
        assert next(response.iter_raw()).startswith(b"data: ")
    deadline = time.monotonic() + 5
    while r.upstream.streams_closed_early == closed_before or r.records()[-1]["kind"] != "stream_close":
        assert time.monotonic() < deadline, "the upstream stream was not closed"
        time.sleep(0.02)
    assert r.records()[-1]["outcome"] == "client_disconnected"
