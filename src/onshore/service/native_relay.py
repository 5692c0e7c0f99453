"""Relay a native Responses backend's typed events (response.created, response.output_text.delta, ...,
response.completed) to the client, event by event: restored (protect/responses_answer.py), each
Response snapshot presented as Onshore's (its id, the public model, the request's echo), numbered
again (Onshore may add a delta that was held back), and written with the chat relay's machinery
(deadline, kill switch, digest, how the stream ended; service/relay.py).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import msgspec

from onshore.protect.responses_answer import EventRestorer
from onshore.refusal import Kind, Refusal
from onshore.service.ports import StreamEncoder, Write
from onshore.service.relay import StreamOutcome, StreamRelay

# Present one Response snapshot for the client; True: the final one (kept for previous_response_id).
Present = Callable[[dict[str, Any], bool], dict[str, Any]]
_FINAL = frozenset({"response.completed", "response.incomplete"})
_DELTAS = frozenset({"response.output_text.delta", "response.refusal.delta", "response.function_call_arguments.delta"})
_EVENT_TYPE = re.compile(r"[a-z_]+(?:\.[a-z_]+)*")  # what may go in the SSE `event:` line
_encoder = msgspec.json.Encoder()


def chat_usage(document: Any) -> dict[str, int] | None:
    """Responses usage (input/output tokens) as the audit record counts it (prompt/completion)."""
    usage = document.get("usage") if isinstance(document, dict) else None
    if not isinstance(usage, dict):
        return None
    counts: dict[str, int] = {}
    for theirs, ours in (
        ("input_tokens", "prompt_tokens"),
        ("output_tokens", "completion_tokens"),
        ("total_tokens", "total_tokens"),
    ):
        value = usage.get(theirs)
        if isinstance(value, int) and not isinstance(value, bool):
            counts[ours] = value
    if "total_tokens" not in counts and {"prompt_tokens", "completion_tokens"} <= counts.keys():
        counts["total_tokens"] = counts["prompt_tokens"] + counts["completion_tokens"]
    return counts or None


class NativeEncoder:
    """The stream encoder for a native backend's events: `chunk` writes one (restored, presented) event
    under Onshore's own sequence numbers; the receipt comment is the dialect's."""

    def __init__(self, base: StreamEncoder) -> None:
        self._base = base
        self._sequence = 0

    def _event(self, data: dict[str, Any]) -> bytes:
        data["sequence_number"] = self._sequence
        self._sequence += 1
        name: str = data["type"]
        return b"event: " + name.encode("ascii") + b"\ndata: " + _encoder.encode(data) + b"\n\n"

    def start(self, request_id: str) -> bytes:
        return b""  # the backend's own response.created opens the stream

    def chunk(self, document: dict[str, Any]) -> bytes:
        return self._event(document)

    def finish(self) -> bytes:
        return b""  # the backend's response.completed closed it

    def receipt(self, receipt: str) -> bytes:
        return self._base.receipt(receipt)

    def done(self) -> bytes:
        return b""

    def error(self, refusal: Refusal) -> bytes:
        code = refusal.kind.code or "api_error"
        return self._event({"type": "error", "code": code, "message": refusal.detail, "param": None})


class NativeRelay(StreamRelay):
    """A StreamRelay whose chunks are Responses events (the adapter's decoder passes them as they came)."""

    def __init__(self, *args: Any, events: EventRestorer | None, present: Present, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._events = events
        self._present = present
        self._failed = False  # the backend sent response.failed

    async def _relay_reads(self, write: Write) -> str:
        outcome = await super()._relay_reads(write)
        if outcome == "completed" and self._failed:
            return "upstream_error"
        if outcome == "completed" and not self._finished:
            # A `[DONE]` before response.completed: a cut, never certified as a whole answer.
            self._end_with(Refusal(Kind.UPSTREAM_ERROR, "The backend's stream ended before the answer."))
            return "upstream_cut"
        return outcome

    def _relay_chunk(self, document: dict[str, Any]) -> None:
        kind = document.get("type")
        if self._failed:
            return  # nothing after a failed response's error
        if not isinstance(kind, str) or not _EVENT_TYPE.fullmatch(kind):
            return  # not a Responses event: never passed on (without response.completed the stream is cut)
        if kind == "error" or kind == "response.failed":
            snapshot = document.get("response")
            failed = kind == "response.failed"
            error = (snapshot.get("error") if isinstance(snapshot, dict) else None) if failed else document
            message = error.get("message") if isinstance(error, dict) else None
            text = self._scrub(str(message)) if message else "The backend reported an error."
            refusal = Refusal(Kind.UPSTREAM_ERROR, f"Backend error: {text}")
            if not failed:  # passed on, as the chat relay passes a backend's error chunk
                self._queue(self._encoder.error(refusal))
                return
            # The response failed: the stream ends with the error, recorded as such (no final receipt).
            self._failed = self._finished = True
            if not self._tail:
                self._end_with(refusal)
            return
        if kind in _DELTAS and isinstance(document.get("delta"), str):
            self._relayed.add(document["delta"])  # before restoration: the backend's own text, for an estimate
        if kind in _FINAL:
            self._finished = True
            usage = chat_usage(document.get("response"))
            if usage:
                self._usage, self._usage_final = usage, True
        out = [document] if self._events is None else self._events.event(document)
        for event in out:
            snapshot = event.get("response")
            if isinstance(snapshot, dict):
                event["response"] = self._present(snapshot, event.get("type") in _FINAL)
            self._queue(self._encoder.chunk(event))

    def ended(self, outcome: str, write: Write | None = None) -> StreamOutcome:
        ended = super().ended(outcome, write)
        if self._events is None:
            return ended
        return dataclasses.replace(ended, restored=self._events.restored)
