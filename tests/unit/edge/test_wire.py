from __future__ import annotations

import pytest

from onshore.edge.wire import (
    CHAT_FIELDS,
    EMBEDDING_FIELDS,
    ChatRequest,
    EmbeddingRequest,
    decode_json_object,
    fields_to_opt_in,
    validate,
)
from onshore.refusal import Kind, Refusal
from onshore.route.sse import EventSplitter
from tests.openapi import schema_properties


def test_documented_fields_match_openai_spec() -> None:
    assert schema_properties("CreateChatCompletionRequest") == CHAT_FIELDS
    assert schema_properties("CreateEmbeddingRequest") == EMBEDDING_FIELDS


def test_message_roles_match_spec() -> None:
    from tests.openapi import _spec

    variants = _spec()["components"]["schemas"]["ChatCompletionRequestMessage"]["oneOf"]
    names = {v["$ref"].rsplit("/", 1)[-1] for v in variants}
    assert names == {
        f"ChatCompletionRequest{r}Message" for r in ("Developer", "System", "User", "Assistant", "Tool", "Function")
    }


def problem(body: dict[str, object], schema: type = ChatRequest) -> Refusal:
    with pytest.raises(Refusal) as info:
        validate(body, schema)
    return info.value


def test_missing_messages_names_field() -> None:
    error = problem({"model": "m"})
    assert error.kind is Kind.MISSING_PARAMETER and error.param == "messages"
    assert error.kind.code == "missing_required_parameter"


def test_bad_nested_type_names_path() -> None:
    error = problem({"model": "m", "messages": [{"role": "user", "content": 5}]})
    assert error.param == "messages[0].content"


def test_unknown_nested_key_is_refused() -> None:
    error = problem({"model": "m", "messages": [{"role": "user", "content": "x", "secret_field": "y"}]})
    assert error.param == "messages[0].secret_field"
    assert error.kind is Kind.UNSUPPORTED_PARAMETER


def test_ranges() -> None:
    assert problem({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 3}).param == (
        "temperature"
    )
    assert problem({"model": "m", "messages": []}).param == "messages"


def test_content_parts_and_tools_validate() -> None:
    validate(
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:,x"}}],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "1", "content": "result"},
            ],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        },
        ChatRequest,
    )


def test_embedding_input_forms() -> None:
    for value in ("x", ["a", "b"], [1, 2], [[1, 2]]):
        validate({"model": "m", "input": value}, EmbeddingRequest)
    assert problem({"model": "m", "input": ""}, EmbeddingRequest).param == "input"


def test_fields_that_need_the_models_opt_in() -> None:
    assert fields_to_opt_in({"model": "m", "top_k": 5}, CHAT_FIELDS) == ((), ("top_k",))
    # Beyond the backend's declared facts only when switched on; documented, so not "undocumented".
    assert fields_to_opt_in({"model": "m", "store": True, "web_search_options": None}, CHAT_FIELDS) == (("store",), ())
    assert fields_to_opt_in({"model": "m", "store": False}, CHAT_FIELDS) == ((), ())


@pytest.mark.parametrize("raw", [b"", b"{", b"[1,2]", b'"x"', b"\xff\xfe"])
def test_malformed_bodies(raw: bytes) -> None:
    with pytest.raises(Refusal) as info:
        decode_json_object(raw)
    assert info.value.kind is Kind.INVALID_JSON


def test_sse_splitter_handles_any_chunking() -> None:
    stream = b'data: {"a":1}\n\n: keep-alive\n\ndata: {"b":2}\r\n\r\ndata: [DONE]\n\n'
    for size in range(1, len(stream) + 1):
        splitter = EventSplitter()
        events: list[bytes] = []
        for i in range(0, len(stream), size):
            events += splitter.feed(stream[i : i + size])
        assert events == [b'{"a":1}', b'{"b":2}', b"[DONE]"], size
