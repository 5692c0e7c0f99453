"""Wire models for inbound requests, checked against OpenAI's documented request schemas.

Bodies are decoded to plain dicts (what is forwarded), then converted to these structs purely to
validate types and ranges with a precise field path. Only OpenAI-documented top-level fields pass;
nested objects reject unknown keys, so nothing that later stages did not see leaves the gateway.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from onshore.edge.errors import ApiError, bad_request

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


_decoder = msgspec.json.Decoder()


def decode_json_object(raw: bytes) -> dict[str, Any]:
    """Decode a request body; a malformed body or a non-object is a 400."""
    if not raw:
        raise bad_request("The request body is empty; send a JSON object.", code="invalid_json")
    try:
        document = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}.", code="invalid_json") from None
    except UnicodeDecodeError:  # msgspec decodes strings as UTF-8 and lets the codec's error through
        raise bad_request("The request body is not valid UTF-8 JSON.", code="invalid_json") from None
    except RecursionError:
        raise bad_request("The request body is nested too deeply.", code="invalid_json") from None
    if not isinstance(document, dict):
        raise bad_request("The request body must be a JSON object.", code="invalid_json")
    return document


def requested_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise bad_request("Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
    if not isinstance(model, str) or not model:
        raise bad_request("Invalid type for 'model': expected a non-empty string.", param="model")
    return model


# Documented fields that would make a provider keep data or send it to a third party beyond the
# backend's declared facts (stored completions, extended prompt-cache retention, web search): they
# pass only when switched off, or when the model's allow_extra_fields opts in explicitly.
BEYOND_DECLARED_FACTS = frozenset({"store", "prompt_cache_retention", "web_search_options"})


def check_fields(body: dict[str, Any], documented: frozenset[str], extra: frozenset[str]) -> None:
    """Refuse fields outside OpenAI's documented set unless the model's config allows them."""
    for key in BEYOND_DECLARED_FACTS & body.keys():
        if body[key] not in (None, False) and key not in extra:
            raise bad_request(
                f"'{key}' would let the provider keep or pass on data beyond what this backend declares; "
                "it is refused unless the model's allow_extra_fields lists it.",
                param=key,
                code="unsupported_parameter",
            )
    for key in body:
        if key not in documented and key not in extra:
            raise bad_request(
                f"Unrecognized request argument supplied: '{key}'. Onshore forwards only documented "
                "OpenAI fields unless the model's allow_extra_fields lists it.",
                param=key,
                code="unsupported_parameter",
            )


def _path_of(message: str) -> tuple[str | None, str]:
    marker = " - at `$"
    index = message.rfind(marker)
    if index < 0:
        return None, message
    return message[index + len(marker) : -1].lstrip("."), message[:index]


def validate(body: dict[str, Any], schema: type[msgspec.Struct]) -> Any:
    try:
        return msgspec.convert(body, schema, strict=True)
    except msgspec.ValidationError as exc:
        path, problem = _path_of(str(exc))
        if problem.startswith("Object missing required field"):
            field = problem.split("`")[1]
            full = f"{path}.{field}" if path else field
            raise bad_request(
                f"Missing required parameter: '{full}'.", param=full, code="missing_required_parameter"
            ) from None
        if problem.startswith("Object contains unknown field"):
            field = problem.split("`")[1]
            full = f"{path}.{field}" if path else field
            raise bad_request(
                f"Unrecognized field '{full}': not part of OpenAI's documented request format.",
                param=full,
                code="unsupported_parameter",
            ) from None
        raise bad_request(f"Invalid value for '{path}': {problem}.", param=path or None) from None


def raise_for_size(length: int, limit: int) -> None:
    if length > limit:
        raise ApiError(
            413,
            f"The request body is {length} bytes; this gateway accepts at most {limit}.",
            code="request_too_large",
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
REQUEST_KEYS = CHAT_FIELDS | EMBEDDING_FIELDS | _struct_keys(ChatRequest, EmbeddingRequest)
