"""Responses-speaking clients (translate.responses): requests onto chat, answers and streams back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from onshore.refusal import Kind, Refusal
from onshore.translate.anthropic import to_messages_request
from onshore.translate.responses import (
    ResponsesStreamEncoder,
    history_of,
    input_items,
    to_chat_request,
    to_chat_turn,
    to_response,
)
from onshore.translate.responses.wire import DOCUMENTED_FIELDS
from tests.openapi import schema_properties, validate


def chat(body: dict[str, Any]) -> dict[str, Any]:
    return to_chat_request({"model": "m", **body})[0]


def refusal(body: dict[str, Any]) -> Refusal:
    with pytest.raises(Refusal) as caught:
        to_chat_request({"model": "m", **body})
    return caught.value


def test_documented_fields_are_openais() -> None:
    assert schema_properties("CreateResponse") == DOCUMENTED_FIELDS


def test_instructions_come_first_and_store_is_forced_false() -> None:
    request, echo = to_chat_request(
        {"model": "m", "input": "Hi", "instructions": "Be kind.", "store": True, "metadata": {"a": "b"}}
    )
    assert request == {
        "model": "m",
        "messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}],
        "store": False,
    }
    assert echo["metadata"] == {"a": "b"} and echo["instructions"] == "Be kind."


def test_function_calls_join_the_assistant_turn_and_outputs_become_tool_messages() -> None:
    messages = chat(
        {
            "input": [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
                {"type": "function_call", "call_id": "c1", "name": "get", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "get", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": [{"type": "input_text", "text": "sun"}]},
                {"type": "function_call_output", "call_id": "c2", "output": "rain"},
            ]
        }
    )["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert messages[1]["content"] == "Checking."
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["c1", "c2"]
    assert messages[2] == {"role": "tool", "tool_call_id": "c1", "content": "sun"}


def test_images_by_url_pass_and_by_file_id_are_refused() -> None:
    part = {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"}
    content = chat({"input": [{"role": "user", "content": [part]}]})["messages"][0]["content"]
    assert content == [{"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}]
    refused = refusal({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]})
    assert refused.param == "input[0].content[0].file_id" and "kept at the provider" in refused.detail


def test_tools_choice_and_formats_take_chats_shapes() -> None:
    request = chat(
        {
            "input": "x",
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}],
            "tool_choice": {"type": "function", "name": "f"},
            "text": {"format": {"type": "json_object"}, "verbosity": "low"},
            "max_output_tokens": 9,
            "stream": True,
        }
    )
    assert request["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}}
    ]
    assert request["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert request["response_format"] == {"type": "json_object"} and request["verbosity"] == "low"
    assert request["max_tokens"] == 9
    assert request["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("body", "param", "says"),
    [
        ({"tools": [{"type": "web_search"}]}, "tools[0].type", "residency policy"),
        ({"tools": [{"type": "custom", "name": "x"}]}, "tools[0].type", "not supported"),
        ({"tools": [{"name": "x"}]}, "tools[0].type", "Missing required"),
        ({"tool_choice": {"type": "file_search"}}, "tool_choice.type", "residency policy"),
        ({"tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": []}}, "tool_choice.type", "not supported"),
        ({"input": [{"type": "web_search_call", "id": "ws_1"}]}, "input[0].type", "residency policy"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type", "state kept at the provider"),
        ({"input": [{"type": "reasoning", "summary": []}]}, "input[0].type", "not supported"),
        ({"truncation": "auto"}, "truncation", "not supported"),
        ({"include": ["reasoning.encrypted_content"]}, "include", "not supported"),
        ({"background": True}, "background", "kept at the provider"),
        ({"previous_response_id": ""}, "previous_response_id", "Invalid value"),
        ({"conversation": {"id": "conv_1"}}, "conversation", "previous_response_id"),
        ({"temperature": 3}, "temperature", "Invalid value"),
        ({"input": []}, "input", "Invalid value"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role", "Invalid value"),
        ({"text": {"format": {"type": "json_schema", "schema": {}}}}, "text.format.name", "Missing required"),
        ({"frobnicate": 1}, "frobnicate", "not part of OpenAI's documented request format"),
    ],
)
def test_refusals_name_the_field(body: dict[str, Any], param: str, says: str) -> None:
    refused = refusal({"input": "x", **body})
    assert refused.param == param and says in refused.detail
    assert refused.kind in (Kind.UNSUPPORTED_PARAMETER, Kind.INVALID_VALUE, Kind.MISSING_PARAMETER)


def test_background_false_and_null_state_fields_pass() -> None:
    assert chat({"input": "x", "background": False, "previous_response_id": None, "include": []})["messages"]


ECHO = to_chat_request({"model": "m", "input": "x", "tools": [{"type": "function", "name": "get", "strict": None}]})[1]


def completion(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }


def test_a_completion_becomes_a_valid_response() -> None:
    call = {"id": "call_9", "type": "function", "function": {"name": "get", "arguments": '{"a":1}'}}
    answer = to_response(
        completion({"role": "assistant", "content": "Hi", "tool_calls": [call]}, "tool_calls"), "pub", ECHO, 5, 6
    )
    validate(answer, "Response")
    assert answer["id"] == "resp_abc" and answer["status"] == "completed" and answer["completed_at"] == 6
    assert [item["type"] for item in answer["output"]] == ["message", "function_call"]
    assert answer["output"][1]["call_id"] == "call_9" and answer["output"][1]["arguments"] == '{"a":1}'
    assert answer["usage"]["total_tokens"] == 7 and answer["tools"][0]["name"] == "get"


def test_a_cut_off_completion_is_incomplete() -> None:
    answer = to_response(completion({"role": "assistant", "content": "Hi"}, "length"), "pub", ECHO, 5, 6)
    validate(answer, "Response")
    assert answer["status"] == "incomplete" and answer["incomplete_details"] == {"reason": "max_output_tokens"}
    assert answer["completed_at"] is None


def events_of(raw: bytes) -> list[dict[str, Any]]:
    events = []
    for frame in (f for f in raw.split(b"\n\n") if f):
        name, data = frame.split(b"\n", 1)
        event = json.loads(data.removeprefix(b"data: "))
        assert name == b"event: " + event["type"].encode()
        validate(event, "ResponseStreamEvent")
        events.append(event)
    return events


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def tool_delta(index: int, arguments: str, name: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if name is not None:
        call.update(id=f"call_{index}", type="function", function={"name": name, "arguments": arguments})
    return {"tool_calls": [call]}


def test_stream_of_text_then_two_tool_calls() -> None:
    encoder = ResponsesStreamEncoder("pub", ECHO, 5, lambda: 6.0)
    raw = encoder.start("req-1")
    for piece in (
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Let me "}),
        chunk({"content": "check."}),
        chunk(tool_delta(0, '{"q":', "get")),
        chunk(tool_delta(0, '"a"}')),
        chunk(tool_delta(1, "{}", "get")),
        chunk({}, "tool_calls"),
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {"prompt_tokens": 2, "completion_tokens": 5},
        },
    ):
        raw += encoder.chunk(piece)
    raw += encoder.finish()
    assert encoder.finish() == b""  # once
    events = events_of(raw)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[0]["response"]["id"] == "resp_req-1" and events[0]["response"]["status"] == "in_progress"
    assert events[12]["arguments"] == '{"q":"a"}' and events[12]["name"] == "get"
    final = events[-1]["response"]
    validate(final, "Response")
    assert [item["type"] for item in final["output"]] == ["message", "function_call", "function_call"]
    assert final["output"][0]["content"][0]["text"] == "Let me check."
    assert [item["call_id"] for item in final["output"][1:]] == ["call_0", "call_1"]
    assert [item["output_index"] for item in events if item["type"] == "response.output_item.added"] == [0, 1, 2]
    assert final["usage"]["input_tokens"] == 2 and final["usage"]["total_tokens"] == 7
    assert final["completed_at"] == 6


def test_stream_cut_by_length_ends_incomplete_and_errors_validate() -> None:
    encoder = ResponsesStreamEncoder("pub", ECHO, 5, lambda: 6.0)
    raw = encoder.start("r") + encoder.chunk(chunk({"content": "Hi"}, "length")) + encoder.finish()
    final = events_of(raw)[-1]
    assert final["type"] == "response.incomplete"
    assert final["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    (error,) = events_of(encoder.error("upstream_error", "Backend error: boom"))
    assert error["type"] == "error" and error["message"] == "Backend error: boom"


def test_the_chat_request_also_reaches_anthropic_backends() -> None:
    """store: false is neutral for the Anthropic adapter, so a Responses request can route there too."""
    request = chat(
        {
            "input": [
                {"role": "user", "content": "Weather?"},
                {"type": "function_call", "call_id": "c1", "name": "get", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "sun"},
            ],
            "instructions": "Be brief.",
            "tools": [{"type": "function", "name": "get", "parameters": {"type": "object"}}],
            "max_output_tokens": 20,
        }
    )
    messages = to_messages_request(request, "claude")
    assert messages["system"] == "Be brief." and messages["max_tokens"] == 20
    assert "store" not in messages and messages["tools"][0]["name"] == "get"


def test_a_turn_says_what_is_kept_and_what_it_continues() -> None:
    turn = to_chat_turn({"model": "m", "input": "Hi", "instructions": "Be brief.", "previous_response_id": "resp_1"})
    assert (turn.store, turn.previous_response_id, turn.instructions) == (True, "resp_1", 1)  # store defaults to true
    assert turn.request["store"] is False  # never upstream
    assert "previous_response_id" not in turn.request
    assert (turn.echo["store"], turn.echo["previous_response_id"]) == (False, None)  # until the service keeps it
    quiet = to_chat_turn({"model": "m", "input": "Hi", "store": False})
    assert (quiet.store, quiet.previous_response_id, quiet.instructions) == (False, None, 0)


def test_an_answer_becomes_the_history_a_later_turn_sends() -> None:
    answer = to_response(
        completion(
            {
                "role": "assistant",
                "content": "Looking.",
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get", "arguments": "{}"}}],
            }
        ),
        "pub",
        ECHO,
        5,
        6,
        resp_id="resp_abc",
    )
    assert answer["id"] == "resp_abc"
    assert history_of(answer["output"]) == [
        {
            "role": "assistant",
            "content": "Looking.",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get", "arguments": "{}"}}],
        }
    ]


def test_a_turns_input_becomes_valid_item_resources() -> None:
    turn = to_chat_turn(
        {
            "model": "m",
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "What is this?"},
                        {"type": "input_image", "image_url": "https://example.com/a.png"},
                    ],
                },
                {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}], "id": "msg_given"},
                {"type": "function_call_output", "call_id": "call_1", "output": [{"type": "input_text", "text": "ok"}]},
            ],
        }
    )
    items = input_items(turn.items, "resp_abc")
    for item in items:
        validate(item, "ItemResource")
    assert [i["id"] for i in items] == ["msg_abc_0", "msg_given", "fco_abc_2"]
    assert items[0]["content"][1] == {
        "type": "input_image",
        "image_url": "https://example.com/a.png",
        "file_id": None,
        "detail": "auto",
    }
    assert items[1]["content"] == [{"type": "refusal", "refusal": "No."}]
    assert input_items(to_chat_turn({"model": "m", "input": "Hi"}).items, "resp_x") == [
        {
            "id": "msg_x_0",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_text", "text": "Hi"}],
        }
    ]
