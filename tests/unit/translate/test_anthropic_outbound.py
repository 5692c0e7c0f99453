"""The outbound side refuses what Anthropic cannot express, and both directions share one set of tables."""

from __future__ import annotations

import json
from typing import Any

import pytest

from onshore.edge.wire import CHAT_FIELDS
from onshore.refusal import Kind, Refusal
from onshore.translate.anthropic import (
    Untranslatable,
    error_type,
    finish_reason,
    stop_reason,
    to_anthropic_response,
    to_chat_completion,
    to_messages_request,
    to_openai_request,
)
from onshore.translate.anthropic.tables import (
    ERROR_STATUSES,
    ERROR_TYPES,
    FINISH_REASONS,
    NEUTRAL_VALUES,
    REFUSED_FIELDS,
    STOP_REASONS,
    TOOL_CHOICE_MODES,
    TRANSLATED_FIELDS,
)

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
BASE: dict[str, Any] = {"model": "alias", "messages": [{"role": "user", "content": "Hi"}]}
BASELINE = to_messages_request(BASE, "claude")

# A value for every OpenAI chat field the outbound side does not translate, each one that asks for
# something Anthropic cannot do. A field added to CHAT_FIELDS fails the test below until it is
# translated (TRANSLATED_FIELDS) or refused (REFUSED_FIELDS, with a value here).
REFUSED_SAMPLES: dict[str, Any] = {
    "audio": {"voice": "alloy", "format": "wav"},
    "frequency_penalty": 0.5,
    "function_call": "auto",
    "functions": [{"name": "f", "parameters": {"type": "object"}}],
    "logit_bias": {"50256": -100},
    "logprobs": True,
    "metadata": {"team": "a"},
    "modalities": ["text", "audio"],
    "moderation": {"mode": "strict"},
    "n": 2,
    "prediction": {"type": "content", "content": "x"},
    "presence_penalty": -1,
    "prompt_cache_key": "k",
    "prompt_cache_options": {"mode": "x"},
    "prompt_cache_retention": "24h",
    "reasoning_effort": "high",
    "response_format": {"type": "json_object"},
    "seed": 7,
    "service_tier": "flex",
    "store": True,
    "top_logprobs": 3,
    "verbosity": "low",
    "web_search_options": {},
}
# A value for every translated field and what it must become in the Anthropic request.
TRANSLATED_SAMPLES: dict[str, tuple[Any, dict[str, Any]]] = {
    "max_completion_tokens": (9, {"max_tokens": 9}),
    "max_tokens": (7, {"max_tokens": 7}),
    "messages": (
        [{"role": "user", "content": "Other"}],
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "Other"}]}]},
    ),
    "model": ("another-alias", {}),  # the route names the upstream model
    "parallel_tool_calls": (True, {}),  # Anthropic's default
    "safety_identifier": ("s-1", {"metadata": {"user_id": "s-1"}}),
    "stop": (["END"], {"stop_sequences": ["END"]}),
    "stream": (True, {"stream": True}),
    "stream_options": ({"include_usage": True}, {}),  # Anthropic streams always report usage
    "temperature": (0.25, {"temperature": 0.25}),
    "tool_choice": ("none", {}),  # without tools, "none" asks for what happens anyway
    "tools": ([TOOL], {"tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]}),
    "top_p": (0.5, {"top_p": 0.5}),
    "user": ("u-1", {"metadata": {"user_id": "u-1"}}),
}


def refused(body: dict[str, Any]) -> Untranslatable:
    with pytest.raises(Untranslatable) as info:
        to_messages_request(body, "claude")
    return info.value


def test_every_openai_chat_field_is_translated_or_refused() -> None:
    assert not TRANSLATED_FIELDS & REFUSED_FIELDS.keys()
    unhandled = CHAT_FIELDS - TRANSLATED_FIELDS - REFUSED_FIELDS.keys()
    assert not unhandled, f"translate or refuse {sorted(unhandled)} in translate/anthropic/tables.py"
    assert set(REFUSED_SAMPLES) == CHAT_FIELDS - TRANSLATED_FIELDS
    assert set(TRANSLATED_SAMPLES) == TRANSLATED_FIELDS
    assert NEUTRAL_VALUES.keys() <= REFUSED_FIELDS.keys()


@pytest.mark.parametrize("field", sorted(REFUSED_SAMPLES))
def test_each_untranslated_field_is_refused_naming_it(field: str) -> None:
    error = refused({**BASE, field: REFUSED_SAMPLES[field]})
    assert error.field == field
    assert error.kind is Kind.UNSUPPORTED_BY_BACKEND
    assert isinstance(error, Refusal) and isinstance(error, ValueError)  # the router tries the next route
    assert error.detail == f"{field}: {REFUSED_FIELDS[field]}"


@pytest.mark.parametrize("field", sorted(TRANSLATED_SAMPLES))
def test_each_translated_field_reaches_the_request(field: str) -> None:
    value, expected = TRANSLATED_SAMPLES[field]
    assert to_messages_request({**BASE, field: value}, "claude") == {**BASELINE, **expected}


@pytest.mark.parametrize(("field", "value"), [(f, v) for f, values in NEUTRAL_VALUES.items() for v in values])
def test_neutral_values_and_nulls_pass_as_absent(field: str, value: Any) -> None:
    assert to_messages_request({**BASE, field: value}, "claude") == BASELINE
    assert to_messages_request({**BASE, field: None}, "claude") == BASELINE


def test_fields_outside_openais_set_are_refused() -> None:
    """allow_extra_fields lets a client send e.g. top_k; the Anthropic side does not drop it unseen."""
    error = refused({**BASE, "top_k": 5})
    assert error.field == "top_k" and "not an OpenAI chat field" in error.reason


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"messages": [{"role": "user", "content": "x", "name": "alice"}]}, "messages[0].name"),
        (
            {"messages": [{"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}}]},
            "messages[0].function_call",
        ),
        ({"messages": [{"role": "assistant", "audio": {"id": "audio_1"}}]}, "messages[0].audio"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "low"}}],
                    }
                ]
            },
            "messages[0].content[0].image_url.detail",
        ),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice"),
        ({"user": "u", "safety_identifier": "s"}, "safety_identifier"),
        ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "messages[0].role"),
        (
            {"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}]},
            "messages[0].content[0]",
        ),
    ],
)
def test_nested_fields_anthropic_has_no_place_for_are_refused(changes: dict[str, Any], field: str) -> None:
    assert refused({**BASE, **changes}).field == field


