"""The standard response headers SDKs read: request ids, rate-limit standing and Retry-After, in both
dialects, through the real gateway with real limits (counted in a private Redis)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import httpx2 as httpx
import openai
import pytest

from tests.support.gateway import RunningGateway, add_key, backend, make_settings, rules
from tests.support.services import PrivateRedis
from tests.support.upstream import FakeUpstream

pytestmark = pytest.mark.redis

MESSAGES = [{"role": "user", "content": "Hello"}]
RPM = 3


class Served:
    def __init__(self, gateway: RunningGateway, limited: tuple[str, str], free: str) -> None:
        self.gateway, self.free = gateway, free
        self.limited, self.limited_too = limited  # two keys: each its own per-key window

    def post(self, path: str, key: str, body: dict[str, object], **headers: str) -> httpx.Response:
        return httpx.post(self.gateway.url + path, json=body, headers={"Authorization": f"Bearer {key}", **headers})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("headers")
    redis = PrivateRedis(base / "redis").start()
    upstream = FakeUpstream("headers").start()
    limits = {"per_key": {"requests_per_minute": RPM}, "per_tenant": {"tokens_per_minute": 100_000}}
    settings = make_settings(
        base,
        {"jp": backend(upstream.base_url)},
        {"chat": {"routes": [{"backend": "jp", "model": "qwen"}]}},
        {"limited": {**rules(["JP"]), "limits": limits}, "free": rules(["JP"])},
        gateway={"redis": {"url_env": "REDIS_URL"}},
        environ={"REDIS_URL": redis.url},
    )
    limited = add_key(settings, "limited"), add_key(settings, "limited")
    free = add_key(settings, "free")
    gateway = RunningGateway(settings).start()
    try:
        yield Served(gateway, limited, free)
    finally:
        gateway.stop()
        upstream.stop()
        redis.close()


def _fresh_window() -> None:
    """Start just after a minute boundary, so the fixed 60 s window cannot roll over mid-test."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


def test_the_sdk_reads_the_request_id_and_it_is_the_audit_id(served: Served) -> None:
    client = openai.OpenAI(base_url=served.gateway.url + "/v1", api_key=served.free, max_retries=0)
    with client:
        raw = client.chat.completions.with_raw_response.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
        completion = raw.parse()
    assert raw.headers["x-request-id"] == raw.headers["Onshore-Request-Id"]
    assert completion._request_id == raw.headers["Onshore-Request-Id"]
    assert not [h for h in raw.headers if h.startswith("x-ratelimit")]  # no limit applies to this tenant


def test_limits_show_in_openai_headers_and_a_429_says_when_to_retry(served: Served) -> None:
    _fresh_window()
    seen: list[int] = []
    for _ in range(RPM):
        answer = served.post("/v1/chat/completions", served.limited, {"model": "chat", "messages": MESSAGES})
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-ratelimit-limit-requests"] == str(RPM)
        assert answer.headers["x-ratelimit-limit-tokens"] == "100000"
        assert int(answer.headers["x-ratelimit-remaining-tokens"]) <= 100_000
        assert answer.headers["x-ratelimit-reset-requests"].endswith("s")
        seen.append(int(answer.headers["x-ratelimit-remaining-requests"]))
    assert seen == [RPM - 1 - i for i in range(RPM)]
    refused = served.post("/v1/chat/completions", served.limited, {"model": "chat", "messages": MESSAGES})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-request-id"] == refused.headers["Onshore-Request-Id"]


def test_the_anthropic_dialect_names_them_as_anthropic_does(served: Served) -> None:
    _fresh_window()
    body = {"model": "chat", "max_tokens": 50, "messages": MESSAGES}
    answer = served.post("/v1/messages", served.limited_too, body, **{"anthropic-version": "2023-06-01"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["request-id"] == answer.headers["Onshore-Request-Id"] == answer.headers["x-request-id"]
    assert answer.headers["anthropic-ratelimit-requests-limit"] == str(RPM)
    assert answer.headers["anthropic-ratelimit-requests-remaining"] == str(RPM - 1)
    assert answer.headers["anthropic-ratelimit-tokens-limit"] == "100000"
    reset = datetime.fromisoformat(answer.headers["anthropic-ratelimit-requests-reset"])
    assert 0 <= reset.timestamp() - time.time() <= 61


def test_a_stream_carries_the_headers_too(served: Served) -> None:
    body = {"model": "chat", "messages": MESSAGES, "stream": True}
    headers = {"Authorization": f"Bearer {served.free}"}
    with httpx.stream("POST", served.gateway.url + "/v1/chat/completions", json=body, headers=headers) as stream:
        assert stream.status_code == 200
        assert stream.headers["x-request-id"] == stream.headers["Onshore-Request-Id"]
        stream.read()


def test_every_other_response_has_a_request_id(served: Served) -> None:
    for response in (
        httpx.get(served.gateway.url + "/v1/models", headers={"Authorization": f"Bearer {served.free}"}),
        httpx.get(served.gateway.url + "/no/such/path"),
        httpx.get(served.gateway.url + "/healthz"),
        served.post("/v1/chat/completions", "sk-wrong", {"model": "chat", "messages": MESSAGES}),
    ):
        assert len(response.headers["x-request-id"]) == 36, response.url
