"""Wire models for inbound requests, checked against OpenAI's documented request schemas.

Bodies are decoded once to plain dicts (what is forwarded), then converted to these structs purely to
validate types and ranges with a precise field path. Only OpenAI-documented top-level fields pass
(the service checks the names `fields_to_opt_in` finds against the model's allow_extra_fields);
nested objects reject unknown keys, so nothing that later stages did not see leaves the gateway.
Every problem is a `Refusal`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import msgspec

from onshore.refusal import Kind, Refusal

# Top-level properties of CreateChatCompletionRequest / CreateEmbeddingRequest in OpenAI's OpenAPI
# document (tests check these sets against it).
CHAT_FIELDS = frozenset(
    {
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "messages",
        "metadata",
        "modalities",
        "model",
        "moderation",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)
EMBEDDING_FIELDS = frozenset({"dimensions", "encoding_format", "input", "model", "user"})
# CreateCompletionRequest (legacy text completions).
COMPLETION_FIELDS = frozenset(
    {
        "best_of",
        "echo",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "max_tokens",
        "model",
        "n",
        "presence_penalty",
        "prompt",
        "seed",
        "stop",
        "stream",
        "stream_options",
        "suffix",
        "temperature",
        "top_p",
        "user",
    }
)


class _Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class TextPart(_Strict, tag="text", tag_field="type"):
    text: str


class ImageUrl(_Strict):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Strict, tag="image_url", tag_field="type"):
    image_url: ImageUrl


class InputAudio(_Strict):
    data: str
    format: str


class AudioPart(_Strict, tag="input_audio", tag_field="type"):
    input_audio: InputAudio


class FileRef(_Strict):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class FilePart(_Strict, tag="file", tag_field="type"):
    file: FileRef


class RefusalPart(_Strict, tag="refusal", tag_field="type"):
    refusal: str


ContentPart = TextPart | ImagePart | AudioPart | FilePart | RefusalPart


class FunctionCall(_Strict):
    name: str
    arguments: str


class ToolCall(_Strict):
    id: str
    function: FunctionCall
    type: Literal["function"] = "function"


class AudioRef(_Strict):
    id: str


class Message(_Strict):
    role: Literal["developer", "system", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    function_call: FunctionCall | None = None
    refusal: str | None = None
    audio: AudioRef | None = None


class StreamOptions(_Strict):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class FunctionDef(_Strict):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionTool(_Strict, tag="function", tag_field="type"):
    function: FunctionDef


class CustomToolDef(_Strict):
    name: str
    description: str | None = None
    format: dict[str, Any] | None = None


class CustomTool(_Strict, tag="custom", tag_field="type"):
    custom: CustomToolDef


Temperature = Annotated[float, msgspec.Meta(ge=0, le=2)]
Penalty = Annotated[float, msgspec.Meta(ge=-2, le=2)]
Probability = Annotated[float, msgspec.Meta(ge=0, le=1)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]


class ChatRequest(msgspec.Struct, omit_defaults=True):
    """Types and ranges of the fields Onshore reads or must not let through malformed."""

    model: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    messages: Annotated[list[Message], msgspec.Meta(min_length=1)]
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    temperature: Temperature | None = None
    top_p: Probability | None = None
    n: Annotated[int, msgspec.Meta(ge=1, le=128)] | None = None
    stop: str | Annotated[list[str], msgspec.Meta(max_length=4)] | None = None
    seed: int | None = None
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    logit_bias: dict[str, Annotated[float, msgspec.Meta(ge=-100, le=100)]] | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, msgspec.Meta(ge=0, le=20)] | None = None
    tools: list[FunctionTool | CustomTool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None


class EmbeddingRequest(msgspec.Struct):
    model: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    # A string, a list of strings, a list of token ids, or a list of token-id lists. msgspec allows
    # one array type per union, so the list's items carry the alternatives.
    input: (
        Annotated[str, msgspec.Meta(min_length=1)]
        | Annotated[
            list[str | int | Annotated[list[int], msgspec.Meta(min_length=1)]],
            msgspec.Meta(min_length=1, max_length=2048),
        ]
    )
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: PositiveInt | None = None
    user: str | None = None


class CompletionRequest(msgspec.Struct, omit_defaults=True):
    """CreateCompletionRequest's types and ranges (legacy text completions)."""

    model: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    # Required, yet nullable: a string, strings, token ids or lists of token ids (one array type per
    # union in msgspec, so the list's items carry the alternatives).
    prompt: str | list[str | int | Annotated[list[int], msgspec.Meta(min_length=1)]] | None
    best_of: Annotated[int, msgspec.Meta(ge=0, le=20)] | None = None
    echo: bool | None = None
    frequency_penalty: Penalty | None = None
    logit_bias: dict[str, int] | None = None
    logprobs: Annotated[int, msgspec.Meta(ge=0, le=5)] | None = None
    max_tokens: Annotated[int, msgspec.Meta(ge=0)] | None = None
    n: Annotated[int, msgspec.Meta(ge=1, le=128)] | None = None
    presence_penalty: Penalty | None = None
    seed: int | None = None
    stop: str | Annotated[list[str], msgspec.Meta(min_length=1, max_length=4)] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    suffix: str | None = None
    temperature: Temperature | None = None
    top_p: Probability | None = None
    user: str | None = None


