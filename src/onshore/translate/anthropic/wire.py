"""Anthropic's Messages API wire formats as msgspec structs: decoding validates them.

Requests from clients are checked field by field (a failure names the field's path). Blocks, tools
and tool_choice ignore keys they do not read (cache_control, citations ...), as Anthropic adds them
often; the request and its messages reject unknown keys, so nothing a client sends is dropped
unseen. Answers and stream events from backends are read leniently: block and event kinds added
later decode as the generic shapes and are skipped by kind.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
# An int stays an int (the bytes forwarded are the client's), a float stays a float.
UnitInterval = Annotated[int, msgspec.Meta(ge=0, le=1)] | Annotated[float, msgspec.Meta(ge=0, le=1)]
# A block's missing `type` is reported at the block itself: the block does not say what it is.
TAG_FIELD = "type"


class _Open(msgspec.Struct):
    """Unknown keys are ignored."""


class _Closed(msgspec.Struct, forbid_unknown_fields=True):
    """Unknown keys are an error naming them."""


# --- request: content blocks ----------------------------------------------------------------------


class TextBlock(_Open, tag="text", tag_field="type"):
    text: str


class Base64Source(_Open, tag="base64", tag_field="type"):
    media_type: str
    data: str


class UrlSource(_Open, tag="url", tag_field="type"):
    url: str


class ImageBlock(_Open, tag="image", tag_field="type"):
    source: Base64Source | UrlSource


class ToolResultBlock(_Open, tag="tool_result", tag_field="type"):
    tool_use_id: NonEmpty
    content: str | list[TextBlock | ImageBlock] | None = None
    is_error: bool | None = None


class ToolUseBlock(_Open, tag="tool_use", tag_field="type"):
    id: str
    name: str
    input: dict[str, Any] | None = None


class ThinkingBlock(_Open, tag="thinking", tag_field="type"):
    pass


class RedactedThinkingBlock(_Open, tag="redacted_thinking", tag_field="type"):
    pass


UserBlock = TextBlock | ImageBlock | ToolResultBlock
AssistantBlock = TextBlock | ToolUseBlock | ThinkingBlock | RedactedThinkingBlock


class SystemBlock(_Open):
    # Untagged: a block of another kind is refused at the block, with a message saying why.
    type: str
    text: str | None = None


# --- request: messages, tools, tool_choice, the request ---------------------------------------------


class UserMessage(_Closed, tag="user", tag_field="role"):
    content: str | list[UserBlock]


class AssistantMessage(_Closed, tag="assistant", tag_field="role"):
    content: str | list[AssistantBlock]


class Tool(_Open):
    name: NonEmpty
    input_schema: dict[str, Any]
    type: Literal["custom"] | None = None  # server tools (web search ...) are refused
    description: str | None = None


class ToolChoiceAuto(_Open, tag="auto", tag_field="type"):
    disable_parallel_tool_use: bool | None = None


class ToolChoiceAny(_Open, tag="any", tag_field="type"):
    disable_parallel_tool_use: bool | None = None


class ToolChoiceNone(_Open, tag="none", tag_field="type"):
    disable_parallel_tool_use: bool | None = None


class ToolChoiceTool(_Open, tag="tool", tag_field="type"):
    name: NonEmpty
    disable_parallel_tool_use: bool | None = None


ToolChoice = ToolChoiceAuto | ToolChoiceAny | ToolChoiceNone | ToolChoiceTool


class Metadata(_Closed):
    user_id: str | None = None


class CacheControl(_Closed):
    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None


class CountTokensRequest(_Closed):
    """The fields of Anthropic's token-count request that Onshore translates (no max_tokens: nothing
    is generated)."""

    model: NonEmpty
    messages: Annotated[list[UserMessage | AssistantMessage], msgspec.Meta(min_length=1)]
    system: str | list[SystemBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    cache_control: CacheControl | None = None


class MessagesRequest(_Closed):
    """The fields of Anthropic's Messages request that Onshore translates."""

    model: NonEmpty
    max_tokens: PositiveInt
    messages: Annotated[list[UserMessage | AssistantMessage], msgspec.Meta(min_length=1)]
    system: str | list[SystemBlock] | None = None
    metadata: Metadata | None = None
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    temperature: UnitInterval | None = None
    top_p: UnitInterval | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    cache_control: CacheControl | None = None


REQUEST_FIELDS = frozenset(field.encode_name for field in msgspec.structs.fields(MessagesRequest))
COUNT_FIELDS = frozenset(field.encode_name for field in msgspec.structs.fields(CountTokensRequest))


# --- answers and stream events from a backend -------------------------------------------------------


class Usage(_Open):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class Block(_Open):
    """Any content block of an answer; kinds Onshore does not translate are skipped by `type`."""

    type: str
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: Any = None


class Message(_Open):
    """An answer. `type` and `content` are optional here so that their absence gets its own message."""

    type: str | None = None
    content: list[Block] | None = None
    id: str | None = None
    model: str | None = None
    stop_reason: str | None = None
    usage: Usage | None = None


class Delta(_Open):
    """A content_block_delta's delta (`type` set) or a message_delta's delta (`stop_reason`)."""

    type: str | None = None
    text: str | None = None
    partial_json: str | None = None
    stop_reason: str | None = None


class ErrorDetail(_Open):
    type: str | None = None
    message: str | None = None


class StreamEvent(_Open):
    """Any stream event; `type` names it, and each kind carries some of the other fields."""

    type: str
    index: int | None = None
    message: Message | None = None
    content_block: Block | None = None
    delta: Delta | None = None
    usage: Usage | None = None
    error: ErrorDetail | None = None


class ErrorBody(_Open, tag="error", tag_field="type"):
    """Anthropic's error body: {"type": "error", "error": {"type": ..., "message": ...}}."""

    error: ErrorDetail


def problem_at(exc: msgspec.ValidationError) -> tuple[str, str]:
    """(the path msgspec names, without `$`, and its description of the problem)."""
    message = str(exc)
    marker = " - at `$"
    index = message.rfind(marker)
    if index < 0:
        return "", message
    return message[index + len(marker) : -1].lstrip("."), message[:index]


def join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field
