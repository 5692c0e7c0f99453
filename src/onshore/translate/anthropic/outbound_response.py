"""Anthropic backends' answers and streams, read through the wire structs, as OpenAI shapes.

Answers become `chat.completion`, stream events `chat.completion.chunk`. Block and event kinds with
no OpenAI equivalent (reasoning, server tools, kinds added later) are skipped by kind; anything
malformed is a ValueError (the router reports the backend's answer as bad).
"""

from __future__ import annotations

from typing import Any

import msgspec

from onshore.translate.anthropic.tables import DEFAULT_FINISH_REASON, FINISH_REASONS, TEXT_BLOCK, TOOL_USE_BLOCK
from onshore.translate.anthropic.wire import Block, Message, StreamEvent, Usage, problem_at

_encoder = msgspec.json.Encoder()
_message_decoder = msgspec.json.Decoder(Message)
_event_decoder = msgspec.json.Decoder(StreamEvent)

# Where msgspec found the problem in an answer -> what it means.
_ANSWER_PROBLEMS: dict[str, str] = {
    "": "the backend's response is not a JSON object",
    "type": "the backend's response is not an Anthropic message",
    "content": "the backend's response has no 'content' list",
}


def finish_reason(stop_reason: str | None) -> str:
    return FINISH_REASONS.get(stop_reason, DEFAULT_FINISH_REASON) if stop_reason is not None else DEFAULT_FINISH_REASON


def _prompt_tokens(usage: Usage) -> int:
    return (usage.input_tokens or 0) + (usage.cache_creation_input_tokens or 0) + (usage.cache_read_input_tokens or 0)


def _usage(usage: Usage | None) -> dict[str, int]:
    usage = usage or Usage()
    prompt = _prompt_tokens(usage)
    completion = usage.output_tokens or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _decode_answer(raw: bytes) -> Message:
    try:
        message = _message_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        path, problem = problem_at(exc)
        if path in _ANSWER_PROBLEMS:
            raise ValueError(_ANSWER_PROBLEMS[path]) from None
        if path.startswith("content[") and path.endswith("]") and problem.startswith("Expected `object`"):
            raise ValueError("the backend's response has a content block that is not an object") from None
        raise ValueError(f"the backend's response is malformed: {exc}") from None
    except msgspec.DecodeError:
        raise ValueError("the backend's response is not JSON") from None
    if message.type != "message":
        raise ValueError(_ANSWER_PROBLEMS["type"])
    if message.content is None:
        raise ValueError(_ANSWER_PROBLEMS["content"])
    return message


def to_chat_completion(raw: bytes) -> dict[str, Any]:
    """An Anthropic answer's body as an OpenAI chat.completion; ValueError if it is not an answer."""
    answer = _decode_answer(raw)
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in answer.content or ():
        if block.type == TEXT_BLOCK and block.text is not None:
            texts.append(block.text)
        elif block.type == TOOL_USE_BLOCK:
            tool_calls.append(_tool_call(block))
        # reasoning and server-side tool blocks have no OpenAI equivalent
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": answer.id if answer.id is not None else "msg_onshore",
        "object": "chat.completion",
        "created": 0,
        "model": answer.model or "",
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish_reason(answer.stop_reason), "logprobs": None}
        ],
        "usage": _usage(answer.usage),
    }


def _tool_call(block: Block) -> dict[str, Any]:
    if block.name is None:
        raise ValueError("the backend sent a tool_use block without a name")
    return {
        "id": block.id or "",
        "type": "function",
        "function": {"name": block.name, "arguments": _encoder.encode(block.input or {}).decode()},
    }


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
        try:
            event = _event_decoder.decode(payload)
        except msgspec.ValidationError as exc:
            path, problem = problem_at(exc)
            if not path and problem.startswith("Expected `object`"):
                raise ValueError("a stream event from the backend is not a JSON object") from None
            if problem.startswith("Object missing required field `type`"):
                raise ValueError("the backend sent a stream event without a type") from None
            raise ValueError(f"the backend sent a malformed stream event: {exc}") from None
        except msgspec.DecodeError:
            raise ValueError("a stream event from the backend is not JSON") from None
        kind = event.type
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
            error = event.error
            if error is not None and error.message is not None:
                raise ValueError(f"{error.message} ({error.type or 'error'})")
            raise ValueError("the backend reported an error in the stream")
        return []  # ping, content_block_stop, and event types added later (Anthropic says to ignore them)

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": 0,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    def _message_start(self, event: StreamEvent) -> list[dict[str, Any]]:
        message = event.message
        if message is None:
            raise ValueError("the backend sent message_start without a message")
        self._id = message.id if message.id is not None else self._id
        self._model = message.model if message.model is not None else self._model
        if message.usage is not None:
            self._prompt_tokens = _prompt_tokens(message.usage)
            self._completion_tokens = message.usage.output_tokens or 0
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, event: StreamEvent) -> list[dict[str, Any]]:
        index, block = event.index, event.content_block
        if index is None or block is None:
            raise ValueError("the backend sent content_block_start without an index and a content block")
        if block.type == TEXT_BLOCK:
            return [self._chunk({"content": block.text})] if block.text else []
        if block.type == TOOL_USE_BLOCK:
            if block.name is None:
                raise ValueError("the backend sent a tool_use block without a name")
            position = len(self._tool_index)
            self._tool_index[index] = position
            call = {
                "index": position,
                "id": block.id or "",
                "type": "function",
                "function": {"name": block.name, "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        return []  # reasoning and server-side tool blocks have no OpenAI equivalent

    def _block_delta(self, event: StreamEvent) -> list[dict[str, Any]]:
        delta = event.delta
        if delta is None:
            raise ValueError("the backend sent content_block_delta without a delta")
        if delta.type == "text_delta":
            if delta.text is None:
                raise ValueError("the backend sent a text_delta without text")
            return [self._chunk({"content": delta.text})] if delta.text else []
        if delta.type == "input_json_delta":
            position = self._tool_index.get(event.index) if event.index is not None else None
            if delta.partial_json is None:
                raise ValueError("the backend sent an input_json_delta without partial_json")
            if position is None or not delta.partial_json:
                return []  # input of a server-side tool, or an empty opening delta
            arguments = {"index": position, "function": {"arguments": delta.partial_json}}
            return [self._chunk({"tool_calls": [arguments]})]
        return []  # thinking_delta, signature_delta, citations_delta

    def _message_delta(self, event: StreamEvent) -> list[dict[str, Any]]:
        usage = event.usage
        if usage is not None:  # counts in message_delta are cumulative
            if usage.output_tokens is not None:
                self._completion_tokens = usage.output_tokens
            if (usage.input_tokens, usage.cache_creation_input_tokens, usage.cache_read_input_tokens) != (None,) * 3:
                self._prompt_tokens = max(self._prompt_tokens, _prompt_tokens(usage))
        stop_reason = event.delta.stop_reason if event.delta is not None else None
        if self._finished or stop_reason is None:
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
