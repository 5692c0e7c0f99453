"""Adapter for Anthropic's Messages API: Onshore speaks OpenAI chat completions, the backend speaks Claude.

Pure translation, no I/O. Requests go out as `POST /v1/messages`; answers and SSE streams come back
in OpenAI's shapes (`chat.completion`, `chat.completion.chunk`). Things Anthropic cannot express are
refused with ValueError (n > 1, audio, files, non-function tools, malformed tool arguments); sampling
knobs it has no equivalent for (seed, logprobs, penalties, response_format ...) are left out.
"""

from __future__ import annotations

from typing import Any

import msgspec

from onshore.route.backends.base import Endpoint, UpstreamRequest
from onshore.route.backends.openai import error_message as openai_error_message

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()

# Anthropic `stop_reason` -> OpenAI `finish_reason`.
FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Anthropic temperature is 0..1; OpenAI's is 0..2. Values above 1 are clamped, not rescaled, so the
# common 0..1 settings mean the same on both.
_MAX_TEMPERATURE = 1.0


class AnthropicAdapter:
    __slots__ = ("_default_max_tokens", "_headers", "_url")

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        anthropic_version: str = "2023-06-01",
        default_max_tokens: int = 4096,
    ) -> None:
        base = base_url.rstrip("/")
        self._url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        headers = {"content-type": "application/json", "anthropic-version": anthropic_version}
        if api_key:
            headers["x-api-key"] = api_key
        self._headers = headers
        self._default_max_tokens = default_max_tokens

    def build(self, endpoint: Endpoint, body: dict[str, Any], upstream_model: str) -> UpstreamRequest:
        if endpoint != "chat":
            raise ValueError(f"Anthropic backends have no '{endpoint}' endpoint")
        request = to_messages_request(body, upstream_model, self._default_max_tokens)
        return UpstreamRequest(self._url, dict(self._headers), _encoder.encode(request))

    def parse_response(self, endpoint: Endpoint, raw: bytes) -> dict[str, Any]:
        if endpoint != "chat":
            raise ValueError(f"Anthropic backends have no '{endpoint}' endpoint")
        return to_chat_completion(_decode_object(raw, "the backend's response"))

    def stream_decoder(self) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder()

    def error_message(self, raw: bytes) -> str | None:
        return error_message(raw)


# --- request: OpenAI chat request -> Anthropic Messages request --------------------------------------


