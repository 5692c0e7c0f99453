"""Streams to Anthropic-speaking clients: the OpenAI chunks of one completion become Anthropic events.

The chunks are Onshore's own (every backend adapter produces them), read as dicts on the hot path:
one chunk per token, and a field of the wrong type is skipped as before rather than converted.
"""

from __future__ import annotations

from typing import Any

import msgspec

from onshore.translate.anthropic.inbound import stop_reason
from onshore.translate.openai import first_answer

_encoder = msgspec.json.Encoder()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(value: Any) -> int:
    return value if _is_int(value) else 0


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
        for kind, value in first_answer(chunk):  # Anthropic has one answer: choice 0 only
            if kind == "text":
                out.append(self._text(value))
            elif kind == "tool_call":
                out.append(self._tool_call(value))
            else:
                self._finish_reason = value
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
