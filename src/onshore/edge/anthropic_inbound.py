"""Anthropic Messages API at the edge: clients that speak Claude (`POST /v1/messages`) talk to Onshore.

Pure translation, no I/O. Requests are turned into OpenAI chat requests (what the rest of Onshore
speaks); answers, streams and errors are turned back into Anthropic's shapes. Anything Anthropic
documents but OpenAI cannot express is refused with InboundError naming the field, never dropped.
"""

from __future__ import annotations

from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()

# Top-level fields of Anthropic's Messages request that Onshore translates.
SUPPORTED_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "max_tokens",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
    }
)
# Documented, but with no OpenAI equivalent: refused as unsupported rather than silently dropped.
UNSUPPORTED_FIELDS = frozenset({"top_k", "thinking", "service_tier"})

# OpenAI `finish_reason` -> Anthropic `stop_reason`.
STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

# HTTP status -> Anthropic error type (Anthropic's errors page).
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class InboundError(ValueError):
    """An Anthropic request Onshore cannot accept; `param` names the offending field."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


# --- request: Anthropic Messages request -> OpenAI chat request --------------------------------------


def to_openai_request(body: dict[str, Any]) -> dict[str, Any]:
    """Translate an Anthropic Messages request into an OpenAI chat request; InboundError if it is invalid."""
    for field in body:
        if field in UNSUPPORTED_FIELDS:
            raise InboundError(field, f"'{field}' is not supported by this gateway")
        if field not in SUPPORTED_FIELDS:
            raise InboundError(field, f"unknown field '{field}'")

    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InboundError("model", "'model' is required and must be a non-empty string")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise InboundError("max_tokens", "'max_tokens' is required and must be a positive integer")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise InboundError("messages", "'messages' is required and must be a non-empty list")

    messages: list[dict[str, Any]] = []
    system = _system(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for position, message in enumerate(raw_messages):
        messages.extend(_messages(message, f"messages[{position}]"))

    request: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens}
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is None:
            continue
        if not _is_number(value) or not 0 <= value <= 1:
            raise InboundError(name, f"'{name}' must be a number between 0 and 1")
        request[name] = value

    stop = body.get("stop_sequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise InboundError("stop_sequences", "'stop_sequences' must be a list of strings")
        if stop:
            request["stop"] = list(stop)

    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise InboundError("tools", "'tools' must be a list")
        if tools:
            request["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
    if body.get("tool_choice") is not None:
        choice, parallel = _tool_choice(body["tool_choice"])
        request["tool_choice"] = choice
        if parallel is False:
            request["parallel_tool_calls"] = False

    stream = body.get("stream")
    if stream is not None:
        if not isinstance(stream, bool):
            raise InboundError("stream", "'stream' must be a boolean")
        if stream:
            request["stream"] = True
            # The stream encoder needs the token counts for message_delta.
            request["stream_options"] = {"include_usage": True}

    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise InboundError("metadata", "'metadata' must be an object")
        for key in metadata:
            if key != "user_id":
                raise InboundError(f"metadata.{key}", f"unknown field '{key}'")
        user_id = metadata.get("user_id")
        if user_id is not None:
            if not isinstance(user_id, str):
                raise InboundError("metadata.user_id", "'user_id' must be a string")
            request["user"] = user_id
    return request


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _system(system: Any) -> str:
    if system is None:
        return ""
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        texts = []
        for i, block in enumerate(system):
            if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
                raise InboundError(f"system[{i}]", "system blocks must be text blocks")
            texts.append(block["text"])
        return "\n\n".join(t for t in texts if t)
    raise InboundError("system", "'system' must be a string or a list of text blocks")


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise InboundError(f"{where}.content", "content must be a string or a list of content blocks")
    for i, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise InboundError(f"{where}.content[{i}]", "a content block must be an object with a 'type'")
    return content


def _messages(message: Any, where: str) -> list[dict[str, Any]]:
    """One Anthropic message becomes one OpenAI message, or tool messages plus a user message."""
    if not isinstance(message, dict):
        raise InboundError(where, "a message must be an object")
    role = message.get("role")
    if role not in ("user", "assistant"):
        raise InboundError(f"{where}.role", "role must be 'user' or 'assistant'")
    for key in message:
        if key not in ("role", "content"):
            raise InboundError(f"{where}.{key}", f"unknown field '{key}'")
    blocks = _blocks(message.get("content"), where)
    if role == "assistant":
        return [_assistant(blocks, where)]

    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for i, block in enumerate(blocks):
        here = f"{where}.content[{i}]"
        kind = block["type"]
        if kind == "tool_result":
            results.append(_tool_message(block, here))
        elif kind == "text":
            parts.append({"type": "text", "text": _text(block, here)})
        elif kind == "image":
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block, here)}})
        else:
            raise InboundError(f"{here}.type", f"content block type '{kind}' is not supported in user messages")
    # OpenAI wants tool answers right after the assistant turn that called the tools.
    if parts:
        if all(part["type"] == "text" for part in parts) and len(parts) == 1:
            results.append({"role": "user", "content": parts[0]["text"]})
        else:
            results.append({"role": "user", "content": parts})
    elif not results:
        results.append({"role": "user", "content": ""})
    return results


def _text(block: dict[str, Any], where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise InboundError(f"{where}.text", "a text block needs a string 'text'")
    return text


def _image_url(block: dict[str, Any], where: str) -> str:
    source = block.get("source")
    if not isinstance(source, dict):
        raise InboundError(f"{where}.source", "an image block needs a source")
    kind = source.get("type")
    if kind == "base64":
        media_type, data = source.get("media_type"), source.get("data")
        if not isinstance(media_type, str) or not isinstance(data, str):
            raise InboundError(f"{where}.source", "a base64 image source needs media_type and data")
        return f"data:{media_type};base64,{data}"
    if kind == "url":
        url = source.get("url")
        if not isinstance(url, str):
            raise InboundError(f"{where}.source.url", "a url image source needs a string url")
        return url
    raise InboundError(f"{where}.source.type", f"image source type '{kind}' is not supported")


def _tool_message(block: dict[str, Any], where: str) -> dict[str, Any]:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise InboundError(f"{where}.tool_use_id", "a tool_result block needs a tool_use_id")
    content = block.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, list):
        texts = []
        for i, item in enumerate(content):
            if not isinstance(item, dict) or item.get("type") != "text":
                raise InboundError(f"{where}.content[{i}]", "only text is supported in tool results")
            texts.append(_text(item, f"{where}.content[{i}]"))
        text = "\n\n".join(texts)
    else:
        raise InboundError(f"{where}.content", "tool result content must be a string or a list of text blocks")
    is_error = block.get("is_error")
    if is_error is not None and not isinstance(is_error, bool):
        raise InboundError(f"{where}.is_error", "'is_error' must be a boolean")
    if is_error:
        text = "Error: " + text
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def _assistant(blocks: list[dict[str, Any]], where: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for i, block in enumerate(blocks):
        here = f"{where}.content[{i}]"
        kind = block["type"]
        if kind == "text":
            texts.append(_text(block, here))
        elif kind == "tool_use":
            call_id, name, tool_input = block.get("id"), block.get("name"), block.get("input")
            if not isinstance(call_id, str) or not isinstance(name, str):
                raise InboundError(here, "a tool_use block needs an id and a name")
            if tool_input is not None and not isinstance(tool_input, dict):
                raise InboundError(f"{here}.input", "tool_use input must be an object")
            arguments = _encoder.encode(tool_input or {}).decode()
            calls.append({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}})
        elif kind in ("thinking", "redacted_thinking"):
            continue  # earlier turns' reasoning: nothing in OpenAI's format carries it
        else:
            raise InboundError(f"{here}.type", f"content block type '{kind}' is not supported in assistant messages")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _tool(tool: Any, where: str) -> dict[str, Any]:
    if not isinstance(tool, dict):
        raise InboundError(where, "a tool must be an object")
    kind = tool.get("type")
    if kind not in (None, "custom"):
        raise InboundError(f"{where}.type", f"tool type '{kind}' (a server tool) is not supported")
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise InboundError(f"{where}.name", "a tool needs a name")
    schema = tool.get("input_schema")
    if not isinstance(schema, dict):
        raise InboundError(f"{where}.input_schema", "a tool needs an input_schema object")
    function: dict[str, Any] = {"name": name, "parameters": schema}
    description = tool.get("description")
    if description is not None:
        if not isinstance(description, str):
            raise InboundError(f"{where}.description", "'description' must be a string")
        function["description"] = description
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> tuple[str | dict[str, Any], bool | None]:
    if not isinstance(choice, dict):
        raise InboundError("tool_choice", "'tool_choice' must be an object")
    disable = choice.get("disable_parallel_tool_use")
    if disable is not None and not isinstance(disable, bool):
        raise InboundError("tool_choice.disable_parallel_tool_use", "must be a boolean")
    parallel = None if disable is None else not disable
    kind = choice.get("type")
    if kind == "auto":
        return "auto", parallel
    if kind == "any":
        return "required", parallel
    if kind == "none":
        return "none", parallel
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise InboundError("tool_choice.name", "a 'tool' choice needs the tool's name")
        return {"type": "function", "function": {"name": name}}, parallel
    raise InboundError("tool_choice.type", "tool_choice type must be 'auto', 'any', 'tool' or 'none'")


# --- response: OpenAI chat.completion -> Anthropic message -----------------------------------------


def message_id(completion_id: Any) -> str:
    """An Anthropic-style id ("msg_...") derived from an OpenAI completion id."""
    if not isinstance(completion_id, str) or not completion_id:
        return "msg_onshore"
    if completion_id.startswith("msg_"):
        return completion_id
    return "msg_" + completion_id.removeprefix("chatcmpl-")


def stop_reason(finish_reason: Any) -> str:
    return STOP_REASONS.get(finish_reason, "end_turn") if isinstance(finish_reason, str) else "end_turn"


def to_anthropic_response(completion: dict[str, Any], model: str) -> dict[str, Any]:
    """Translate an OpenAI chat.completion into an Anthropic message; ValueError if it is malformed."""
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("the completion has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise ValueError("the completion's choice has no message")
    content: list[dict[str, Any]] = []
    text = message.get("content")
    if not isinstance(text, str) or not text:
        text = message.get("refusal")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        content.append(_tool_use(call))
    usage = completion.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return {
        "id": message_id(completion.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choice.get("finish_reason")),
        "stop_sequence": None,
        "usage": {
            "input_tokens": _count(usage.get("prompt_tokens")),
            "output_tokens": _count(usage.get("completion_tokens")),
        },
    }


def _count(value: Any) -> int:
    return value if _is_int(value) else 0


def _tool_use(call: Any) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise ValueError("the completion has a tool call without a function name")
    arguments = function.get("arguments")
    tool_input: Any = {}
    if isinstance(arguments, str) and arguments.strip():
        try:
            tool_input = _decoder.decode(arguments)
        except msgspec.DecodeError:
            raise ValueError(f"the arguments of tool call '{function['name']}' are not valid JSON") from None
    if not isinstance(tool_input, dict):
        raise ValueError(f"the arguments of tool call '{function['name']}' are not a JSON object")
    call_id = call.get("id")
    return {
        "type": "tool_use",
        "id": call_id if isinstance(call_id, str) and call_id else "toolu_onshore",
        "name": function["name"],
        "input": tool_input,
    }


# --- streaming: OpenAI chunks -> Anthropic SSE events ----------------------------------------------


def event(name: str, data: dict[str, Any]) -> bytes:
    """One Anthropic SSE event: the name in `event:`, the same name as `type` in the JSON data."""
    return b"event: " + name.encode("ascii") + b"\ndata: " + _encoder.encode(data) + b"\n\n"


class AnthropicStreamEncoder:
    """Turns the OpenAI chunks of one streamed completion into Anthropic's event stream.

    Call `start` once, `chunk` for every OpenAI chunk (usage-only chunks included), then `finish`.
    Text and each tool call become their own content blocks, numbered in order; a block is closed
    when the next one starts or at `finish`.
    """

    __slots__ = (
        "_blocks",
        "_finish_reason",
        "_finished",
        "_input_tokens",
        "_message_id",
        "_model",
        "_open",
        "_output_tokens",
        "_tools",
    )

    def __init__(self, model: str) -> None:
        self._model = model
        self._message_id = "msg_onshore"
        self._blocks = 0  # content blocks started so far
        self._open: tuple[str, int] | None = None  # ("text" | "tool", block index) of the open block
        self._tools: dict[int, int] = {}  # OpenAI tool call index -> Anthropic block index
        self._finish_reason: str | None = None
        self._input_tokens = 0
        self._output_tokens = 0
        self._finished = False

    def start(self, message_id: str) -> bytes:
        self._message_id = message_id
        message: dict[str, Any] = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self._model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return event("message_start", {"type": "message_start", "message": message})

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        out: list[bytes] = []
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._input_tokens = _count(usage.get("prompt_tokens"))
            self._output_tokens = _count(usage.get("completion_tokens"))
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue  # Anthropic has one answer; an Anthropic request never asks for more
            delta = choice.get("delta")
            if isinstance(delta, dict):
                for text in (delta.get("content"), delta.get("refusal")):
                    if isinstance(text, str) and text:
                        out.append(self._text(text))
                for call in delta.get("tool_calls") or []:
                    if isinstance(call, dict):
                        out.append(self._tool_call(call))
            if isinstance(choice.get("finish_reason"), str):
                self._finish_reason = choice["finish_reason"]
        return b"".join(out)

    def finish(self) -> bytes:
        if self._finished:
            return b""
        self._finished = True
        delta = {"stop_reason": stop_reason(self._finish_reason), "stop_sequence": None}
        usage = {"input_tokens": self._input_tokens, "output_tokens": self._output_tokens}
        return (
            self._close()
            + event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
            + event("message_stop", {"type": "message_stop"})
        )

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        index = self._open[1]
        self._open = None
        return event("content_block_stop", {"type": "content_block_stop", "index": index})

    def _begin(self, kind: str, block: dict[str, Any]) -> tuple[bytes, int]:
        index = self._blocks
        self._blocks += 1
        started = self._close() + event(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
        )
        self._open = (kind, index)
        return started, index

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        return event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})

    def _text(self, text: str) -> bytes:
        started = b""
        if self._open is not None and self._open[0] == "text":
            index = self._open[1]
        else:
            started, index = self._begin("text", {"type": "text", "text": ""})
        return started + self._delta(index, {"type": "text_delta", "text": text})

    def _tool_call(self, call: dict[str, Any]) -> bytes:
        position = call.get("index", 0)
        position = position if _is_int(position) else 0
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        started = b""
        index = self._tools.get(position)
        if index is None:
            call_id = call.get("id")
            if not isinstance(call_id, str) or not call_id:
                call_id = f"toolu_{self._message_id.removeprefix('msg_')}_{position}"
            name = function.get("name")
            block = {"type": "tool_use", "id": call_id, "name": name if isinstance(name, str) else "", "input": {}}
            started, index = self._begin("tool", block)
            self._tools[position] = index
        # Deltas of a tool call whose block was already closed (interleaved parallel calls, which
        # OpenAI servers do not send in practice) still name that call's block index.
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            return started + self._delta(index, {"type": "input_json_delta", "partial_json": arguments})
        return started


# --- errors ----------------------------------------------------------------------------------------


def error_type(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(status: int, message: str) -> bytes:
    """Anthropic's error body for an HTTP status: {"type": "error", "error": {"type", "message"}}."""
    return _encoder.encode({"type": "error", "error": {"type": error_type(status), "message": message}})


def error_event(status: int, message: str) -> bytes:
    """The same error as an `event: error` in a stream that has already started."""
    return event("error", {"type": "error", "error": {"type": error_type(status), "message": message}})