def to_messages_request(body: dict[str, Any], model: str, default_max_tokens: int = 4096) -> dict[str, Any]:
    """Translate an OpenAI chat completion request into an Anthropic Messages request; ValueError if impossible."""
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        raise ValueError("n > 1 is not supported: Anthropic returns one choice")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list):
        raise ValueError("'messages' must be a list")

    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for position, message in enumerate(raw_messages):
        if not isinstance(message, dict):
            raise ValueError(f"messages[{position}] is not an object")
        role = message.get("role")
        where = f"messages[{position}]"
        if role in ("system", "developer"):
            text = _plain_text(message.get("content"), where)
            if text:
                system.append(text)
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), where)
            _append(messages, "user", blocks)
        elif role == "assistant":
            _append(messages, "assistant", _assistant_blocks(message, where))
        elif role == "tool":
            _append(messages, "user", [_tool_result(message, where)])
        else:
            raise ValueError(f"{where}: role '{role}' is not supported for Anthropic backends")

    request: dict[str, Any] = {"model": model, "messages": messages}
    if system:
        request["system"] = "\n\n".join(system)

    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    request["max_tokens"] = max_tokens if isinstance(max_tokens, int) else default_max_tokens

    temperature = body.get("temperature")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool):
        request["temperature"] = min(float(temperature), _MAX_TEMPERATURE)
    top_p = body.get("top_p")
    if isinstance(top_p, int | float) and not isinstance(top_p, bool):
        request["top_p"] = top_p

    stop = body.get("stop")
    if isinstance(stop, str):
        request["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        request["stop_sequences"] = [s for s in stop if isinstance(s, str)]

    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        request["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
        tool_choice = _tool_choice(body.get("tool_choice"))
        if body.get("parallel_tool_calls") is False:
            tool_choice = tool_choice or {"type": "auto"}
            if tool_choice["type"] != "none":
                tool_choice["disable_parallel_tool_use"] = True
        if tool_choice is not None:
            request["tool_choice"] = tool_choice

    if body.get("stream") is True:
        request["stream"] = True

    user = body.get("user")
    if not isinstance(user, str) or not user:
        user = body.get("safety_identifier")
    if isinstance(user, str) and user:
        request["metadata"] = {"user_id": user}
    return request


def _append(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Anthropic wants user and assistant turns to alternate: merge a turn into the previous one of its role."""
    if not blocks:
        return
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def _plain_text(content: Any, where: str) -> str:
    """Text of a system/developer/tool message: a string or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ValueError(f"{where}.content[{i}]: only text parts are supported here")
            texts.append(part["text"])
        return "\n\n".join(t for t in texts if t)
    raise ValueError(f"{where}.content must be a string or a list of parts")


def _text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [_text_block(content)] if content else []
    if not isinstance(content, list):
        raise ValueError(f"{where}.content must be a string or a list of parts")
    blocks: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        here = f"{where}.content[{i}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            if part["text"]:
                blocks.append(_text_block(part["text"]))
        elif kind == "image_url":
            blocks.append(_image_block(part.get("image_url"), here))
        else:
            raise ValueError(f"{here}: content part type '{kind}' is not supported for Anthropic backends")
    return blocks


def _image_block(image_url: Any, where: str) -> dict[str, Any]:
    url = image_url.get("url") if isinstance(image_url, dict) else None
    if not isinstance(url, str):
        raise ValueError(f"{where}: image_url.url must be a string")
    if url.startswith("data:"):
        header, comma, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not comma or encoding != "base64" or not media_type:
            raise ValueError(f"{where}: image data URLs must look like data:<media type>;base64,<data>")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise ValueError(f"{where}: image URLs must be data: or http(s): URLs")


def _assistant_blocks(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    content = message.get("content")
    if isinstance(content, list):
        for i, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            text = part.get("text") if kind == "text" else part.get("refusal") if kind == "refusal" else None
            if not isinstance(text, str):
                raise ValueError(f"{where}.content[{i}]: assistant content parts must be text or refusal")
            if text:
                blocks.append(_text_block(text))
    elif isinstance(content, str):
        if content:
            blocks.append(_text_block(content))
    elif content is not None:
        raise ValueError(f"{where}.content must be a string or a list of parts")
    elif isinstance(message.get("refusal"), str) and message["refusal"]:
        blocks.append(_text_block(message["refusal"]))

    tool_calls = message.get("tool_calls")
    if tool_calls is None:
        return blocks
    if not isinstance(tool_calls, list):
        raise ValueError(f"{where}.tool_calls must be a list")
    for i, call in enumerate(tool_calls):
        here = f"{where}.tool_calls[{i}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ValueError(f"{here}: a tool call needs function.name")
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise ValueError(f"{here}: a tool call needs an id")
        blocks.append(
            {
                "type": "tool_use",
                "id": call_id,
                "name": function["name"],
                "input": _arguments(function.get("arguments"), here),
            }
        )
    return blocks


def _arguments(arguments: Any, where: str) -> dict[str, Any]:
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    if not isinstance(arguments, str):
        raise ValueError(f"{where}: function.arguments must be a JSON string")
    try:
        parsed = _decoder.decode(arguments)
    except msgspec.DecodeError:
        raise ValueError(f"{where}: function.arguments is not valid JSON, so it cannot become tool_use input") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"{where}: function.arguments must be a JSON object for Anthropic tool_use input")
    return parsed


def _tool_result(message: dict[str, Any], where: str) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise ValueError(f"{where}: a tool message needs tool_call_id")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    text = _plain_text(message.get("content"), where)
    if text:
        block["content"] = text
    return block


def _tool(tool: Any, where: str) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise ValueError(f"{where}: only function tools are supported for Anthropic backends")
    result: dict[str, Any] = {"name": function["name"]}
    if isinstance(function.get("description"), str):
        result["description"] = function["description"]
    parameters = function.get("parameters")
    result["input_schema"] = parameters if isinstance(parameters, dict) and parameters else {"type": "object"}
    return result


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return {"type": "tool", "name": function["name"]}
    raise ValueError("tool_choice must be 'auto', 'required', 'none' or a function choice for Anthropic backends")


# --- response: Anthropic message -> OpenAI chat.completion -----------------------------------------


def to_chat_completion(document: dict[str, Any]) -> dict[str, Any]:
    if document.get("type") != "message":
        raise ValueError("the backend's response is not an Anthropic message")
    content = document.get("content")
    if not isinstance(content, list):
        raise ValueError("the backend's response has no 'content' list")
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            raise ValueError("the backend's response has a content block that is not an object")
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            tool_calls.append(_tool_call(block))
        # thinking, redacted_thinking and server-side tool blocks have no OpenAI equivalent.
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts else None,
        "refusal": None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": _str(document.get("id"), "msg_onshore"),
        "object": "chat.completion",
        "created": 0,
        "model": _str(document.get("model"), ""),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(document.get("stop_reason")),
                "logprobs": None,
            }
        ],
        "usage": _usage(document.get("usage")),
    }


