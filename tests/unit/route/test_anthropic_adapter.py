"""The Anthropic adapter: OpenAI chat requests out, Anthropic messages and SSE streams back as OpenAI shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from onshore.refusal import Kind, Refusal
from onshore.route.backends.anthropic import AnthropicAdapter
from onshore.route.backends.base import Adapter, StreamDecoder
from onshore.translate.anthropic import AnthropicStreamDecoder

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "anthropic"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sse_events(raw: bytes) -> list[tuple[str | None, bytes]]:
    """Tiny SSE splitter for the fixtures: (event name, data payload) per event."""
    events: list[tuple[str | None, bytes]] = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        name: str | None = None
        data: list[bytes] = []
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data.append(line[5:].lstrip(b" "))
        if data:
            events.append((name, b"\n".join(data)))
    return events


def adapter() -> AnthropicAdapter:
    return AnthropicAdapter("https://api.anthropic.com", "sk-ant-test")


def build(body: dict[str, Any], model: str = "claude-sonnet-4-5") -> dict[str, Any]:
    request = adapter().build("chat", body, model)
    document = json.loads(request.body)
    assert isinstance(document, dict)
    return document


def decode_stream(raw: bytes) -> tuple[list[dict[str, Any]], bool]:
    decoder = adapter().stream_decoder()
    chunks: list[dict[str, Any]] = []
    for _, payload in sse_events(raw):
        out = decoder.decode(payload)
        if out is None:
            return chunks, True
        chunks.extend(out)
    return chunks, False


# --- protocol and request envelope -----------------------------------------------------------------


def test_implements_adapter_protocols() -> None:
    a: Adapter = adapter()
    d: StreamDecoder = a.stream_decoder()
    assert isinstance(d, AnthropicStreamDecoder)
    assert a.stream_decoder() is not d  # per-stream state


def test_url_and_headers() -> None:
    request = adapter().build("chat", {"messages": [{"role": "user", "content": "hi"}]}, "claude-x")
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers == {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "x-api-key": "sk-ant-test",
    }


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("https://api.anthropic.com/", "https://api.anthropic.com/v1/messages"),
        ("https://proxy.example/v1", "https://proxy.example/v1/messages"),
        ("https://proxy.example/v1/", "https://proxy.example/v1/messages"),
        ("http://localhost:8080/anthropic", "http://localhost:8080/anthropic/v1/messages"),
    ],
)
def test_url_does_not_double_v1(base: str, url: str) -> None:
    assert AnthropicAdapter(base, None).build("chat", {"messages": []}, "m").url == url


def test_no_api_key_no_header_and_custom_version() -> None:
    request = AnthropicAdapter("https://x", None, anthropic_version="2024-01-01").build("chat", {"messages": []}, "m")
    assert "x-api-key" not in request.headers
    assert request.headers["anthropic-version"] == "2024-01-01"


def test_embeddings_are_refused() -> None:
    with pytest.raises(ValueError, match="embeddings"):
        adapter().build("embeddings", {"input": "x"}, "m")
    with pytest.raises(ValueError, match="embeddings"):
        adapter().parse_response("embeddings", b"{}")


# --- request translation ---------------------------------------------------------------------------


def test_simple_request_and_defaults() -> None:
    body = build({"model": "client-alias", "messages": [{"role": "user", "content": "Hello"}]})
    assert body == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
        "max_tokens": 4096,
    }


def test_default_max_tokens_is_configurable() -> None:
    a = AnthropicAdapter("https://x", None, default_max_tokens=256)
    assert json.loads(a.build("chat", {"messages": []}, "m").body)["max_tokens"] == 256


def test_system_and_developer_messages_become_top_level_system() -> None:
    body = build(
        {
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "user", "content": "Hi"},
            ]
        }
    )
    assert body["system"] == "You are terse.\n\nAnswer in French."
    assert [m["role"] for m in body["messages"]] == ["user"]


def test_multi_turn_and_merging_of_same_role() -> None:
    body = build(
        {
            "messages": [
                {"role": "user", "content": "one"},
                {"role": "user", "content": [{"type": "text", "text": "two"}]},
                {"role": "assistant", "content": "three"},
                {"role": "assistant", "content": "four"},
                {"role": "user", "content": "five"},
            ]
        }
    )
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "three"}, {"type": "text", "text": "four"}]},
        {"role": "user", "content": [{"type": "text", "text": "five"}]},
    ]


def test_images_data_url_and_http_url() -> None:
    body = build(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Compare"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "auto"}},
                    ],
                }
            ]
        }
    )
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "Compare"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


@pytest.mark.parametrize("url", ["data:image/png,notbase64", "ftp://example.com/x.png", "data:;base64,AAAA"])
def test_bad_image_urls(url: str) -> None:
    with pytest.raises(ValueError, match="image"):
        build({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]})


def test_unsupported_content_parts() -> None:
    part = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    with pytest.raises(ValueError, match="input_audio"):
        build({"messages": [{"role": "user", "content": [part]}]})


def test_tool_calls_and_tool_results() -> None:
    body = build(
        {
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "24C"}]},
                {"role": "user", "content": "Which is warmer?"},
            ]
        }
    )
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "24C"},
                {"type": "text", "text": "Which is warmer?"},
            ],
        },
    ]


def test_assistant_text_with_tool_call_and_empty_arguments() -> None:
    body = build(
        {
            "messages": [
                {"role": "user", "content": "time?"},
                {
                    "role": "assistant",
                    "content": "Let me look.",
                    "tool_calls": [{"id": "c", "type": "function", "function": {"name": "now", "arguments": ""}}],
                },
            ]
        }
    )
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "c", "name": "now", "input": {}},
    ]


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]"])
def test_bad_tool_arguments(arguments: str) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
    with pytest.raises(ValueError, match=r"messages\[1\]\.tool_calls\[0\].*arguments"):
        build({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call]}]})


def test_tool_message_needs_call_id() -> None:
    with pytest.raises(ValueError, match="tool_call_id"):
        build({"messages": [{"role": "tool", "content": "x"}]})


def test_function_role_is_refused() -> None:
    with pytest.raises(ValueError, match="function"):
        build({"messages": [{"role": "function", "name": "f", "content": "x"}]})


def test_sampling_parameters() -> None:
    body = build(
        {
            "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 100,
            "temperature": 1.7,
            "top_p": 0.9,
            "stop": "END",
            "stream": True,
            "stream_options": {"include_usage": True},
            "user": "user-42",
            # values that ask for what Anthropic does anyway pass, and are left out
            "logprobs": False,
            "response_format": {"type": "text"},
            "n": 1,
            "frequency_penalty": 0,
            "seed": None,
        }
    )
    assert body == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
        "max_tokens": 100,
        "temperature": 1.0,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "stream": True,
        "metadata": {"user_id": "user-42"},
    }


def test_temperature_below_one_is_kept_and_stop_list() -> None:
    body = build({"messages": [], "temperature": 0.3, "stop": ["a", "b"], "max_completion_tokens": 9, "max_tokens": 5})
    assert body["temperature"] == 0.3
    assert body["stop_sequences"] == ["a", "b"]
    assert body["max_tokens"] == 9


def test_n_greater_than_one_is_refused() -> None:
    with pytest.raises(ValueError, match="one choice"):
        build({"messages": [{"role": "user", "content": "x"}], "n": 2})


def test_refusals_are_unsupported_by_backend_and_value_errors() -> None:
    """The router reads a ValueError from build as "try the next route"; the refusal kind says why."""
    with pytest.raises(Refusal) as info:
        build({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}})
    assert isinstance(info.value, ValueError)
    assert info.value.kind is Kind.UNSUPPORTED_BY_BACKEND
    assert info.value.detail.startswith("response_format: ")


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": False,
    },
}


def test_tools_translation() -> None:
    bare = {"type": "function", "function": {"name": "ping"}}
    body = build({"messages": [], "tools": [WEATHER_TOOL, bare]})
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
        {"name": "ping", "input_schema": {"type": "object"}},
    ]
    assert "tool_choice" not in body


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    assert build({"messages": [], "tools": [WEATHER_TOOL], "tool_choice": choice})["tool_choice"] == expected


def test_parallel_tool_calls_false() -> None:
    body = build({"messages": [], "tools": [WEATHER_TOOL], "parallel_tool_calls": False})
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    body = build({"messages": [], "tools": [WEATHER_TOOL], "tool_choice": "required", "parallel_tool_calls": False})
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    body = build({"messages": [], "tools": [WEATHER_TOOL], "tool_choice": "none", "parallel_tool_calls": False})
    assert body["tool_choice"] == {"type": "none"}
    assert "tool_choice" not in build({"messages": [], "parallel_tool_calls": False})


def test_non_function_tools_and_bad_tool_choice_are_refused() -> None:
    custom = {"type": "custom", "custom": {"name": "grammar"}}
    with pytest.raises(ValueError, match="function tools"):
        build({"messages": [], "tools": [custom]})
    with pytest.raises(ValueError, match="tool_choice"):
        build({"messages": [], "tools": [WEATHER_TOOL], "tool_choice": {"type": "allowed_tools"}})


# --- response translation --------------------------------------------------------------------------


def test_parse_text_response_fixture() -> None:
    completion = adapter().parse_response("chat", fixture("message_text.json"))
    assert completion == {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "object": "chat.completion",
        "created": 0,
        "model": "claude-sonnet-4-5-20250929",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello! I'm doing well, thank you for asking. How can I help you today?",
                    "refusal": None,
                },
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 21, "total_tokens": 33},
    }


def test_parse_tool_use_response_fixture() -> None:
    completion = adapter().parse_response("chat", fixture("message_tool_use.json"))
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "I'll check the current weather in San Francisco for you."
    [call] = choice["message"]["tool_calls"]
    assert call["id"] == "toolu_01A09q90qw90lq917835lq9"
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"location": "San Francisco, CA", "unit": "celsius"}
    # cache creation and cache reads count as prompt tokens
    assert completion["usage"] == {"prompt_tokens": 534, "completion_tokens": 72, "total_tokens": 606}


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        (None, "stop"),
    ],
)
def test_stop_reason_mapping(stop: str | None, finish: str) -> None:
    message: dict[str, Any] = {
        "type": "message",
        "id": "m",
        "model": "c",
        "content": [],
        "stop_reason": stop,
        "usage": {},
    }
    completion = adapter().parse_response("chat", json.dumps(message).encode())
    assert completion["choices"][0]["finish_reason"] == finish
    assert completion["choices"][0]["message"]["content"] is None
    assert "tool_calls" not in completion["choices"][0]["message"]


def test_thinking_blocks_are_skipped() -> None:
    message = {
        "type": "message",
        "id": "m",
        "model": "c",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "A"},
            {"type": "text", "text": "B"},
        ],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 2},
    }
    completion = adapter().parse_response("chat", json.dumps(message).encode())
    assert completion["choices"][0]["message"]["content"] == "AB"


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"type": "error", "error": {}}', "not an Anthropic message"),
        (b'{"type": "message"}', "no 'content' list"),
        (b'{"type": "message", "content": ["x"]}', "not an object"),
    ],
)
def test_malformed_responses(raw: bytes, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        adapter().parse_response("chat", raw)


def test_error_message() -> None:
    a = adapter()
    assert a.error_message(fixture("error_not_found.json")) == "model: claude-nonexistent-1"
    assert a.error_message(b"<html>bad gateway</html>") is None
    assert a.error_message(b'{"type": "error"}') is None
    assert a.error_message(b'{"message": "plain"}') == "plain"


# --- streaming -------------------------------------------------------------------------------------


def test_fixture_events_have_matching_names() -> None:
    for name in ("stream_text.sse", "stream_tool_use.sse", "stream_error.sse"):
        for event_name, payload in sse_events(fixture(name)):
            assert json.loads(payload)["type"] == event_name


def test_decode_text_stream_fixture() -> None:
    chunks, ended = decode_stream(fixture("stream_text.sse"))
    assert ended
    for chunk in chunks:
        assert chunk["id"] == "msg_01QC4g3HwBThD4BaNtBckFDJ"
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["created"] == 0
        assert chunk["model"] == "claude-sonnet-4-5-20250929"
    assert chunks[0]["choices"] == [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None, "logprobs": None}
    ]
    with_choices = [c for c in chunks if c["choices"]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in with_choices)
    assert text == "Hello! How can I help you today?"
    assert [c["choices"][0]["finish_reason"] for c in with_choices if c["choices"][0]["finish_reason"]] == ["stop"]
    assert with_choices[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 25, "completion_tokens": 15, "total_tokens": 40}


def test_decode_tool_use_stream_fixture() -> None:
    chunks, ended = decode_stream(fixture("stream_tool_use.sse"))
    assert ended
    text = ""
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in chunks:
        if not chunk["choices"]:
            continue
        choice = chunk["choices"][0]
        delta = choice["delta"]
        text += delta.get("content") or ""
        for call in delta.get("tool_calls", []):
            entry = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
            if "id" in call:
                assert call["type"] == "function"
                entry["id"] = call["id"]
                entry["name"] = call["function"]["name"]
            entry["arguments"] += call["function"]["arguments"]
        finish = choice["finish_reason"] or finish
    assert text == "Okay, let's check the weather for San Francisco, CA:"
    assert sorted(calls) == [0, 1]
    assert calls[0]["id"] == "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
    assert calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert calls[1]["name"] == "get_time"
    assert json.loads(calls[1]["arguments"]) == {"timezone": "America/Los_Angeles"}
    assert finish == "tool_calls"
    assert chunks[-1]["usage"] == {"prompt_tokens": 472, "completion_tokens": 89, "total_tokens": 561}


def test_empty_input_json_delta_emits_nothing() -> None:
    decoder = adapter().stream_decoder()
    decoder.decode(b'{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f"}}')
    delta = b'{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}'
    assert decoder.decode(delta) == []


def test_decode_stream_error_event() -> None:
    decoder = adapter().stream_decoder()
    events = sse_events(fixture("stream_error.sse"))
    assert decoder.decode(events[0][1])
    assert decoder.decode(events[1][1]) == []  # ping
    with pytest.raises(ValueError, match="Overloaded"):
        decoder.decode(events[2][1])


def test_ping_stop_and_unknown_events() -> None:
    decoder = adapter().stream_decoder()
    assert decoder.decode(b'{"type": "ping"}') == []
    assert decoder.decode(b'{"type": "content_block_stop", "index": 0}') == []
    assert decoder.decode(b'{"type": "some_future_event"}') == []
    thinking = b'{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"x"}}'
    assert decoder.decode(thinking) == []
    assert decoder.decode(b'{"type": "message_stop"}') is None


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[]", b'{"no": "type"}', b'{"type": "message_start"}', b'{"type": "content_block_start"}'],
)
def test_malformed_stream_events(payload: bytes) -> None:
    with pytest.raises(ValueError, match="backend"):
        adapter().stream_decoder().decode(payload)


def test_message_delta_finishes_once_and_uses_cumulative_usage() -> None:
    decoder = adapter().stream_decoder()
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "model": "claude",
            "usage": {"input_tokens": 5, "cache_read_input_tokens": 100, "output_tokens": 1},
        },
    }
    decoder.decode(json.dumps(start).encode())
    md = {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 30}}
    finish, usage = decoder.decode(json.dumps(md).encode()) or []
    assert finish["choices"][0]["finish_reason"] == "length"
    assert finish["choices"][0]["delta"] == {}
    assert usage["usage"] == {"prompt_tokens": 105, "completion_tokens": 30, "total_tokens": 135}
    assert decoder.decode(json.dumps(md).encode()) == []


def test_decoders_are_independent() -> None:
    a = adapter()
    first, second = a.stream_decoder(), a.stream_decoder()
    start = b'{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f"}}'
    [chunk] = first.decode(start) or []
    assert chunk["choices"][0]["delta"]["tool_calls"][0]["index"] == 0
    start1 = b'{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"u","name":"g"}}'
    [chunk] = first.decode(start1) or []
    assert chunk["choices"][0]["delta"]["tool_calls"][0]["index"] == 1
    [chunk] = second.decode(start) or []
    assert chunk["choices"][0]["delta"]["tool_calls"][0]["index"] == 0


def test_decode_with_gateway_event_splitter() -> None:
    """The fixture, fed in awkward pieces through the gateway's own SSE splitter, decodes the same way."""
    from onshore.route.sse import EventSplitter

    raw = fixture("stream_tool_use.sse")
    splitter = EventSplitter()
    decoder = adapter().stream_decoder()
    chunks: list[dict[str, Any]] = []
    ended = False
    for start in range(0, len(raw), 7):
        for payload in splitter.feed(raw[start : start + 7]):
            out = decoder.decode(payload)
            if out is None:
                ended = True
                break
            chunks.extend(out)
    assert ended
    expected, _ = decode_stream(raw)
    assert chunks == expected
