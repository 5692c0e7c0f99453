"""OpenAI's Responses API through the real gateway, with the official openai SDK, onto chat backends.

Every answer is checked against OpenAI's published `Response` schema and every streamed event
against `ResponseStreamEvent`; what reaches the (recording) upstream proves the residency rules.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx2 as httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai._legacy_response import LegacyAPIResponse
from openai.types.responses import Response

from tests.e2e.conftest import World
from tests.e2e.test_chat import receipt_claims
from tests.e2e.test_protect import PROMPT, VALUES, last_record, sent_to
from tests.openapi import validate
from tests.support import fuzz
from tests.support.upstream import Behaviour

TOOL: dict[str, Any] = {
    "type": "function",
    "name": "lookup",
    "description": "Look something up",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    "strict": False,
}


def respond(w: World, key: str | None = None, **params: Any) -> Response:
    """`responses.create` with untyped params: the tests send shapes the SDK's types do not offer."""
    response: Response = w.client(key).responses.create(**params)
    return response


def respond_raw(w: World, key: str | None = None, **params: Any) -> LegacyAPIResponse[Response]:
    raw: LegacyAPIResponse[Response] = w.client(key).responses.with_raw_response.create(**params)
    return raw


def stream_events(w: World, key: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], bytes, str]:
    return responses_stream(w.gateway.url, key, body)


