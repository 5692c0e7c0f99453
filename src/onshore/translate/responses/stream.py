"""Streams to Responses-speaking clients: the OpenAI chunks of one completion become typed events.

The lifecycle: response.created and response.in_progress; then per output item output_item.added,
(for text) content_part.added, output_text.delta..., output_text.done, content_part.done, (for a
function call) function_call_arguments.delta..., .done; output_item.done; then response.completed
(or response.incomplete) with the whole Response and its usage. Every event has its sequence_number.

The chunks are Onshore's own (every backend adapter produces them, already restored), read as
dicts on the hot path; a field of the wrong type is skipped rather than converted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from onshore.translate.openai import first_answer
from onshore.translate.responses.response import (
    call_item,
    call_item_id,
    message_item,
    message_item_id,
    response_id,
    response_object,
    text_part,
    usage,
)

_encoder = msgspec.json.Encoder()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Item:
    """One output item being streamed: the assistant message, or one function call."""

    __slots__ = ("call_id", "done", "item_id", "kind", "name", "output_index", "parts")

    def __init__(self, kind: str, item_id: str, output_index: int, call_id: str = "", name: str = "") -> None:
        self.kind = kind  # "message" | "function_call"
        self.item_id = item_id
        self.output_index = output_index
        self.call_id = call_id
        self.name = name
        self.parts: list[str] = []  # text, or argument fragments
        self.done = False

    def snapshot(self, status: str) -> dict[str, Any]:
        joined = "".join(self.parts)
        if self.kind == "message":
            return message_item(self.item_id, joined if status == "completed" else None, status)
        return call_item(self.item_id, self.call_id, self.name, joined if status == "completed" else "", status)


class ResponsesStreamEncoder:
    """Turns the OpenAI chunks of one streamed completion into the Responses event stream.

    Call `start` once, `chunk` for every OpenAI chunk (usage-only chunks included), then `finish`.
    """

    __slots__ = (
        "_calls",
        "_created_at",
        "_echo",
        "_finish_reason",
        "_finished",
        "_items",
        "_message",
        "_model",
        "_now",
        "_open",
        "_resp_id",
        "_sequence",
        "_usage",
        "final",
    )

    def __init__(self, model: str, echo: dict[str, Any], created_at: int, now: Callable[[], float]) -> None:
        self._model = model
        self._echo = echo
        self._created_at = created_at
        self._now = now
        self._resp_id = "resp_onshore"
        self._sequence = 0
        self._items: list[_Item] = []
        self._open: _Item | None = None  # the item deltas currently go to
        self._message: _Item | None = None
        self._calls: dict[int, _Item] = {}  # chat tool call index -> its item
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None
        self._finished = False
        self.final: dict[str, Any] | None = None  # the whole Response, once `finish` has sent it

    @property
    def response_id(self) -> str:
        return self._resp_id

    def event(self, data: dict[str, Any]) -> bytes:
        """One SSE event: the type in `event:`, the same type in the data, the next sequence number."""
        data["sequence_number"] = self._sequence
        self._sequence += 1
        name: str = data["type"]
        return b"event: " + name.encode("ascii") + b"\ndata: " + _encoder.encode(data) + b"\n\n"

    def _response(self, status: str, with_usage: bool = False) -> dict[str, Any]:
        done = status != "in_progress"
        return response_object(
            self._resp_id,
            self._model,
            self._echo,
            self._created_at,
            status=status,
            output=[item.snapshot("completed") for item in self._items] if done else [],
            usage=usage(self._usage) if with_usage else None,
            finish_reason=self._finish_reason if done else None,
            completed_at=int(self._now()) if done else None,
        )

    def start(self, request_id: str) -> bytes:
        self._resp_id = response_id(request_id)
        snapshot = self._response("in_progress")
        return self.event({"type": "response.created", "response": snapshot}) + self.event(
            {"type": "response.in_progress", "response": snapshot}
        )

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        out: list[bytes] = []
        chunk_usage = chunk.get("usage")
        if isinstance(chunk_usage, dict):
            self._usage = chunk_usage
        for kind, value in first_answer(chunk):  # a Response has one answer: choice 0 only
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
        closed = b"".join(self._close(item) for item in self._items)
        final = self.final = self._response("completed", with_usage=True)
        kind = "response.completed" if final["status"] == "completed" else "response.incomplete"
        return closed + self.event({"type": kind, "response": final})

    def error(self, code: str, message: str) -> bytes:
        return self.event({"type": "error", "code": code, "message": message, "param": None})

    # --- items ---------------------------------------------------------------------------------

    def _add(self, item: _Item) -> bytes:
        self._items.append(item)
        self._open = item
        snapshot = item.snapshot("in_progress")
        added = self.event({"type": "response.output_item.added", "output_index": item.output_index, "item": snapshot})
        if item.kind == "message":
            added += self.event(
                {
                    "type": "response.content_part.added",
                    "item_id": item.item_id,
                    "output_index": item.output_index,
                    "content_index": 0,
                    "part": text_part(""),
                }
            )
        return added

    def _close(self, item: _Item) -> bytes:
        if item.done:
            return b""
        item.done = True
        if self._open is item:
            self._open = None
        joined = "".join(item.parts)
        where = {"item_id": item.item_id, "output_index": item.output_index}
        if item.kind == "message":
            done = {"type": "response.output_text.done", **where, "content_index": 0, "text": joined, "logprobs": []}
            part = {"type": "response.content_part.done", **where, "content_index": 0, "part": text_part(joined)}
            closing = self.event(done) + self.event(part)
        else:
            closing = self.event(
                {"type": "response.function_call_arguments.done", **where, "name": item.name, "arguments": joined}
            )
        return closing + self.event(
            {"type": "response.output_item.done", "output_index": item.output_index, "item": item.snapshot("completed")}
        )

    def _text(self, text: str) -> bytes:
        started = b""
        item = self._message
        if item is None or item.done:
            # Text after a function call was closed starts a new message item (not sent in practice).
            if self._open is not None:
                started = self._close(self._open)
            suffix = "" if item is None else f"_{len(self._items)}"
            item = _Item("message", message_item_id(self._resp_id) + suffix, len(self._items))
            self._message = item
            started += self._add(item)
        item.parts.append(text)
        return started + self.event(
            {
                "type": "response.output_text.delta",
                "item_id": item.item_id,
                "output_index": item.output_index,
                "content_index": 0,
                "delta": text,
                "logprobs": [],
            }
        )

    def _tool_call(self, call: dict[str, Any]) -> bytes:
        position = call.get("index", 0)
        position = position if _is_int(position) else 0
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        started = b""
        item = self._calls.get(position)
        if item is None:
            if self._open is not None:
                started = self._close(self._open)
            call_id = call.get("id")
            item_id = call_item_id(self._resp_id, position)
            if not isinstance(call_id, str) or not call_id:
                call_id = item_id.replace("fc_", "call_", 1)
            name = function.get("name")
            item = _Item("function_call", item_id, len(self._items), call_id, name if isinstance(name, str) else "")
            self._calls[position] = item
            started += self._add(item)
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            item.parts.append(arguments)
            return started + self.event(
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": item.item_id,
                    "output_index": item.output_index,
                    "delta": arguments,
                }
            )
        return started
