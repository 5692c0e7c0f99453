"""Anthropic-speaking clients (translate.anthropic inbound): Messages in, OpenAI inside, Anthropic shapes out."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onshore.route.backends.anthropic import AnthropicAdapter
from onshore.translate.anthropic import (
    AnthropicStreamEncoder,
    InboundError,
    error_body,
    error_event,
    message_id,
    to_anthropic_response,
    to_chat_completion,
    to_messages_request,
    to_openai_request,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "anthropic"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse_events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Tiny SSE parser: (event name, decoded data) per event; checks the name matches the data's type."""
    events: list[tuple[str, dict[str, Any]]] = []
    assert raw == b"" or raw.endswith(b"\n\n")
    for block in raw.split(b"\n\n"):
        if not block:
            continue
        lines = block.split(b"\n")
        assert len(lines) == 2, block
        assert lines[0].startswith(b"event: ") and lines[1].startswith(b"data: ")
        name = lines[0][7:].decode()
        data = json.loads(lines[1][6:])
        assert data["type"] == name
        events.append((name, data))
    return events


def request(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    body.update(fields)
    return body


def problem(body: dict[str, Any]) -> InboundError:
    with pytest.raises(InboundError) as info:
        to_openai_request(body)
    return info.value


# --- request translation ---------------------------------------------------------------------------


def test_minimal_request() -> None:
    assert to_openai_request(request()) == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 1024,
    }


def test_system_string_and_blocks() -> None:
    assert to_openai_request(request(system="Be brief."))["messages"][0] == {"role": "system", "content": "Be brief."}
    blocks = [
        {"type": "text", "text": "One."},
        {"type": "text", "text": "Two.", "cache_control": {"type": "ephemeral"}},
    ]
    assert to_openai_request(request(system=blocks))["messages"][0] == {"role": "system", "content": "One.\n\nTwo."}


def test_all_parameters() -> None:
    body = request(
        temperature=0.5,
        top_p=0.8,
        stop_sequences=["END", "STOP"],
        stream=True,
        metadata={"user_id": "u-1"},
    )
    assert to_openai_request(body) == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 1024,
        "temperature": 0.5,
        "top_p": 0.8,
        "stop": ["END", "STOP"],
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "u-1",
    }


def test_multi_turn_with_blocks_and_images() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            ],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "A cat "}, {"type": "text", "text": "and a dog."}]},
        {"role": "user", "content": [{"type": "text", "text": "Thanks"}, {"type": "text", "text": "!"}]},
    ]
    assert to_openai_request(request(messages=messages))["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ],
        },
        {"role": "assistant", "content": "A cat and a dog."},
        {"role": "user", "content": [{"type": "text", "text": "Thanks"}, {"type": "text", "text": "!"}]},
    ]


def test_tool_use_and_tool_results() -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "need a tool", "signature": "x"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "18C"}]},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "timeout", "is_error": True},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]
    assert to_openai_request(request(messages=messages))["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {"id": "toolu_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: timeout"},
        {"role": "user", "content": "And tomorrow?"},
    ]


def test_assistant_only_tool_use_has_null_content_and_empty_tool_result() -> None:
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t"}]},
    ]
    out = to_openai_request(request(messages=messages))["messages"]
    assert out[1]["content"] is None
    assert out[2:] == [{"role": "tool", "tool_call_id": "t", "content": ""}]


