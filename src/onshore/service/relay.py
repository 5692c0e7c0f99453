"""Relay one backend stream to the client event by event, never buffering the whole answer, and
return how it ended: the chat service then records the close and sends what ends the stream.

Usage: wherever the backend puts it (a usage-only chunk, the last choice chunk, every chunk), it is
taken out of the chunks and a client that asked for it gets exactly one usage-only chunk at the end,
as OpenAI sends it. A stream that ends without the backend's count is counted anyway (see
`_settle_usage`), so the record, the limits and the metrics never miss streamed tokens.

Writes: every event is decoded, checked and re-encoded on its own, as it arrives; the events that
arrived in one read from the backend go to the client in one write (nothing waits for a later read),
which saves a system call and aiohttp's write path per event when a backend sends several at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from onshore.protect.answer import ChunkRestorer, Restored
from onshore.refusal import Kind, Refusal
from onshore.route.backends.usage import ESTIMATE, TokenTally, estimate_prompt, usage_of
from onshore.route.router import Opened
from onshore.route.stream import StreamBroken, StreamInvalid, StreamTimedOut
from onshore.service.ports import ClientGone, OpenStream, StreamEncoder, Write
from onshore.service.steps import UPSTREAM, usage_in

log = logging.getLogger("onshore.pipeline")
TOKENIZER = "tokenizer"  # the backend's running count from its tokenizer; the stream ended before the final one


@dataclass(frozen=True, slots=True)
class StreamOutcome:
    outcome: str  # "completed", "client_disconnected", "upstream_cut", "gateway_error", ...
    usage: dict[str, int] | None
    usage_source: str | None
    digest: str  # SHA-256 of every byte sent, and of `tail`
    restored: Restored | None  # what the restorer did, if the answer had placeholders to restore
    tail: bytes  # the error event that ends a broken stream, to send once its close is recorded
    write: Write | None  # where the stream's end goes; None once the client is gone


class StreamRelay:
    """One stream's relay. What it needs from the rest of the gateway it is given here: the
    deadline, whether the backend is still switched on (None: never cut), and how to scrub a
    backend's message."""

    def __init__(
        self,
        opened: Opened,
        encoder: StreamEncoder,
        *,
        request_id: str,
        model: str | None,
        created: int,
        wants_usage: bool,
        restorer: ChunkRestorer | None,
        sent_body: dict[str, Any],
        max_seconds: float,
        monotonic: Callable[[], float],
        still_enabled: Callable[[], bool] | None,
        scrub: Callable[[str], str],
    ) -> None:
        self._opened = opened
        self._encoder = encoder
        self._request_id = request_id
        self._model = model
        self._wants_usage = wants_usage
        self._restorer = restorer
        self._sent_body = sent_body
        self._max_seconds = max_seconds
        self._monotonic = monotonic
        self._still_enabled = still_enabled
        self._scrub = scrub
        self._hasher = hashlib.sha256()
        self._out: list[bytes] = []  # encoded events of the current read, not yet written (nor hashed)
        self._tail = b""
        self._usage: dict[str, int] | None = None
        self._usage_final = False  # the backend's closing count (not a running one) was seen
        self._usage_source: str | None = None
        self._usage_chunk: dict[str, Any] | None = None  # the backend's own usage-only chunk
        self._relayed = TokenTally()  # what the backend produced, for an estimate
        self._chunk_id: Any = "chatcmpl-onshore"
        self._created: Any = created  # the backend's, once a chunk names it
        self._request_created = created
        self._finished = False  # a choice carried its finish_reason: the answer is whole

    async def run(self, open_stream: OpenStream, headers: dict[str, str]) -> StreamOutcome:
        outcome = "completed"
        write: Write | None = None
        try:
            write = await open_stream(headers)
            await self._send(write, self._encoder.start(self._request_id))
            outcome = await self._relay(write)
            if outcome == "completed":
                if self._restorer is not None:
                    await self._flush_restorer(write)
                if self._wants_usage:
                    await self._send(write, self._encoder.chunk(self._client_usage_chunk()))
                await self._send(write, self._encoder.finish())
        except ClientGone:
            outcome, write = "client_disconnected", None
        except Exception:
            log.exception("internal error relaying stream %s", self._request_id)
            outcome = "gateway_error"
            self._end_with(Refusal(Kind.INTERNAL_ERROR, "Internal error; stream ended."))
        finally:
            self._opened.close()  # closes the upstream connection if the stream did not finish
        return self.ended(outcome, write)

    def ended(self, outcome: str, write: Write | None = None) -> StreamOutcome:
        """How the stream ended (also for a relay interrupted by cancellation: nothing more is sent)."""
        self._settle_usage(outcome)
        restored = None if self._restorer is None else self._restorer.restored
        return StreamOutcome(
            outcome, self._usage, self._usage_source, self._hasher.hexdigest(), restored, self._tail, write
        )

    def _end_with(self, refusal: Refusal) -> None:
        """The error event that ends a stream: in the digest now, sent once the close is recorded (so a
        client that sees the end can already find its record)."""
        error = self._encoder.error(refusal)
        self._hasher.update(error)
        self._tail = error

    async def _relay(self, write: Write) -> str:
        outcome = await self._relay_reads(write)
        await self._flush(write)  # what the last read produced, before anything that ends the stream
        return outcome

    async def _relay_reads(self, write: Write) -> str:
        decoder = self._opened.adapter.stream_decoder()
        events = self._opened.events()
        monotonic, still_enabled = self._monotonic, self._still_enabled
        deadline = monotonic() + self._max_seconds
        try:
            async with contextlib.aclosing(events.reads()) as reads:
                async for payloads in reads:
                    if monotonic() > deadline:
                        message = "The backend's stream exceeded the gateway's maximum duration."
                        self._end_with(Refusal(Kind.STREAM_TOO_LONG, message))
                        return "stream_too_long"
                    for payload in payloads:
                        try:
                            documents = decoder.decode(payload)
                        except ValueError as exc:
                            self._end_with(Refusal(Kind.UPSTREAM_BAD_RESPONSE, self._scrub(str(exc))))
                            return "upstream_bad_response"
                        if documents is None:
                            return "completed"
                        if still_enabled is not None and not still_enabled():
                            self._end_with(Refusal(Kind.BACKEND_DISABLED, "An operator disabled this backend."))
                            return "backend_disabled"
                        for document in documents:
                            self._relay_chunk(document)
                    await self._flush(write)
        except StreamTimedOut:
            self._end_with(Refusal(Kind.UPSTREAM_TIMEOUT, "The backend stopped sending."))
            return "upstream_timeout"
        except StreamInvalid as exc:
            self._end_with(Refusal(Kind.UPSTREAM_BAD_RESPONSE, str(exc)))
            return "upstream_bad_response"
        except StreamBroken:
            self._end_with(Refusal(Kind.UPSTREAM_ERROR, "The backend's stream broke off."))
            return "upstream_cut"
        # Upstream ended without [DONE] (some servers do): a last event without its blank line still counts.
        for payload in events.rest():
            for document in decoder.decode(payload) or []:
                self._relay_chunk(document)
        if not self._finished:
            # Neither [DONE] nor a finish_reason: the connection simply ended. That is a cut, not an
            # answer; passing it off as complete (with a receipt) would certify a truncated reply.
            self._end_with(Refusal(Kind.UPSTREAM_ERROR, "The backend's stream ended before the answer."))
            return "upstream_cut"
        return "completed"

    def _relay_chunk(self, document: dict[str, Any]) -> None:
        """One backend chunk, encoded for the client and queued for this read's write."""
        error = document.get("error")
        if error is not None:  # a backend's own error event: pass on its gist, never its internals
            message = error.get("message") if isinstance(error, dict) else error
            text = self._scrub(str(message)) if message else "The backend reported an error."
            self._queue(self._encoder.error(Refusal(Kind.UPSTREAM_ERROR, f"Backend error: {text}")))
            return
        self._chunk_id = document.get("id", self._chunk_id)
        self._created = document.get("created", self._created)
        raw_usage = document.pop("usage", None)  # sent once, at the end, and only if asked for
        choices = document.get("choices")
        usage = None if raw_usage is None else usage_in({"usage": raw_usage})
        if usage:
            self._usage = usage
            self._usage_final = not choices or any(
                isinstance(c, dict) and c.get("finish_reason") is not None for c in choices
            )
            if not choices:
                self._usage_chunk = {**document, "usage": raw_usage}
                return
        for choice in choices or ():
            if not isinstance(choice, dict):
                continue
            if choice.get("finish_reason") is not None:
                self._finished = True
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self._relayed.add_delta(delta)  # before restoration: the backend's own text
            elif isinstance(piece := choice.get("text"), str):
                self._relayed.add(piece)  # a text completion's chunk
        document["model"] = self._model
        if self._restorer is not None:
            self._restorer.chunk(document)
        self._queue(self._encoder.chunk(document))

    def _settle_usage(self, outcome: str) -> None:
        """The stream's token counts and where they come from: the backend's final count; else its
        running count (the embedded model's tokenizer sends one with every chunk) if the stream
        ended early; else an estimate from the request sent and the text relayed."""
        if self._usage_source is not None:
            return
        if self._usage and (self._usage_final or outcome == "completed"):
            self._usage_source = UPSTREAM
        elif self._usage and "prompt_tokens" in self._usage and "completion_tokens" in self._usage:
            self._usage_source = TOKENIZER
        else:
            self._usage = usage_of(estimate_prompt(self._sent_body), self._relayed.tokens)
            self._usage_source = ESTIMATE

    def _client_usage_chunk(self) -> dict[str, Any]:
        self._settle_usage("completed")
        chunk = self._usage_chunk
        if chunk is None or self._usage_source != UPSTREAM or usage_in(chunk) != self._usage:
            chunk = {
                "id": self._chunk_id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "choices": [],
                "usage": self._usage,
            }
        return {**chunk, "model": self._model}

    async def _flush_restorer(self, write: Write) -> None:
        """Release text held back at the end (a stream that ended without finish_reason)."""
        assert self._restorer is not None
        for index, text in self._restorer.flush().items():
            chunk = {
                "id": "chatcmpl-onshore",
                "object": "chat.completion.chunk",
                "created": self._request_created,
                "model": self._model,
                "choices": [{"index": index, "delta": {"content": text}, "finish_reason": None}],
            }
            await self._send(write, self._encoder.chunk(chunk))

    def _queue(self, data: bytes) -> None:
        if data:
            self._out.append(data)

    async def _flush(self, write: Write) -> None:
        """Write (and only then count in the digest) what this read produced."""
        out = self._out
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            self._hasher.update(data)
            await write(data)

    async def _send(self, write: Write, data: bytes) -> None:
        if data:
            self._hasher.update(data)
            await write(data)
