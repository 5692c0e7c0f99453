"""The native Responses body made from the planned chat request, the answer presented as Onshore's,
the adapter that sends it, and the config field that opts a backend in."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshore.generation import build_adapters
from onshore.route.backends.openai_responses import NATIVE, ResponsesNativeAdapter
from onshore.settings import ConfigError, parse_settings
from onshore.translate.responses import history_of, to_chat_turn
from onshore.translate.responses.native import history_items, present, to_responses_request
from tests.support.gateway import backend, rules


def test_a_responses_request_round_trips_through_its_chat_translation() -> None:
    inbound = to_chat_turn(
        {
            "model": "m",
            "instructions": "Be brief.",
            "input": [
                {"role": "developer", "content": [{"type": "input_text", "text": "English."}]},
                {"role": "user", "content": [{"type": "input_image", "image_url": "https://x/a.png"}]},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi"}]},
                {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": '{"q":"x"}'},
                {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            ],
            "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
            "tool_choice": {"type": "function", "name": "lookup"},
            "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}}, "verbosity": "low"},
            "max_output_tokens": 9,
            "temperature": 0.5,
            "store": True,
            "metadata": {"k": "v"},
            "stream": True,
        }
    )
    body = to_responses_request(inbound.request, inbound.instructions)
    assert body == {
        "store": False,
        "instructions": "Be brief.",
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "English."}]},
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_image", "image_url": "https://x/a.png", "detail": "auto"}],
            },
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Hi", "annotations": []}],
            },
            {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": '{"q":"x"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        ],
        "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
        "tool_choice": {"type": "function", "name": "lookup"},
        "max_output_tokens": 9,
        "temperature": 0.5,
        "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}}, "verbosity": "low"},
        "stream": True,
    }  # no metadata (kept by Onshore), no stream_options, store forced false


def test_a_chat_key_without_a_native_counterpart_is_refused() -> None:
    with pytest.raises(ValueError, match="would not carry 'logit_bias'"):
        to_responses_request({"messages": [{"role": "user", "content": "x"}], "logit_bias": {"1": 2}}, 0)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


# The structural words the native body adds itself (item types, roles, detail defaults).
_OWN = {"message", "input_text", "output_text", "input_image", "function", "function_call", "auto"}
_OWN |= {"function_call_output", "refusal", "user", "assistant", "system", "developer"}

text = st.text(min_size=1, max_size=20)


@given(
    instructions=st.one_of(st.none(), text),
    turns=st.lists(
        st.one_of(
            st.builds(lambda t: {"role": "user", "content": t}, text),
            st.builds(lambda t: {"role": "user", "content": [{"type": "input_text", "text": t}]}, text),
            st.builds(lambda t: {"role": "assistant", "content": t}, text),
            st.builds(
                lambda c, n, a: {"type": "function_call", "call_id": c, "name": n, "arguments": a}, text, text, text
            ),
            st.builds(lambda c, o: {"type": "function_call_output", "call_id": c, "output": o}, text, text),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_every_string_the_native_body_forwards_is_one_of_the_scanned_chat_body(
    instructions: str | None, turns: list[dict[str, Any]]
) -> None:
    request: dict[str, Any] = {"model": "m", "input": turns}
    if instructions:
        request["instructions"] = instructions
    inbound = to_chat_turn(request)
    chat = inbound.request
    body = to_responses_request(chat, inbound.instructions)
    scanned = set(_strings(chat["messages"]))
    for value in _strings(body):
        # instructions are joined from the leading messages; everything else is a chat string as it was
        assert (
            value in scanned
            or value in _OWN
            or value == "\n\n".join(m["content"] for m in chat["messages"][: inbound.instructions])
        )


def test_the_answer_is_presented_with_onshores_id_echo_and_complete_usage() -> None:
    upstream = {
        "id": "resp_theirs",
        "object": "response",
        "status": "completed",
        "output": [],
        "instructions": "Call [[PHONE_1]]",
        "metadata": {"theirs": "x"},
        "usage": {
            "input_tokens": 3,
            "output_tokens": 2,
            "total_tokens": 5,
            "input_tokens_details": {"cached_tokens": 1},
        },
    }
    echo = {"instructions": "Call 090-1234-5678", "metadata": {}, "store": True}
    response = present(upstream, "public", echo, 100, "resp_ours")
    assert response["id"] == "resp_ours" and response["model"] == "public" and response["created_at"] == 100
    assert response["instructions"] == "Call 090-1234-5678" and response["metadata"] == {}
    assert response["usage"]["input_tokens_details"] == {"cached_tokens": 1, "cache_write_tokens": 0}
    assert response["usage"]["output_tokens_details"] == {"reasoning_tokens": 0}


def test_the_adapter_sends_a_marked_body_to_the_responses_path_and_anything_else_as_before() -> None:
    settings = parse_settings(
        {
            "backends": {
                "o": backend("http://127.0.0.1:1/v1", responses="native", api_key_env="K"),
                "a": {
                    **backend("https://r.openai.azure.com", responses="native", api_key_env="K"),
                    "kind": "azure_openai",
                },
                "plain": backend("http://127.0.0.1:2/v1"),
            },
            "models": {"chat": {"routes": [{"backend": "o", "model": "m"}]}},
            "tenants": {"acme": rules(["JP"])},
        },
        "test",
        {"K": "secret"},
    )
    adapters = build_adapters(settings)
    assert not isinstance(adapters["plain"], ResponsesNativeAdapter)
    chat = {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}], "store": False}
    native = adapters["o"].build("chat", {**chat, NATIVE: 1, "stream_options": {"include_usage": True}}, "gpt")
    assert native.url == "http://127.0.0.1:1/v1/responses"
    assert native.headers["Authorization"] == "Bearer secret"
    assert json.loads(native.body) == {
        "model": "gpt",
        "store": False,
        "instructions": "S",
        "input": [{"type": "message", "role": "user", "content": "U"}],
    }
    assert adapters["o"].build("chat", chat, "gpt").url == "http://127.0.0.1:1/v1/chat/completions"
    azure = adapters["a"].build("chat", {**chat, NATIVE: 0}, "deployment-1")
    assert azure.url == "https://r.openai.azure.com/openai/v1/responses" and azure.headers["api-key"] == "secret"
    assert json.loads(azure.body)["model"] == "deployment-1"
    assert adapters["a"].serves("responses") and not adapters["plain"].serves("responses")


def test_native_is_only_for_openai_and_azure_backends() -> None:
    raw = {
        "backends": {"c": {**backend("http://127.0.0.1:1"), "kind": "anthropic", "responses": "native"}},
        "models": {"chat": {"routes": [{"backend": "c", "model": "m"}]}},
        "tenants": {"acme": rules(["JP"])},
    }
    with pytest.raises(ConfigError) as info:
        parse_settings(raw, "test", {})
    assert info.value.path == "backends.c.responses" and "openai or azure_openai" in str(info.value)
    raw["backends"]["c"]["responses"] = "passthrough"
    with pytest.raises(ConfigError, match="native"):
        parse_settings(raw, "test", {})


def test_history_keeps_messages_and_calls_without_a_backends_extra_fields() -> None:
    output = [
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {
            "type": "message",
            "id": "m",
            "role": "assistant",
            "status": "completed",
            "extra": 1,
            "content": [{"type": "output_text", "text": "Hi", "annotations": [], "logprobs": [], "new_field": True}],
        },
        {"type": "function_call", "id": "f", "call_id": "c", "name": "n", "arguments": "{}", "namespace": "x"},
    ]
    assert history_items(output) == [
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi"}]},
        {"type": "function_call", "call_id": "c", "name": "n", "arguments": "{}"},
    ]
    assert history_of(history_items(output)) == [
        {
            "role": "assistant",
            "content": "Hi",
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "n", "arguments": "{}"}}],
        }
    ]
