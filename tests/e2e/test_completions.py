"""POST /v1/completions (legacy text completions) through the real gateway and the official openai SDK:
the same identity, decision, protection and proof as chat; forwarded to backends that have the
endpoint, refused with a clear 400 by those that do not; bodies checked against CreateCompletionRequest."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import openai
import pytest

from onshore.edge.wire import COMPLETION_FIELDS
from onshore.settings import Settings
from tests.openapi import schema_properties, validate
from tests.support.gateway import RunningGateway, add_key, backend, make_settings, rules
from tests.support.upstream import Behaviour, FakeUpstream

EMAIL = "hanako.suzuki@example.co.jp"


class Served:
    def __init__(self, settings: Settings, gateway: RunningGateway, jp: FakeUpstream, us: FakeUpstream, key: str):
        self.settings, self.gateway, self.jp, self.us, self.key = settings, gateway, jp, us, key
        self.client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)

    def post(self, body: dict[str, Any]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.post(self.gateway.url + "/v1/completions", json=body, headers=headers)

    def records(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.settings.data_dir / "onshore.db") as conn:
            return [json.loads(body) for (body,) in conn.execute("SELECT body FROM audit_records ORDER BY seq")]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    jp, us, claude = FakeUpstream("jp").start(), FakeUpstream("us").start(), FakeUpstream("claude").start()
    settings = make_settings(
        tmp_path_factory.mktemp("completions"),
        {
            "jp": backend(jp.base_url),
            "us": backend(us.base_url, "US", operator="Hyperscaler Inc"),
            "claude": {**backend(claude.base_url, "US", operator="Anthropic PBC"), "kind": "anthropic"},
        },
        {
            "text": {"routes": [{"backend": "jp", "model": "qwen-base"}]},
            "abroad": {"routes": [{"backend": "us", "model": "gpt-x"}]},
            "claude-only": {"routes": [{"backend": "claude", "model": "claude-sonnet-4-5"}]},
            "claude-first": {"routes": [{"backend": "claude", "model": "c"}, {"backend": "jp", "model": "qwen-base"}]},
            "embed": {"endpoint": "embeddings", "routes": [{"backend": "jp", "model": "e5"}]},
        },
        {"acme": rules(["JP", "US"])},  # personal data may go to the US, pseudonymised (the default)
    )
    key = add_key(settings, "acme")
    gateway = RunningGateway(settings).start()
    served = Served(settings, gateway, jp, us, key)
    try:
        yield served
    finally:
        served.client.close()
        gateway.stop()
        for upstream in (jp, us, claude):
            upstream.stop()


@pytest.fixture
def s(served: Served) -> Served:
    for upstream in (served.jp, served.us):
        upstream.behaviour = Behaviour()
        upstream.received.clear()
        upstream.received_paths.clear()
    return served


def test_the_documented_fields_are_openais() -> None:
    assert schema_properties("CreateCompletionRequest") == COMPLETION_FIELDS


def test_the_sdk_completes_text(s: Served) -> None:
    raw = s.client.completions.with_raw_response.create(model="text", prompt="Once upon a time", max_tokens=8)
    completion = raw.parse()
    assert completion.choices[0].text == "Hello from upstream"
    assert completion.model == "text"  # the public name, not the backend's
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert s.jp.received_paths == ["/v1/completions"]
    assert s.jp.received[0]["model"] == "qwen-base" and s.jp.received[0]["prompt"] == "Once upon a time"
    validate(json.loads(raw.content), "CreateCompletionResponse")
    assert raw.headers["x-request-id"] == raw.headers["Onshore-Request-Id"]
    assert raw.headers["Onshore-Receipt"]


def test_the_sdk_streams_text_with_usage(s: Served) -> None:
    stream = s.client.completions.create(model="text", prompt="Hi", stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == "Hello from upstream "
    assert all(c.object == "text_completion" and c.model == "text" for c in chunks)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    assert s.jp.received[0]["stream_options"] == {"include_usage": True}


def test_personal_data_is_pseudonymised_abroad_and_restored(s: Served) -> None:
    s.us.behaviour = Behaviour(echo=True)
    completion = s.client.completions.create(model="abroad", prompt=f"Write to {EMAIL} about")
    assert EMAIL not in json.dumps(s.us.received[0])
    assert EMAIL in completion.choices[0].text  # the placeholder the backend echoed is restored


def test_a_backend_without_completions_is_refused_clearly(s: Served) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        s.client.completions.create(model="claude-only", prompt="Hi")
    error = info.value.body
    assert isinstance(error, dict)
    assert error["code"] == "unsupported_by_backend"
    assert "claude" in error["message"] and "completions" in error["message"]


def test_a_backend_without_completions_is_skipped_for_one_that_has_them(s: Served) -> None:
    completion = s.client.completions.create(model="claude-first", prompt="Hi")
    assert completion.choices[0].text == "Hello from upstream"
    assert s.jp.received_paths == ["/v1/completions"]


def test_undocumented_fields_are_refused_not_forwarded(s: Served) -> None:
    answer = s.post({"model": "text", "prompt": "Hi", "top_k": 5})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "top_k"
    validate(answer.json(), "ErrorResponse")
    assert s.jp.received == []


@pytest.mark.parametrize(
    ("body", "param"),
    [({"model": "text"}, "prompt"), ({"model": "text", "prompt": "Hi", "logprobs": 9}, "logprobs")],
)
def test_the_body_is_checked_against_the_schema(s: Served, body: dict[str, Any], param: str) -> None:
    answer = s.post(body)
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == param
    assert s.jp.received == []


def test_an_embeddings_model_is_served_elsewhere(s: Served) -> None:
    answer = s.post({"model": "embed", "prompt": "Hi"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "wrong_endpoint"


def test_completions_are_recorded_without_content(s: Served) -> None:
    words = "tangerine lighthouse quartet"
    raw = s.client.completions.with_raw_response.create(model="text", prompt=words)
    records = s.records()
    record = next(r for r in records if r["id"] == raw.headers["Onshore-Request-Id"])
    assert record["endpoint"] == "completions" and record["outcome"] == "ok" and record["usage"]["total_tokens"] > 0
    assert all(words not in json.dumps(r) for r in records)