def test_same_user_and_safety_identifier_is_one_user_id() -> None:
    body = to_messages_request({**BASE, "user": "u", "safety_identifier": "u"}, "claude")
    assert body["metadata"] == {"user_id": "u"}


# --- round trips through both directions, over the shared tables -------------------------------------


@pytest.mark.parametrize("finish", sorted(set(FINISH_REASONS.values())))
def test_finish_reason_round_trips(finish: str) -> None:
    assert finish_reason(stop_reason(finish)) == finish


@pytest.mark.parametrize("stop", sorted(FINISH_REASONS))
def test_stop_reason_round_trips_to_its_preferred_form(stop: str) -> None:
    back = stop_reason(finish_reason(stop))
    assert FINISH_REASONS[back] == FINISH_REASONS[stop]
    assert back == STOP_REASONS[FINISH_REASONS[stop]]


@pytest.mark.parametrize("stop", sorted(FINISH_REASONS))
def test_answer_round_trip_anthropic_openai_anthropic(stop: str) -> None:
    answer = {
        "type": "message",
        "id": "msg_1",
        "model": "claude",
        "content": [
            {"type": "text", "text": "Hi"},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
        ],
        "stop_reason": stop,
        "usage": {"input_tokens": 3, "output_tokens": 4},
    }
    back = to_anthropic_response(to_chat_completion(json.dumps(answer).encode()), "claude")
    assert back["content"] == answer["content"]
    assert back["stop_reason"] == STOP_REASONS[FINISH_REASONS[stop]]
    assert back["usage"] == answer["usage"] and back["id"] == "msg_1"


@pytest.mark.parametrize("mode", sorted(TOOL_CHOICE_MODES))
@pytest.mark.parametrize("parallel", [None, True])
def test_tool_choice_round_trips_anthropic_openai_anthropic(mode: str, parallel: bool | None) -> None:
    choice: dict[str, Any] = {"type": mode}
    if parallel is not None:
        choice["disable_parallel_tool_use"] = parallel
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tools": tools}
    back = to_messages_request(to_openai_request({**body, "tool_choice": choice}), "m")
    # Anthropic ignores disable_parallel_tool_use with "none": it is not sent back.
    expected = {"type": mode} if mode == "none" or not parallel else choice
    assert back["tool_choice"] == expected


def test_request_round_trip_openai_anthropic_openai() -> None:
    original = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"city":"Oslo"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "18C"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "And"},
                    {"type": "image_url", "image_url": {"url": "https://x/a.png"}},
                ],
            },
        ],
        "max_tokens": 50,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": ["END"],
        "tools": [
            {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "user": "u",
        "stream": True,
    }
    back = to_openai_request(to_messages_request(original, "m"))
    assert back == {**original, "stream_options": {"include_usage": True}}


@pytest.mark.parametrize("kind", sorted(ERROR_STATUSES))
def test_error_type_and_status_round_trip(kind: str) -> None:
    assert error_type(ERROR_STATUSES[kind]) == kind
    assert set(ERROR_TYPES.values()) <= set(ERROR_STATUSES)


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_strict_tool_schema_is_kept_as_anthropic_strict_tool_use() -> None:
    # The OpenAI Agents SDK sends strict tools by default: they must work on an Anthropic backend.
    body = {**BASE, "tools": [{"type": "function", "function": {"name": "f", "strict": True, "parameters": SCHEMA}}]}
    tool = to_messages_request(body, "claude")["tools"][0]
    assert tool == {"name": "f", "input_schema": SCHEMA, "strict": True}