_decoder = msgspec.json.Decoder()
S = TypeVar("S", bound=msgspec.Struct)


def decode_json_object(raw: bytes) -> dict[str, Any]:
    """Decode a request body; a malformed body or a non-object is refused."""
    if not raw:
        raise Refusal(Kind.INVALID_JSON, "The request body is empty; send a JSON object.")
    try:
        document = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise Refusal(Kind.INVALID_JSON, f"The request body is not valid JSON: {exc}.") from None
    except UnicodeDecodeError:  # msgspec decodes strings as UTF-8 and lets the codec's error through
        raise Refusal(Kind.INVALID_JSON, "The request body is not valid UTF-8 JSON.") from None
    except RecursionError:
        raise Refusal(Kind.INVALID_JSON, "The request body is nested too deeply.") from None
    if not isinstance(document, dict):
        raise Refusal(Kind.INVALID_JSON, "The request body must be a JSON object.")
    return document


def requested_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise Refusal(Kind.MISSING_PARAMETER, "Missing required parameter: 'model'.", param="model")
    if not isinstance(model, str) or not model:
        raise Refusal(Kind.INVALID_VALUE, "Invalid type for 'model': expected a non-empty string.", param="model")
    return model


# Documented fields that would make a provider keep data or send it to a third party beyond the
# backend's declared facts (stored completions, extended prompt-cache retention, web search): they
# pass only when switched off, or when the model's allow_extra_fields opts in explicitly.
BEYOND_DECLARED_FACTS = frozenset({"store", "prompt_cache_retention", "web_search_options"})


def fields_to_opt_in(body: dict[str, Any], documented: frozenset[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The top-level fields that pass only if the model's allow_extra_fields lists them: those that
    reach beyond the backend's declared facts (switched on), then those outside OpenAI's documented set."""
    beyond = tuple(key for key in BEYOND_DECLARED_FACTS & body.keys() if body[key] not in (None, False))
    undocumented = tuple(key for key in body if key not in documented)
    return beyond, undocumented


def _path_of(message: str) -> tuple[str | None, str]:
    marker = " - at `$"
    index = message.rfind(marker)
    if index < 0:
        return None, message
    return message[index + len(marker) : -1].lstrip("."), message[:index]


def validate(body: dict[str, Any], schema: type[S]) -> S:
    try:
        return msgspec.convert(body, schema, strict=True)
    except msgspec.ValidationError as exc:
        path, problem = _path_of(str(exc))
        if problem.startswith("Object missing required field"):
            field = problem.split("`")[1]
            full = f"{path}.{field}" if path else field
            raise Refusal(Kind.MISSING_PARAMETER, f"Missing required parameter: '{full}'.", param=full) from None
        if problem.startswith("Object contains unknown field"):
            field = problem.split("`")[1]
            full = f"{path}.{field}" if path else field
            raise Refusal(
                Kind.UNSUPPORTED_PARAMETER,
                f"Unrecognized field '{full}': not part of OpenAI's documented request format.",
                param=full,
            ) from None
        raise Refusal(Kind.INVALID_VALUE, f"Invalid value for '{path}': {problem}.", param=path or None) from None


def raise_for_size(length: int, limit: int) -> None:
    if length > limit:
        raise Refusal(
            Kind.REQUEST_TOO_LARGE, f"The request body is {length} bytes; this gateway accepts at most {limit}."
        )


def _struct_keys(*roots: type[msgspec.Struct]) -> frozenset[str]:
    """Every field name (and tag field) of the wire structs, nested ones included."""
    keys: set[str] = set()
    pending: list[Any] = list(roots)
    seen: set[Any] = set()
    while pending:
        kind = pending.pop()
        if kind in seen or not (isinstance(kind, type) and issubclass(kind, msgspec.Struct)):
            continue
        seen.add(kind)
        config = kind.__struct_config__
        if config.tag_field:
            keys.add(config.tag_field)
        for field in msgspec.structs.fields(kind):
            keys.add(field.encode_name)
            pending.extend(_types_in(field.type))
    return frozenset(keys)


def _types_in(annotation: Any) -> list[Any]:
    args = getattr(annotation, "__args__", ()) or ()
    metadata_origin = getattr(annotation, "__origin__", None)
    found = [annotation]
    for arg in args:
        found.extend(_types_in(arg))
    if metadata_origin is not None:
        found.extend(_types_in(metadata_origin))
    return found


# The request format's own keys: structure the protect stage must not treat as text.
REQUEST_KEYS = (
    CHAT_FIELDS | EMBEDDING_FIELDS | COMPLETION_FIELDS | _struct_keys(ChatRequest, EmbeddingRequest, CompletionRequest)
)
