"""OpenAI's Responses API request (CreateResponse) as msgspec structs: the parts Onshore accepts.

Decoding validates: nested objects reject unknown keys, so nothing the later stages did not see can
pass. Input items and tools are dispatched on their `type` by the translator (inbound.py), so a
hosted tool or a stateful item is refused by its name rather than as a shape error.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

# Top-level properties of CreateResponse in OpenAI's OpenAPI document (a test checks this set).
# How Onshore treats each is decided in inbound.py: translated, forced, or refused by name.
DOCUMENTED_FIELDS = frozenset(
    {
        "background",
        "context_management",
        "conversation",
        "include",
        "input",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "metadata",
        "model",
        "moderation",
        "parallel_tool_calls",
        "previous_response_id",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    }
)


class _Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


# --- content parts ---------------------------------------------------------------------------------


class InputText(_Strict, tag="input_text", tag_field="type"):
    text: str


class OutputText(_Strict, tag="output_text", tag_field="type"):
    """An earlier answer's text, sent back as history."""

    text: str
    annotations: list[Any] | None = None
    logprobs: list[Any] | None = None


class RefusalText(_Strict, tag="refusal", tag_field="type"):
    refusal: str


class InputImage(_Strict, tag="input_image", tag_field="type"):
    image_url: str | None = None
    file_id: str | None = None
    detail: Literal["auto", "low", "high", "original"] | None = None


Part = InputText | OutputText | RefusalText | InputImage


# --- input items -----------------------------------------------------------------------------------


class Message(_Strict):
    """EasyInputMessage, InputMessage and (as history) OutputMessage: their union, by role."""

    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[Part]
    type: Literal["message"] = "message"
    id: str | None = None
    status: Literal["in_progress", "completed", "incomplete"] | None = None
    phase: Any = None


class FunctionCall(_Strict):
    """A function call the model made earlier (history), to be answered by a function_call_output."""

    call_id: Annotated[str, msgspec.Meta(min_length=1)]
    name: Annotated[str, msgspec.Meta(min_length=1)]
    arguments: str
    type: Literal["function_call"] = "function_call"
    id: str | None = None
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class FunctionCallOutput(_Strict):
    call_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    output: str | list[Part]
    type: Literal["function_call_output"] = "function_call_output"
    id: str | None = None
    status: Literal["in_progress", "completed", "incomplete"] | None = None


Item = Message | FunctionCall | FunctionCallOutput
ITEMS: dict[str, type[msgspec.Struct]] = {
    "message": Message,
    "function_call": FunctionCall,
    "function_call_output": FunctionCallOutput,
}


# --- tools, tool choice, text format ---------------------------------------------------------------


class FunctionTool(_Strict):
    """Responses' flat function tool (chat nests the same fields under `function`)."""

    name: Annotated[str, msgspec.Meta(min_length=1)]
    type: Literal["function"] = "function"
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolChoiceFunction(_Strict):
    type: Literal["function"]
    name: Annotated[str, msgspec.Meta(min_length=1)]


class FormatText(_Strict, tag="text", tag_field="type"):
    pass


class FormatJsonObject(_Strict, tag="json_object", tag_field="type"):
    pass


class FormatJsonSchema(_Strict, tag="json_schema", tag_field="type"):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    schema: dict[str, Any]
    description: str | None = None
    strict: bool | None = None


class TextParam(_Strict):
    format: FormatText | FormatJsonObject | FormatJsonSchema | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class StreamOptions(_Strict):
    include_obfuscation: bool | None = None


Temperature = Annotated[float, msgspec.Meta(ge=0, le=2)]
Probability = Annotated[float, msgspec.Meta(ge=0, le=1)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
Metadata = Annotated[
    dict[Annotated[str, msgspec.Meta(max_length=64)], Annotated[str, msgspec.Meta(max_length=512)]],
    msgspec.Meta(max_length=16),
]


class CreateResponse(msgspec.Struct, omit_defaults=True):
    """The fields Onshore translates or forces; the refused ones are checked by name before this."""

    model: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    input: str | Annotated[list[dict[str, Any]], msgspec.Meta(min_length=1)]
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Literal["none", "auto", "required"] | ToolChoiceFunction | None = None
    max_output_tokens: PositiveInt | None = None
    temperature: Temperature | None = None
    top_p: Probability | None = None
    parallel_tool_calls: bool | None = None
    text: TextParam | None = None
    metadata: Metadata | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    store: bool | None = None
    previous_response_id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None
    truncation: Literal["disabled"] | None = None
    user: str | None = None
    safety_identifier: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    prompt_cache_key: str | None = None