def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def _tool_call(block: dict[str, Any]) -> dict[str, Any]:
    name = block.get("name")
    if not isinstance(name, str):
        raise ValueError("the backend sent a tool_use block without a name")
    tool_input = block.get("input")
    return {
        "id": _str(block.get("id"), ""),
        "type": "function",
        "function": {"name": name, "arguments": _encoder.encode(tool_input or {}).decode()},
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str(value: Any, default: str) -> str:
    return value if isinstance(value, str) else default


def _prompt_tokens(usage: dict[str, Any]) -> int:
    return (
        _int(usage.get("input_tokens"))
        + _int(usage.get("cache_creation_input_tokens"))
        + _int(usage.get("cache_read_input_tokens"))
    )


def _usage(usage: Any) -> dict[str, int]:
    if not isinstance(usage, dict):
        usage = {}
    prompt = _prompt_tokens(usage)
    completion = _int(usage.get("output_tokens"))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


# --- streaming: Anthropic SSE events -> OpenAI chunks ----------------------------------------------


class AnthropicStreamDecoder:
    """Stateful: Anthropic streams name content blocks by index, OpenAI numbers tool calls separately.

    Each `decode` gets one SSE event's data (its `type` field names the event). The finish_reason
    chunk and the usage-only chunk are both sent at `message_delta` (which carries the final output
    token count); `message_stop` ends the stream (None).
    """

    __slots__ = ("_completion_tokens", "_finished", "_id", "_model", "_prompt_tokens", "_tool_index")

    def __init__(self) -> None:
        self._id = "msg_onshore"
        self._model = ""
        self._prompt_tokens = 0
        self._completion_tokens = 0
        self._tool_index: dict[int, int] = {}  # Anthropic content block index -> OpenAI tool call index
        self._finished = False

    def decode(self, payload: bytes) -> list[dict[str, Any]] | None:
        event = _decode_object(payload, "a stream event from the backend")
        kind = event.get("type")
        if kind == "message_start":
            return self._message_start(event)
        if kind == "content_block_start":
            return self._block_start(event)
        if kind == "content_block_delta":
            return self._block_delta(event)
        if kind == "message_delta":
            return self._message_delta(event)
        if kind == "message_stop":
            return None
        if kind == "error":
            error = event.get("error")
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                raise ValueError(f"{error['message']} ({_str(error.get('type'), 'error')})")
            raise ValueError("the backend reported an error in the stream")
        if not isinstance(kind, str):
            raise ValueError("the backend sent a stream event without a type")
        return []  # ping, content_block_stop, and event types added later (Anthropic says to ignore them)

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": 0,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    def _message_start(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        message = event.get("message")
        if not isinstance(message, dict):
            raise ValueError("the backend sent message_start without a message")
        self._id = _str(message.get("id"), self._id)
        self._model = _str(message.get("model"), self._model)
        usage = message.get("usage")
        if isinstance(usage, dict):
            self._prompt_tokens = _prompt_tokens(usage)
            self._completion_tokens = _int(usage.get("output_tokens"))
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        index = event.get("index")
        block = event.get("content_block")
        if not isinstance(index, int) or not isinstance(block, dict):
            raise ValueError("the backend sent content_block_start without an index and a content block")
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            return [self._chunk({"content": text})] if isinstance(text, str) and text else []
        if kind == "tool_use":
            name = block.get("name")
            if not isinstance(name, str):
                raise ValueError("the backend sent a tool_use block without a name")
            position = len(self._tool_index)
            self._tool_index[index] = position
            call = {
                "index": position,
                "id": _str(block.get("id"), ""),
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        return []  # thinking and server-side tool blocks have no OpenAI equivalent

    def _block_delta(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        delta = event.get("delta")
        if not isinstance(delta, dict):
            raise ValueError("the backend sent content_block_delta without a delta")
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            if not isinstance(text, str):
                raise ValueError("the backend sent a text_delta without text")
            return [self._chunk({"content": text})] if text else []
        if kind == "input_json_delta":
            index = event.get("index")
            position = self._tool_index.get(index) if isinstance(index, int) else None
            partial = delta.get("partial_json")
            if not isinstance(partial, str):
                raise ValueError("the backend sent an input_json_delta without partial_json")
            if position is None or not partial:
                return []  # input of a server-side tool, or an empty opening delta
            return [self._chunk({"tool_calls": [{"index": position, "function": {"arguments": partial}}]})]
        return []  # thinking_delta, signature_delta, citations_delta

    def _message_delta(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        usage = event.get("usage")
        if isinstance(usage, dict):  # counts in message_delta are cumulative
            if "output_tokens" in usage:
                self._completion_tokens = _int(usage.get("output_tokens"))
            if any(key in usage for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")):
                self._prompt_tokens = max(self._prompt_tokens, _prompt_tokens(usage))
        delta = event.get("delta")
        stop_reason = delta.get("stop_reason") if isinstance(delta, dict) else None
        if self._finished or not isinstance(stop_reason, str):
            return []  # finish and usage go out once, with the message_delta that says why the turn ended
        self._finished = True
        usage_chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": 0,
            "model": self._model,
            "choices": [],
            "usage": {
                "prompt_tokens": self._prompt_tokens,
                "completion_tokens": self._completion_tokens,
                "total_tokens": self._prompt_tokens + self._completion_tokens,
            },
        }
        return [self._chunk({}, finish_reason(stop_reason)), usage_chunk]


# --- errors ----------------------------------------------------------------------------------------


def _decode_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        document = _decoder.decode(raw)
    except msgspec.DecodeError:
        raise ValueError(f"{what} is not JSON") from None
    if not isinstance(document, dict):
        raise ValueError(f"{what} is not a JSON object")
    return document


def error_message(raw: bytes) -> str | None:
    """The message in an Anthropic error body: {"type": "error", "error": {"type": ..., "message": ...}},
    the same place OpenAI puts it."""
    return openai_error_message(raw)
