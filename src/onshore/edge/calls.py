"""Read a model request's body once into the frozen call the service consumes (service/calls.py).

JSON decoding and the schema check happen here, once. A problem is kept in the call rather than
raised, so the service can report it in the order the checks always ran (after authentication).
"""

from __future__ import annotations

import hashlib

from onshore.edge.dialects import ANTHROPIC, OPENAI, EdgeDialect
from onshore.edge.wire import (
    CHAT_FIELDS,
    COMPLETION_FIELDS,
    EMBEDDING_FIELDS,
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    fields_to_opt_in,
    requested_model,
    validate,
)
from onshore.refusal import Refusal
from onshore.service.calls import ChatCall, EmbeddingsCall


def chat_call(raw: bytes, dialect: EdgeDialect, authorization: str | None, data_class: str | None) -> ChatCall:
    return _text_call(raw, dialect.chat_endpoint, dialect, CHAT_FIELDS, ChatRequest, authorization, data_class)


def completion_call(raw: bytes, authorization: str | None, data_class: str | None) -> ChatCall:
    """A legacy text completion (/v1/completions): checked against CreateCompletionRequest."""
    return _text_call(raw, "completions", OPENAI, COMPLETION_FIELDS, CompletionRequest, authorization, data_class)


def _text_call(
    raw: bytes,
    endpoint: str,
    dialect: EdgeDialect,
    documented: frozenset[str],
    schema: type[ChatRequest] | type[CompletionRequest],
    authorization: str | None,
    data_class: str | None,
) -> ChatCall:
    """A request answered with text, whole or streamed (chat, completions): parsed, then checked once."""
    head = (endpoint, dialect, authorization, data_class, len(raw), hashlib.sha256(raw).hexdigest())
    try:
        body = dialect.parse(raw)
        model = requested_model(body)
    except Refusal as refusal:
        return ChatCall(*head, {}, "", unreadable=refusal)
    beyond, undocumented = fields_to_opt_in(body, documented)
    try:
        request = validate(body, schema)
    except Refusal as refusal:
        return ChatCall(*head, body, model, invalid=refusal, beyond_facts=beyond, undocumented=undocumented)
    asked_usage = bool(request.stream_options and request.stream_options.include_usage)
    return ChatCall(
        *head,
        body,
        model,
        beyond_facts=beyond,
        undocumented=undocumented,
        stream=bool(request.stream),
        wants_usage=asked_usage or dialect.streams_usage,
    )


def count_tokens_call(raw: bytes, authorization: str | None, data_class: str | None) -> ChatCall:
    """An Anthropic token-count request: its prompt as an OpenAI chat body, checked like a chat request."""
    head = ("count_tokens", ANTHROPIC, authorization, data_class, len(raw), hashlib.sha256(raw).hexdigest())
    try:
        body = ANTHROPIC.parse_count(raw)
        model = requested_model(body)
    except Refusal as refusal:
        return ChatCall(*head, {}, "", unreadable=refusal)
    try:
        validate(body, ChatRequest)
    except Refusal as refusal:
        return ChatCall(*head, body, model, invalid=refusal)
    return ChatCall(*head, body, model)


def embeddings_call(raw: bytes, authorization: str | None, data_class: str | None) -> EmbeddingsCall:
    head = ("embeddings", OPENAI, authorization, data_class, len(raw), hashlib.sha256(raw).hexdigest())
    try:
        body = OPENAI.parse(raw)
        model = requested_model(body)
    except Refusal as refusal:
        return EmbeddingsCall(*head, {}, "", unreadable=refusal)
    beyond, undocumented = fields_to_opt_in(body, EMBEDDING_FIELDS)
    try:
        request = validate(body, EmbeddingRequest)
    except Refusal as refusal:
        return EmbeddingsCall(*head, body, model, invalid=refusal, beyond_facts=beyond, undocumented=undocumented)
    if "encoding_format" in body:  # the gateway encodes: every backend is asked for floats
        body = {k: v for k, v in body.items() if k != "encoding_format"}
    return EmbeddingsCall(
        *head,
        body,
        model,
        beyond_facts=beyond,
        undocumented=undocumented,
        dimensions=request.dimensions,
        base64=request.encoding_format == "base64",
    )