def test_tools_and_tool_choice() -> None:
    tools = [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
        {"type": "custom", "name": "noop", "input_schema": {"type": "object"}},
    ]
    out = to_openai_request(request(tools=tools, tool_choice={"type": "any", "disable_parallel_tool_use": True}))
    assert out["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                "description": "Weather for a city",
            },
        },
        {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}},
    ]
    assert out["tool_choice"] == "required"
    assert out["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "get_weather"}, {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
def test_tool_choice_mapping(choice: dict[str, Any], expected: Any) -> None:
    out = to_openai_request(request(tool_choice=choice))
    assert out["tool_choice"] == expected
    assert "parallel_tool_calls" not in out


# --- request validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["top_k", "thinking", "service_tier"])
def test_documented_but_unsupported_fields(field: str) -> None:
    value: Any = {"type": "enabled", "budget_tokens": 1024} if field == "thinking" else 5
    error = problem(request(**{field: value}))
    assert error.param == field
    assert "not supported" in error.message


def test_unknown_field() -> None:
    error = problem(request(frequency_penalty=1))
    assert error.param == "frequency_penalty"
    assert "unknown" in error.message


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"model": None}, "model"),
        ({"model": ""}, "model"),
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({"messages": ["x"]}, "messages[0]"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": "x", "name": "bob"}]}, "messages[0].name"),
        ({"messages": [{"role": "user", "content": [{"type": "document"}]}]}, "messages[0].content[0].type"),
        ({"messages": [{"role": "user", "content": [{"text": "no type"}]}]}, "messages[0].content[0]"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0].text"),
        (
            {"messages": [{"role": "assistant", "content": [{"type": "image", "source": {}}]}]},
            "messages[0].content[0].type",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}
                ]
            },
            "messages[0].content[0].source.type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}]},
            "messages[0].content[0].tool_use_id",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": "t",
                                "content": [{"type": "image", "source": {"type": "url", "url": "https://x"}}],
                            }
                        ],
                    }
                ]
            },
            "messages[0].content[0].content[0]",
        ),
        (
            {
                "messages": [
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": [1]}]}
                ]
            },
            "messages[0].content[0].input",
        ),
        ({"temperature": 1.5}, "temperature"),
        ({"top_p": "high"}, "top_p"),
        ({"stop_sequences": "END"}, "stop_sequences"),
        ({"stream": "yes"}, "stream"),
        ({"metadata": {"user_id": 5}}, "metadata.user_id"),
        ({"metadata": {"session": "x"}}, "metadata.session"),
        ({"system": 5}, "system"),
        ({"system": [{"type": "image"}]}, "system[0]"),
        ({"tools": [{"name": "f"}]}, "tools[0].input_schema"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0].type"),
        ({"tool_choice": {"type": "tool"}}, "tool_choice.name"),
        ({"tool_choice": {"type": "maybe"}}, "tool_choice.type"),
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"messages": [{"content": "x"}]}, "messages[0].role"),
        ({"stop_sequences": ["END", 1]}, "stop_sequences[1]"),
    ],
)
def test_invalid_requests_name_the_field(changes: dict[str, Any], param: str) -> None:
    body = request()
    for key, value in changes.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    error = problem(body)
    assert error.param == param
    assert str(error).startswith(param)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"temperature": 1.5}, "'temperature' must be a number between 0 and 1"),
        ({"messages": [{"role": "system", "content": "x"}]}, "role must be 'user' or 'assistant'"),
        (
            {"messages": [{"role": "assistant", "content": [{"type": "image", "source": {}}]}]},
            "content block type 'image' is not supported in assistant messages",
        ),
        (
            {"tools": [{"type": "bash_20250124", "name": "bash"}]},
            "tool type 'bash_20250124' (a server tool) is not supported",
        ),
        ({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "name": "f"}]}]}, "'id' is required"),
    ],
)
def test_messages_say_what_the_field_must_be(changes: dict[str, Any], message: str) -> None:
    assert problem(request(**changes)).message == message


# --- response translation --------------------------------------------------------------------------


def completion(message: dict[str, Any], finish: str | None = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "backend-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


def test_text_response() -> None:
    out = to_anthropic_response(completion({"role": "assistant", "content": "Hello!"}), "claude-sonnet-4-5")
    assert out == {
        "id": "msg_abc123",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "Hello!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 11, "output_tokens": 7},
    }


def test_tool_call_response() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}},
            {"id": "call_10", "type": "function", "function": {"name": "now", "arguments": ""}},
        ],
    }
    out = to_anthropic_response(completion(message, "tool_calls"), "m")
    assert out["content"] == [
        {"type": "tool_use", "id": "call_9", "name": "get_weather", "input": {"city": "Oslo"}},
        {"type": "tool_use", "id": "call_10", "name": "now", "input": {}},
    ]
    assert out["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
    ],
)
def test_stop_reason_mapping(finish: str | None, stop: str) -> None:
    assert to_anthropic_response(completion({"role": "assistant", "content": "x"}, finish), "m")["stop_reason"] == stop


def test_refusal_becomes_text() -> None:
    out = to_anthropic_response(
        completion({"role": "assistant", "content": None, "refusal": "I can't."}, "content_filter"), "m"
    )
    assert out["content"] == [{"type": "text", "text": "I can't."}]


