"""The edge reads a body once into a frozen call, keeping what is wrong with it for the service to
report in order (after authentication): unreadable first, then the model, then the schema."""

from __future__ import annotations

import hashlib

import msgspec
import pytest

from onshore.edge.calls import chat_call, embeddings_call
from onshore.edge.dialects import ANTHROPIC, OPENAI
from onshore.refusal import Kind

MESSAGES = [{"role": "user", "content": "hi"}]


def raw(document: object) -> bytes:
    return msgspec.json.encode(document)


def test_a_good_request_carries_what_the_service_needs() -> None:
    body = raw({"model": "chat", "messages": MESSAGES, "stream": True, "top_k": 3, "store": True})
    call = chat_call(body, OPENAI, "Bearer k", "personal")
    assert (call.endpoint, call.model, call.stream, call.wants_usage) == ("chat", "chat", True, False)
    assert (call.authorization, call.data_class, call.size) == ("Bearer k", "personal", len(body))
    assert call.sha256 == hashlib.sha256(body).hexdigest()
    assert (call.unreadable, call.invalid) == (None, None)
    assert (call.beyond_facts, call.undocumented) == (("store",), ("top_k",))
    with pytest.raises(AttributeError):
        call.model = "other"  # type: ignore[misc]


def test_usage_is_asked_for_or_needed_by_the_dialect() -> None:
    asked = {"model": "chat", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    assert chat_call(raw(asked), OPENAI, None, None).wants_usage
    anthropic = {"model": "chat", "max_tokens": 10, "messages": MESSAGES}
    call = chat_call(raw(anthropic), ANTHROPIC, None, None)
    assert (call.endpoint, call.wants_usage, call.unreadable) == ("anthropic", True, None)


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"{", Kind.INVALID_JSON),
        (raw({"messages": MESSAGES}), Kind.MISSING_PARAMETER),
        (raw({"model": 5}), Kind.INVALID_VALUE),
    ],
)
def test_a_body_that_is_no_request_is_unreadable(body: bytes, kind: Kind) -> None:
    call = chat_call(body, OPENAI, None, None)
    assert call.unreadable is not None and call.unreadable.kind is kind
    assert (call.body, call.model) == ({}, "")


def test_a_schema_problem_waits_for_the_model_check() -> None:
    call = chat_call(raw({"model": "chat", "messages": [], "top_k": 1}), OPENAI, None, None)
    assert call.unreadable is None and call.model == "chat"
    assert call.invalid is not None and call.invalid.param == "messages"
    assert call.undocumented == ("top_k",)  # the field check still runs first


def test_embeddings() -> None:
    call = embeddings_call(raw({"model": "embed", "input": "x"}), "Bearer k", None)
    assert (call.endpoint, call.model, call.invalid) == ("embeddings", "embed", None)
    bad = embeddings_call(raw({"model": "embed", "input": ""}), None, None)
    assert bad.invalid is not None and bad.invalid.param == "input"