def responses_stream(url: str, key: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], bytes, str]:
    """The raw stream: its events (each checked against the schema), its bytes, and the header receipt."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.stream("POST", url + "/v1/responses", json=body, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        receipt = response.headers["onshore-receipt"]
        raw = b"".join(response.iter_raw())
    events = []
    for frame in (f for f in raw.split(b"\n\n") if f and not f.startswith(b":")):
        name, data = frame.split(b"\n", 1)
        event = json.loads(data.removeprefix(b"data: "))
        assert name == b"event: " + event["type"].encode()
        validate(event, "ResponseStreamEvent")
        events.append(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events, raw, receipt


def test_text_answer_is_a_valid_response_and_upstream_sees_a_chat_request(w: World) -> None:
    raw = respond_raw(
        w, model="chat", input="Hello there", instructions="Be brief.", metadata={"ticket": "T-1"}, max_output_tokens=50
    )
    document = json.loads(raw.content)
    validate(document, "Response")
    response = raw.parse()
    assert response.output_text == "Hello from upstream"
    assert response.status == "completed" and response.model == "chat"
    assert response.metadata == {"ticket": "T-1"} and response.instructions == "Be brief."
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (4, 3, 7)
    (sent,) = w.us.received
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
    assert sent["store"] is False and sent["max_tokens"] == 50
    assert "metadata" not in sent  # kept by Onshore, not forwarded
    claims = receipt_claims(w, raw.headers["onshore-receipt"])
    assert claims["response_sha256"] == hashlib.sha256(raw.content).hexdigest()
    record = last_record(w)
    assert record["endpoint"] == "responses" and record["status"] == 200


def test_content_parts_and_history_items_are_translated(w: World) -> None:
    response = respond(
        w,
        model="chat",
        input=[
            {"role": "developer", "content": [{"type": "input_text", "text": "Answer in English."}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello!"}]},
            {"role": "user", "content": "How are you?"},
        ],
        temperature=0.2,
        top_p=0.9,
        text={"format": {"type": "json_schema", "name": "mood", "schema": {"type": "object"}}},
    )
    assert response.output_text == "Hello from upstream"
    sent = w.us.received[0]
    assert sent["messages"] == [
        {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "How are you?"},
    ]
    assert (sent["temperature"], sent["top_p"]) == (0.2, 0.9)
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "mood", "schema": {"type": "object"}},
    }


def test_streamed_answer_has_the_typed_events_in_order(w: World) -> None:
    events, raw, receipt = stream_events(w, w.public_key, {"model": "chat", "input": "Hello", "stream": True})
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 3,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = events[-1]["response"]
    validate(final, "Response")
    assert final["status"] == "completed"
    assert final["output"][0]["content"][0]["text"] == "w0 w1 w2 "
    assert final["usage"]["output_tokens"] == 3 and final["usage"]["total_tokens"] == final["usage"]["input_tokens"] + 3
    assert events[0]["response"]["id"] == final["id"]
    assert w.us.received[0]["stream_options"] == {"include_usage": True} and w.us.received[0]["store"] is False
    # The final receipt is a comment after response.completed, covering every byte sent before it.
    assert raw.rstrip().rsplit(b"\n\n", 1)[-1].startswith(b": onshore-receipt ")
    final_receipt = receipt_claims(w, raw.rstrip().rsplit(b"\n\n", 1)[-1].split(b" ", 2)[2].decode())
    assert final_receipt["response_sha256"] == hashlib.sha256(raw[: raw.index(b": onshore-receipt")]).hexdigest()
    assert final_receipt["jti"] == receipt_claims(w, receipt)["jti"]


def test_the_sdk_reads_the_stream(w: World) -> None:
    events = list(w.client().responses.create(model="chat", input="Hello", stream=True))
    assert events[-1].type == "response.completed" and events[-1].response.output_text == "w0 w1 w2 "
    assert events[-1].response.usage is not None and events[-1].response.usage.output_tokens == 3
    with w.client().responses.stream(model="chat", input="Hello") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "w0 w1 w2 " == final.output_text


def test_function_tool_round_trip(w: World) -> None:
    w.us.behaviour.tool_call = True
    raw = respond_raw(
        w,
        model="chat",
        input="Weather in Tokyo?",
        tools=[TOOL],
        tool_choice="auto",
        parallel_tool_calls=False,
    )
    validate(json.loads(raw.content), "Response")
    first = raw.parse()
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert (call.name, call.call_id, json.loads(call.arguments)) == ("lookup", "call_1", {"q": "weather"})
    sent = w.us.received[0]
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Look something up",
                "parameters": TOOL["parameters"],
                "strict": False,
            },
        }
    ]
    assert (sent["tool_choice"], sent["parallel_tool_calls"]) == ("auto", False)

    w.us.behaviour.tool_call = False
    second = respond(
        w,
        model="chat",
        input=[
            {"role": "user", "content": "Weather in Tokyo?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny, 21C"},
        ],
        tools=[TOOL],
        tool_choice={"type": "function", "name": "lookup"},
    )
    assert second.output_text == "Hello from upstream"
    messages = w.us.received[1]["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": call.arguments}}
        ],
    }
    assert messages[2] == {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21C"}
    assert w.us.received[1]["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}


def test_store_true_is_forced_false_upstream(w: World) -> None:
    respond(w, model="chat", input="Hello", store=True)
    respond(w, model="chat", input="Hello")
    assert [sent["store"] for sent in w.us.received] == [False, False]


HOSTED = [
    {"type": "web_search"},
    {"type": "web_search_preview"},
    {"type": "file_search", "vector_store_ids": ["vs_1"]},
    {"type": "code_interpreter", "container": {"type": "auto"}},
    {"type": "computer_use_preview", "display_width": 1, "display_height": 1, "environment": "linux"},
    {"type": "mcp", "server_label": "x", "server_url": "https://mcp.example.com"},
    {"type": "image_generation"},
]


@pytest.mark.parametrize("tool", HOSTED, ids=lambda t: str(t["type"]))
def test_hosted_tools_are_refused_by_name(w: World, tool: dict[str, Any]) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        respond(w, model="chat", input="Hello", tools=[tool])
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == "tools[0].type"
    assert f"'{tool['type']}'" in error["message"] and "residency policy" in error["message"]
    assert not w.us.received and not w.jp1.received


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("background", True, "kept at the provider"),
        ("conversation", "conv_123", "chain turns with 'previous_response_id'"),
        ("reasoning", {"effort": "low"}, "not supported"),
        ("prompt_cache_retention", "24h", "not supported"),
        ("no_such_field", 1, "not part of OpenAI's documented request format"),
    ],
)
def test_stateful_and_unsupported_fields_are_refused_by_name(w: World, field: str, value: Any, says: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        respond(w, model="chat", input="Hello", extra_body={field: value})
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == field and says in error["message"]
    assert not w.us.received
    assert last_record(w)["endpoint"] == "responses"  # refusals are recorded too


def test_malformed_input_names_the_field(w: World) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        respond(
            w,
            model="chat",
            input=[{"role": "user", "content": [{"type": "input_text", "text": "hi", "extra": 1}]}],
        )
    assert isinstance(caught.value.body, dict) and caught.value.body["param"] == "input[0].content[0].extra"


def test_retrieve_and_delete_find_nothing_for_an_unknown_id(w: World) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        w.client().responses.retrieve("resp_123")
    assert isinstance(caught.value.body, dict) and "'resp_123' not found" in caught.value.body["message"]
    with pytest.raises(openai.NotFoundError):
        w.client().responses.delete("resp_123")
    with (
        openai.OpenAI(base_url=w.gateway.url + "/v1", api_key="bad", max_retries=0) as bad,
        pytest.raises(openai.AuthenticationError),
    ):
        bad.responses.retrieve("resp_123")


def test_personal_data_is_pseudonymised_upstream_and_restored_in_the_response(w: World) -> None:
    w.us.behaviour.echo = True
    response = respond(w, w.globex_key, model="chat", input=PROMPT)
    seen = sent_to(w.us.received)
    for value in VALUES:
        assert value not in seen
    assert "[[PHONE_1]]" in seen
    assert response.output_text == PROMPT
    record = last_record(w)
    assert record["personal_data"]["pseudonymised_for"] == ["us-cloud"]
    assert not any(value in json.dumps(record, ensure_ascii=False) for value in VALUES)


@pytest.mark.parametrize("chunk_chars", [1, 5, 50])
def test_personal_data_is_restored_in_the_stream(w: World, chunk_chars: int) -> None:
    w.us.behaviour.echo = True
    w.us.behaviour.chunk_chars = chunk_chars
    events, _, _ = stream_events(w, w.globex_key, {"model": "chat", "input": PROMPT, "stream": True})
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == PROMPT
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == PROMPT
    for value in VALUES:
        assert value not in sent_to(w.us.received)


def test_stream_is_recorded_open_and_closed(w: World) -> None:
    stream_events(w, w.public_key, {"model": "chat", "input": "Hello", "stream": True})
    record = last_record(w)
    assert record["endpoint"] == "responses" and record["kind"] == "stream_close" and record["outcome"] == "completed"
    assert record["usage"]["completion_tokens"] == 3


# --- fuzz: generated Responses requests are answered or refused in shape, never a 5xx ----------------
SKIPPED = frozenset(
    {
        "background",
        "context_management",
        "conversation",
        "include",
        "max_tool_calls",
        "moderation",
        "previous_response_id",
        "prompt",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning",
        "service_tier",
        "stream_options",
        "tool_choice",
        "tools",
        "top_logprobs",
        "truncation",
    }
)


_INPUTS = st.one_of(
    fuzz.texts(),
    st.lists(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "system", "developer", "assistant"]), "content": fuzz.texts()}
        ),
        min_size=1,
        max_size=3,
    ),
)


def _documents(served: bool) -> st.SearchStrategy[Any]:
    """CreateResponse documents: `served` keeps to the fields Onshore translates, with a model and an
    input (the schema requires neither), so many reach 2xx."""
    model = st.sampled_from(["chat", "us-only"]) if served else st.sampled_from(["chat", "embed", "nope"])
    overrides: dict[str, st.SearchStrategy[Any]] = {"model": model, "max_output_tokens": st.integers(1, 64)}
    walker = fuzz.Walker(fuzz.openai_resolve, overrides, SKIPPED if served else frozenset())
    documents = walker.of({"$ref": "#/components/schemas/CreateResponse"})
    if not served:
        return documents
    return st.tuples(documents, model, _INPUTS).map(lambda t: {**t[0], "model": t[1], "input": t[2]})


def _check_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text[:500]
    if response.status_code != 200:
        assert response.headers["content-type"].startswith("application/json")
        validate(response.json(), "ErrorResponse")
        return
    if not response.headers["content-type"].startswith("text/event-stream"):
        validate(response.json(), "Response")
        return
    events = []
    for frame in (f for f in response.content.split(b"\n\n") if f and not f.startswith(b":")):
        event = json.loads(frame.split(b"\n", 1)[1].removeprefix(b"data: "))
        validate(event, "ResponseStreamEvent")
        events.append(event)
    assert events[-1]["type"] in ("response.completed", "response.incomplete"), events[-1]


def test_fuzz_responses(w: World) -> None:
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=150,
        deadline=timedelta(seconds=10),
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        document=st.one_of(_documents(True), _documents(True), _documents(False), fuzz.mutated(_documents(True))),
        key=st.sampled_from([w.public_key, w.globex_key, w.personal_key]),
        stream=st.booleans(),
    )
    def run(document: Any, key: str, stream: bool) -> None:
        w.us.behaviour = Behaviour(echo=True, chunk_chars=3)
        if stream and isinstance(document, dict):
            document["stream"] = True
        body = fuzz.encode(document, ascii_only=True)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        response = httpx.post(w.gateway.url + "/v1/responses", content=body, headers=headers, timeout=20)
        statuses[response.status_code] += 1
        _check_answer(response)

    run()
    print(f"\nresponses fuzz: statuses {dict(statuses)}")
    assert statuses[200] >= 30, statuses  # the generated requests reach the upstream, not only refusals