@pytest.mark.parametrize(
    ("document", "match"),
    [
        ({"choices": []}, "no choices"),
        ({"choices": [{"index": 0}]}, "no message"),
        (
            completion(
                {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}]}
            ),
            "not valid JSON",
        ),
        (
            completion(
                {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1]"}}]}
            ),
            "not a JSON object",
        ),
        (completion({"role": "assistant", "tool_calls": [{"id": "c"}]}), "function name"),
    ],
)
def test_malformed_completions(document: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        to_anthropic_response(document, "m")


def test_message_id() -> None:
    assert message_id("chatcmpl-xyz") == "msg_xyz"
    assert message_id("msg_01abc") == "msg_01abc"
    assert message_id("cmpl-7") == "msg_cmpl-7"
    assert message_id(None) == "msg_onshore"


# --- round trips through both modules --------------------------------------------------------------


def test_request_round_trip_anthropic_openai_anthropic() -> None:
    original = {
        "model": "ignored",
        "max_tokens": 500,
        "system": "Be helpful.",
        "temperature": 0.2,
        "stop_sequences": ["###"],
        "tools": [{"name": "get_weather", "description": "d", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        "metadata": {"user_id": "u"},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                    {"type": "text", "text": "Thanks"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
                ],
            },
        ],
    }
    back = to_messages_request(to_openai_request(original), "claude-upstream")
    expected = {k: v for k, v in original.items() if k != "model"}
    expected["model"] = "claude-upstream"
    assert back == expected


def test_response_round_trip_through_fixture() -> None:
    raw = json.loads(fixture("message_tool_use.json"))
    openai = to_chat_completion(fixture("message_tool_use.json"))
    back = to_anthropic_response(openai, raw["model"])
    assert back["id"] == raw["id"]
    assert back["content"] == raw["content"]
    assert back["stop_reason"] == raw["stop_reason"]
    # cache tokens fold into input_tokens on the way through OpenAI's usage
    assert back["usage"] == {"input_tokens": 534, "output_tokens": 72}


# --- streaming encoder -----------------------------------------------------------------------------


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, usage: dict[str, int] | None = None
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "backend",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        document["usage"] = usage
    return document


def test_encode_text_stream() -> None:
    encoder = AnthropicStreamEncoder("claude-sonnet-4-5")
    raw = encoder.start("msg_1")
    raw += encoder.chunk(chunk({"role": "assistant", "content": ""}))
    raw += encoder.chunk(chunk({"content": "Hel"}))
    raw += encoder.chunk(chunk({"content": "lo"}))
    raw += encoder.chunk(chunk({}, "stop"))
    raw += encoder.chunk(chunk(None, usage={"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}))
    raw += encoder.finish()
    assert encoder.finish() == b""
    events = parse_events(raw)
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["id"] == "msg_1"
    assert start["model"] == "claude-sonnet-4-5"
    assert start["content"] == []
    assert start["type"] == "message" and start["role"] == "assistant"
    assert events[1][1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert events[2][1]["delta"] == {"type": "text_delta", "text": "Hel"}
    assert events[4][1] == {"type": "content_block_stop", "index": 0}
    assert events[5][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"input_tokens": 9, "output_tokens": 2},
    }


def test_encode_text_then_tool_calls() -> None:
    encoder = AnthropicStreamEncoder("m")
    raw = encoder.start("msg_2")
    raw += encoder.chunk(chunk({"role": "assistant", "content": "Let me check."}))
    raw += encoder.chunk(
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        )
    )
    raw += encoder.chunk(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}))
    raw += encoder.chunk(chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "Paris"}'}}]}))
    raw += encoder.chunk(
        chunk({"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "get_time", "arguments": "{}"}}]})
    )
    raw += encoder.chunk(chunk({}, "tool_calls"))
    raw += encoder.finish()
    events = parse_events(raw)
    starts = [data for name, data in events if name == "content_block_start"]
    stops = [data["index"] for name, data in events if name == "content_block_stop"]
    assert [s["index"] for s in starts] == [0, 1, 2]
    assert stops == [0, 1, 2]
    assert starts[1]["content_block"] == {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {}}
    assert starts[2]["content_block"] == {"type": "tool_use", "id": "call_b", "name": "get_time", "input": {}}
    arguments: dict[int, str] = {}
    for name, data in events:
        if name == "content_block_delta" and data["delta"]["type"] == "input_json_delta":
            arguments[data["index"]] = arguments.get(data["index"], "") + data["delta"]["partial_json"]
    assert json.loads(arguments[1]) == {"city": "Paris"}
    assert json.loads(arguments[2]) == {}
    # every block is stopped before the next starts
    order = [(name, data.get("index")) for name, data in events if name.startswith("content_block_")]
    open_block = None
    for name, index in order:
        if name == "content_block_start":
            assert open_block is None
            open_block = index
        elif name == "content_block_stop":
            assert open_block == index
            open_block = None
        else:
            assert open_block == index
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_encode_empty_stream_and_missing_tool_id() -> None:
    encoder = AnthropicStreamEncoder("m")
    events = parse_events(encoder.start("msg_x") + encoder.finish())
    assert [name for name, _ in events] == ["message_start", "message_delta", "message_stop"]
    assert events[1][1]["usage"] == {"input_tokens": 0, "output_tokens": 0}

    encoder = AnthropicStreamEncoder("m")
    encoder.start("msg_x")
    raw = encoder.chunk(chunk({"tool_calls": [{"index": 0, "function": {"name": "f"}}]}))
    [(_, start)] = parse_events(raw)
    assert start["content_block"]["id"] == "toolu_x_0"


def test_encode_ignores_other_choices_and_handles_refusal() -> None:
    encoder = AnthropicStreamEncoder("m")
    encoder.start("msg_1")
    other = chunk({"content": "ignored"})
    other["choices"][0]["index"] = 1
    assert encoder.chunk(other) == b""
    events = parse_events(encoder.chunk(chunk({"refusal": "No."})))
    assert events[1][1]["delta"] == {"type": "text_delta", "text": "No."}


def replay_through_decoder(raw: bytes) -> list[dict[str, Any]]:
    """Anthropic events -> the outbound adapter's decoder -> OpenAI chunks."""
    from onshore.route.sse import EventSplitter

    decoder = AnthropicAdapter("https://x", None).stream_decoder()
    chunks: list[dict[str, Any]] = []
    for payload in EventSplitter().feed(raw):
        out = decoder.decode(payload)
        if out is None:
            break
        chunks.extend(out)
    return chunks


def test_decode_fixture_then_encode_reproduces_stream() -> None:
    """Fixture SSE -> OpenAI chunks (outbound decoder) -> Anthropic SSE (inbound encoder) -> same content."""
    raw = fixture("stream_tool_use.sse")
    chunks = replay_through_decoder(raw)
    encoder = AnthropicStreamEncoder("claude-sonnet-4-5-20250929")
    out = encoder.start("msg_014p7gG3wDgGV9EUtLvnow3U")
    for c in chunks:
        out += encoder.chunk(c)
    out += encoder.finish()

    def summary(events: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        blocks: dict[int, Any] = {}
        for name, data in events:
            if name == "content_block_start":
                blocks[data["index"]] = dict(data["content_block"], text="", partial="")
            elif name == "content_block_delta":
                delta = data["delta"]
                key = "text" if delta["type"] == "text_delta" else "partial"
                blocks[data["index"]][key] += delta.get("text") or delta.get("partial_json")
        return [blocks[i] for i in sorted(blocks)]

    assert summary(parse_events(out)) == summary(parse_events(raw))
    final = [data for name, data in parse_events(out) if name == "message_delta"]
    assert final[0]["delta"]["stop_reason"] == "tool_use"
    assert final[0]["usage"] == {"input_tokens": 472, "output_tokens": 89}


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200), cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=20))
def test_property_encoded_text_parses_back(text: str, cuts: list[int]) -> None:
    points = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    pieces = [text[a:b] for a, b in itertools.pairwise(points)]
    encoder = AnthropicStreamEncoder("m")
    raw = encoder.start("msg_p") + encoder.chunk(chunk({"role": "assistant", "content": ""}))
    for piece in pieces:
        raw += encoder.chunk(chunk({"content": piece}))
    raw += encoder.chunk(chunk({}, "length"))
    raw += encoder.finish()
    events = parse_events(raw)
    assert "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta") == text
    assert sum(1 for n, _ in events if n == "content_block_start") == (1 if text else 0)
    # and the outbound decoder reads the encoder's stream back to the same text
    decoded = replay_through_decoder(raw)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in decoded if c["choices"]) == text
    assert [c["choices"][0]["finish_reason"] for c in decoded if c["choices"] and c["choices"][0]["finish_reason"]] == [
        "length"
    ]


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (529, "overloaded_error"),
    ],
)
def test_error_body(status: int, kind: str) -> None:
    assert json.loads(error_body(status, "boom")) == {"type": "error", "error": {"type": kind, "message": "boom"}}


def test_error_body_is_read_by_outbound_adapter() -> None:
    assert AnthropicAdapter("https://x", None).error_message(error_body(404, "no such model")) == "no such model"
    assert json.loads(fixture("error_not_found.json"))["error"]["type"] == "not_found_error"


def test_error_event() -> None:
    [(name, data)] = parse_events(error_event(529, "Overloaded"))
    assert name == "error"
    assert data == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(ValueError, match="Overloaded"):
        AnthropicAdapter("https://x", None).stream_decoder().decode(error_event(529, "Overloaded").split(b"data: ")[1])
