"""Every documented top-level Anthropic request field is accepted or refused by a rule that names it;
only an undocumented one is "unknown". And the token-count request's translation."""

from __future__ import annotations

from typing import Any

import pytest

from onshore.translate.anthropic import InboundError, to_openai_count_request, to_openai_request
from onshore.translate.anthropic.tables import INBOUND_ACCEPTED_FIELDS, INBOUND_REFUSED_FIELDS
from onshore.translate.anthropic.wire import COUNT_FIELDS, REQUEST_FIELDS

# Anthropic's documented top-level body fields of POST /v1/messages and /v1/messages/count_tokens (the
# anthropic SDK 2.16's MessageCreateParams and MessageCountTokensParams, and their beta variants'
# context_management, mcp_servers and compaction; temperature, top_p and top_k from earlier versions).
DOCUMENTED_MESSAGES = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "cache_control",
        "compaction",
        "container",
        "context_management",
        "diagnostics",
        "inference_geo",
        "mcp_servers",
        "metadata",
        "output_config",
        "service_tier",
        "speed",
        "stop_sequences",
        "stream",
        "system",
        "temperature",
        "thinking",
        "tool_choice",
        "tools",
        "top_k",
        "top_p",
    }
)
DOCUMENTED_COUNT = frozenset(
    {
        "model",
        "messages",
        "cache_control",
        "compaction",
        "context_management",
        "mcp_servers",
        "output_config",
        "speed",
        "system",
        "thinking",
        "tool_choice",
        "tools",
    }
)
HI = [{"role": "user", "content": "Hi"}]


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": HI, **fields}


def test_every_documented_field_has_a_rule() -> None:
    for field in DOCUMENTED_MESSAGES:
        assert field in REQUEST_FIELDS or field in INBOUND_REFUSED_FIELDS, field
    for field in DOCUMENTED_COUNT:
        assert field in COUNT_FIELDS or field in INBOUND_REFUSED_FIELDS, field
    assert set(INBOUND_ACCEPTED_FIELDS) <= REQUEST_FIELDS & COUNT_FIELDS


@pytest.mark.parametrize("field", sorted(INBOUND_REFUSED_FIELDS))
def test_a_refused_documented_field_names_itself_and_its_rule(field: str) -> None:
    with pytest.raises(InboundError) as info:
        to_openai_request(body(**{field: {"type": "enabled", "x": 1}}))
    assert info.value.param == field
    assert "unknown" not in info.value.message
    assert INBOUND_REFUSED_FIELDS[field] in info.value.message


@pytest.mark.parametrize("ttl", [None, "5m", "1h"])
def test_top_level_cache_control_is_accepted_and_not_forwarded(ttl: str | None) -> None:
    control: dict[str, Any] = {"type": "ephemeral"} if ttl is None else {"type": "ephemeral", "ttl": ttl}
    translated = to_openai_request(body(cache_control=control))
    assert translated == {"model": "claude-sonnet-4-5", "messages": HI, "max_tokens": 64}


def test_a_malformed_cache_control_is_refused_at_its_field() -> None:
    with pytest.raises(InboundError) as info:
        to_openai_request(body(cache_control={"type": "persistent"}))
    assert info.value.param == "cache_control.type"


@pytest.mark.parametrize(
    ("field", "value"), [("thinking", {"type": "disabled"}), ("service_tier", "auto"), ("speed", "standard")]
)
def test_neutral_values_pass_and_are_left_out(field: str, value: Any) -> None:
    assert field not in to_openai_request(body(**{field: value}))


def test_an_undocumented_field_is_unknown() -> None:
    with pytest.raises(InboundError) as info:
        to_openai_request(body(frequency_penalty=1))
    assert "unknown field 'frequency_penalty'" in info.value.message


def test_the_count_request_translates_its_prompt_without_max_tokens() -> None:
    tools = [{"name": "weather", "input_schema": {"type": "object"}}]
    count = {"model": "claude-sonnet-4-5", "system": "Be brief.", "messages": HI, "tools": tools}
    assert to_openai_count_request(count) == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "system", "content": "Be brief."}, *HI],
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
    }


def test_the_count_request_refuses_what_only_creating_a_message_takes() -> None:
    with pytest.raises(InboundError) as info:
        to_openai_count_request({"model": "m", "messages": HI, "max_tokens": 5})
    assert info.value.param == "max_tokens"
