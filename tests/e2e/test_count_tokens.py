"""POST /v1/messages/count_tokens through the real gateway: the same identity, decision and protection
as /v1/messages; counted by an Anthropic backend's own endpoint where one is allowed, else by the
gateway's estimate (and the header says which); recorded without content."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest

from onshore.settings import Settings
from tests.support.gateway import RunningGateway, add_key, backend, make_settings, rules
from tests.support.upstream import FakeUpstream

HI = [{"role": "user", "content": "Hello there, how many tokens is this?"}]
EMAIL = "taro.yamada@example.co.jp"


class Served:
    def __init__(self, settings: Settings, gateway: RunningGateway, claude: FakeUpstream, keys: dict[str, str]) -> None:
        self.settings, self.gateway, self.claude, self.keys = settings, gateway, claude, keys

    def count(self, body: dict[str, Any], key: str | None = "acme") -> httpx.Response:
        headers = {"anthropic-version": "2023-06-01"}
        if key is not None:
            headers["x-api-key"] = self.keys[key]
        return httpx.post(self.gateway.url + "/v1/messages/count_tokens", json=body, headers=headers)

    def records(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.settings.data_dir / "onshore.db") as conn:
            return [json.loads(body) for (body,) in conn.execute("SELECT body FROM audit_records ORDER BY seq")]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    claude, local = FakeUpstream("claude").start(), FakeUpstream("local").start()
    claude_backend = {**backend(claude.base_url, "US", operator="Anthropic PBC"), "kind": "anthropic"}
    settings = make_settings(
        tmp_path_factory.mktemp("count"),
        {"claude": claude_backend, "local": backend(local.base_url)},
        {
            "claude": {"routes": [{"backend": "claude", "model": "claude-sonnet-4-5"}]},
            "local": {"routes": [{"backend": "local", "model": "qwen"}]},
        },
        {
            "acme": rules(["JP", "US"]),  # personal data may go to the US, pseudonymised (the default)
            "jp-only": rules(["JP"]),
        },
    )
    keys = {
        "acme": add_key(settings, "acme"),
        "jp-only": add_key(settings, "jp-only"),
        "local-only": add_key(settings, "acme", models=("local",)),
    }
    gateway = RunningGateway(settings).start()
    try:
        yield Served(settings, gateway, claude, keys)
    finally:
        gateway.stop()
        claude.stop()
        local.stop()


@pytest.fixture
def s(served: Served) -> Served:
    served.claude.received.clear()
    served.claude.received_paths.clear()
    return served


def test_an_anthropic_backend_counts_with_its_own_endpoint(s: Served) -> None:
    answer = s.count({"model": "claude", "system": "Be brief.", "messages": HI})
    assert answer.status_code == 200, answer.text
    assert answer.headers["Onshore-Token-Count"] == "upstream"
    assert s.claude.received_paths == ["/v1/messages/count_tokens"]
    sent = s.claude.received[0]
    assert sent["model"] == "claude-sonnet-4-5" and sent["system"] == "Be brief."
    assert "max_tokens" not in sent
    expected = len(json.dumps([sent["system"], sent["messages"]], ensure_ascii=False).split())
    assert answer.json() == {"input_tokens": expected}
    assert answer.headers["request-id"] == answer.headers["Onshore-Request-Id"]
    assert answer.headers["Onshore-Receipt"]


def test_without_a_counting_backend_the_gateway_estimates_and_says_so(s: Served) -> None:
    answer = s.count({"model": "local", "messages": HI})
    assert answer.status_code == 200, answer.text
    assert answer.headers["Onshore-Token-Count"] == "estimate"
    assert answer.json()["input_tokens"] > 0
    assert "Onshore-Receipt" not in answer.headers  # no backend saw the request


def test_only_models_the_key_may_use_can_be_counted(s: Served) -> None:
    answer = s.count({"model": "claude", "messages": HI}, key="local-only")
    assert answer.status_code == 404
    assert answer.json()["type"] == "error" and answer.json()["error"]["type"] == "not_found_error"
    assert s.claude.received == []


def test_the_residency_policy_applies_to_counting(s: Served) -> None:
    answer = s.count({"model": "claude", "messages": HI}, key="jp-only")
    assert answer.status_code == 403
    assert "tenants.jp-only" in answer.json()["error"]["message"]
    assert s.claude.received == []


def test_personal_data_is_protected_before_it_is_counted_abroad(s: Served) -> None:
    answer = s.count({"model": "claude", "messages": [{"role": "user", "content": f"Mail {EMAIL} today"}]})
    assert answer.status_code == 200, answer.text
    assert EMAIL not in json.dumps(s.claude.received[0])


def test_an_unauthenticated_count_is_refused(s: Served) -> None:
    assert s.count({"model": "claude", "messages": HI}, key=None).status_code == 401


def test_top_level_cache_control_is_accepted_and_a_refused_field_is_named(s: Served) -> None:
    cached = s.count({"model": "claude", "messages": HI, "cache_control": {"type": "ephemeral"}})
    assert cached.status_code == 200, cached.text
    refused = s.count({"model": "claude", "messages": HI, "mcp_servers": [{"type": "url", "url": "https://x"}]})
    assert refused.status_code == 400
    message = refused.json()["error"]["message"]
    assert "mcp_servers" in message and "unknown" not in message


def test_counting_is_recorded_without_content(s: Served) -> None:
    secret_words = "purple elephant marmalade"
    answer = s.count({"model": "claude", "messages": [{"role": "user", "content": secret_words}]})
    records = s.records()
    record = next(r for r in records if r["id"] == answer.headers["Onshore-Request-Id"])
    assert record["endpoint"] == "count_tokens" and record["outcome"] == "ok" and record["model"] == "claude"
    assert all(secret_words not in json.dumps(r) for r in records)
