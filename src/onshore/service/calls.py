"""A model request as the edge read it: the body parsed and validated once, into a frozen value.

What the body got wrong is carried, not raised: the service reports it only after identifying the
caller (an unauthenticated malformed request gets 401), and in the order the checks always ran.
"""

from __future__ import annotations

from typing import Any

import msgspec

from onshore.refusal import Refusal
from onshore.service.ports import Dialect


class Call(msgspec.Struct, frozen=True):
    """A msgspec Struct, not a dataclass: built once per request, and a frozen dataclass costs ~8x to build."""

    # As recorded: "chat", "anthropic"/"responses" (chat in those dialects), "completions" (legacy text),
    # "count_tokens" (Anthropic's token count) or "embeddings".
    endpoint: str
    dialect: Dialect
    authorization: str | None
    data_class: str | None  # the Onshore-Data-Class header as sent, if it was
    size: int  # bytes of the raw body
    sha256: str  # of the raw body
    body: dict[str, Any]  # an OpenAI request body ({} when unreadable)
    model: str  # the requested model ("" when unreadable)
    unreadable: Refusal | None = None  # the body is not a request: reported right after identify
    invalid: Refusal | None = None  # the body breaks the schema: reported once the model is checked
    beyond_facts: tuple[str, ...] = ()  # switched-on fields that pass only if the model opts in
    undocumented: tuple[str, ...] = ()  # top-level fields outside OpenAI's documented set


class ChatCall(Call, frozen=True):
    stream: bool = False
    wants_usage: bool = False  # the stream ends with a usage chunk (asked for, or the dialect needs it)


class EmbeddingsCall(Call, frozen=True):
    dimensions: int | None = None  # as asked: honoured only where the model's config says it can be
    base64: bool = False  # encoding_format "base64": the gateway encodes (the upstream is asked for floats)
