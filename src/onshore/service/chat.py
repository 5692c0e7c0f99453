"""Chat (/v1/chat/completions, and /v1/messages in Anthropic's dialect): identify -> decide ->
protect -> route -> prove, in that order, read top to bottom in `serve`.

Every request, answered or refused, is recorded before its answer leaves, and an audit failure
turns the answer into an error. A stream is recorded when it opens and when it closes; its final
receipt goes out only after the closing record is durable.
"""

from __future__ import annotations

import functools
from typing import Any

from onshore.decide.decision import Decision
from onshore.identify.principal import Principal
from onshore.protect.answer import ChunkRestorer, restore_completion
from onshore.protect.plan import Plan
from onshore.prove.record import RequestTrace
from onshore.prove.writer import AuditUnavailable
from onshore.refusal import Kind, Refusal
from onshore.route.backends.base import Endpoint
from onshore.route.router import Opened
from onshore.service.calls import ChatCall
from onshore.service.ports import ClientGone, OpenStream, Reply, StreamEncoder
from onshore.service.relay import StreamOutcome, StreamRelay
from onshore.service.steps import RECEIPT_HEADER, REQUEST_ID_HEADER, Steps, StreamTimer, note_restored

_STREAM_UNRECORDED = Refusal(Kind.AUDIT_UNAVAILABLE, "The audit log could not record the end of this stream.")


class ChatService:
    upstream: Endpoint = "chat"  # what the backend is asked for (CompletionsService: legacy completions)

    def __init__(self, steps: Steps, *, cut_disabled_streams: bool = False, max_stream_seconds: float = 1800.0) -> None:
        self._steps = steps
        self._cut_disabled_streams = cut_disabled_streams
        self._max_stream_seconds = max_stream_seconds

    @property
    def stream_settings(self) -> dict[str, Any]:
        """The stream settings, for a service built alongside this one."""
        return {"cut_disabled_streams": self._cut_disabled_streams, "max_stream_seconds": self._max_stream_seconds}

    async def serve(self, call: ChatCall, open_stream: OpenStream) -> Reply | None:
        """The answer, or None once a stream has been written through `open_stream`."""
        steps = self._steps
        trace, started = steps.start(call.endpoint)
        try:
            principal = await steps.caller(trace, call.authorization)  # identify
            await steps.admit(trace, principal, call, "chat")  # the request, the model, the limits
            principal, call = await self._resume(trace, principal, call)  # what it continues (Responses)
            scan = await steps.scan(call, self.upstream)  # protect: what the body holds
            decision = steps.decide(trace, principal, call, scan)  # decide: where it may go
            plan = steps.plan(trace, decision, call, scan)  # protect: what each route receives
            if call.stream:  # route and prove, as the answer streams
                return await self._stream(trace, started, decision, plan, call, open_stream)
            return await self._answer(trace, started, decision, plan, call)  # route, then prove
        except Exception as exc:  # noqa: BLE001 - a bug must refuse (and be recorded), never pass data through
            return await steps.refuse(trace, started, steps.as_refusal(trace, exc), call.dialect)

    async def _answer(
        self, trace: RequestTrace, started: float, decision: Decision, plan: Plan, call: ChatCall
    ) -> Reply:
        opened = await self._steps.open(trace, plan, self.upstream, stream=False)
        return await self._answered(trace, started, decision, plan, call, opened)

    async def _answered(
        self, trace: RequestTrace, started: float, decision: Decision, plan: Plan, call: ChatCall, opened: Opened
    ) -> Reply:
        """The backend's whole answer: restored, kept (Responses), recorded, then handed out."""
        steps = self._steps
        document = opened.document or {}
        document["model"] = trace.model  # clients see the public name, not the backend's
        steps.take_usage(trace, document, plan.body_for(opened.route), self.upstream)
        vault = plan.restores(opened.route)
        if vault is not None:
            note_restored(trace, restore_completion(document, vault, plan.sent_text()))
        payload = call.dialect.encode_response(document, trace.model or "")
        await self._keep(trace, call)  # before the answer leaves: a follow-up finds it
        return await steps.answer(trace, started, decision, opened, payload, call.dialect)

    async def _stream(
        self,
        trace: RequestTrace,
        started: float,
        decision: Decision,
        plan: Plan,
        call: ChatCall,
        open_stream: OpenStream,
    ) -> Reply | None:
        steps = self._steps
        opened = await steps.open(trace, plan, self.upstream, stream=True)
        trace.kind, trace.status, trace.outcome = "stream_open", 200, "streaming"
        try:
            await steps.record(trace, started)
            headers = {
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                **call.dialect.standard_headers(trace.id, trace.quota, trace.ts),
                REQUEST_ID_HEADER: trace.id,
                RECEIPT_HEADER: steps.receipt(trace, decision, opened, stream=True),
            }
        except AuditUnavailable:
            opened.close()
            return steps.audit_failed(trace, call.dialect)
        except BaseException:
            opened.close()  # the relay never took the upstream connection over
            raise
        # observe: the encoder notes its first chunk (time to first token)
        encoder = StreamTimer(self._stream_encoder(call, opened, trace.model or ""), steps.clock.monotonic, started)
        relay = self._relay(trace, plan, call, opened, encoder)
        relayed_from = steps.clock.monotonic()
        try:
            ended = await relay.run(open_stream, headers)
        except BaseException:  # cancelled mid-stream (shutdown): the close is still recorded
            await self._close(trace, opened, relay.ended("cancelled"), relayed_from, encoder)
            raise
        recorded = await self._close(trace, opened, ended, relayed_from, encoder)
        if ended.write is None:
            return None  # the client is gone: nothing more to send
        try:
            if not recorded:
                await ended.write(encoder.error(_STREAM_UNRECORDED), end=True)
            elif ended.tail:
                await ended.write(ended.tail, end=True)
            elif ended.outcome == "completed":
                try:
                    await self._keep(trace, call)  # before the stream ends: a follow-up finds it
                except Refusal as refusal:
                    await ended.write(encoder.error(refusal), end=True)
                    return None
                receipt = encoder.receipt(steps.final_receipt(trace, decision, opened, ended.digest))
                await ended.write(receipt + encoder.done(), end=True)  # one write: the receipt and the end
        except ClientGone:
            pass
        return None

    def _stream_encoder(self, call: ChatCall, opened: Opened, model: str) -> StreamEncoder:
        """How the stream is written to the client (ResponsesService: a native backend's own events)."""
        return call.dialect.stream_encoder(model)

    def _relay(
        self, trace: RequestTrace, plan: Plan, call: ChatCall, opened: Opened, encoder: StreamTimer
    ) -> StreamRelay:
        """The relay of the opened backend stream (ResponsesService: one for a native backend's events)."""
        vault = plan.restores(opened.route)
        return StreamRelay(
            opened,
            encoder,
            wants_usage=call.wants_usage,
            restorer=None if vault is None else ChunkRestorer(vault, plan.sent_text()),
            **self._relay_settings(trace, plan, opened),
        )

    def _relay_settings(self, trace: RequestTrace, plan: Plan, opened: Opened) -> dict[str, Any]:
        """What every stream relay of this service is told, whatever the backend speaks."""
        router = self._steps.router
        return {
            "request_id": trace.id,
            "model": trace.model,
            "created": int(trace.ts),
            "sent_body": plan.body_for(opened.route),
            "max_seconds": self._max_stream_seconds,
            "monotonic": self._steps.clock.monotonic,
            "still_enabled": (
                functools.partial(router.is_enabled, opened.route.backend.name) if self._cut_disabled_streams else None
            ),
            "scrub": router.scrub,
        }

    async def _resume(self, trace: RequestTrace, principal: Principal, call: ChatCall) -> tuple[Principal, ChatCall]:
        """What the request continues (ResponsesService: a kept conversation); nothing for chat."""
        return principal, call

    async def _keep(self, trace: RequestTrace, call: ChatCall) -> None:
        """Keep what a later request continues (ResponsesService: the turn); nothing for chat."""

    async def _close(
        self, trace: RequestTrace, opened: Opened, ended: StreamOutcome, relayed_from: float, timer: StreamTimer
    ) -> bool:
        """Write the stream's closing record; False if the audit store failed."""
        steps = self._steps
        note_restored(trace, ended.restored)
        now = steps.clock.now()
        close = RequestTrace(
            id=steps.new_id(now),
            ts=now,
            endpoint=trace.endpoint,
            kind="stream_close",
            tenant=trace.tenant,
            key_id=trace.key_id,
            model=trace.model,
            data_class=trace.data_class,
            decision=trace.decision,
            chosen=trace.chosen,
            attempts=trace.attempts,
            status=200,
            outcome=ended.outcome,
            usage=ended.usage,
            usage_source=ended.usage_source,
            request_sha256=trace.request_sha256,
            response_sha256=ended.digest,
            upstream_ms=(steps.clock.monotonic() - opened.started) * 1000,
            stream_of=trace.id,
            personal_data=trace.personal_data,
        )
        steps.count_tokens(ended.usage, close)
        steps.served(trace.endpoint, trace.model)
        try:
            await steps.record(close, relayed_from, trace, timer)  # observe: the open's trace and first chunk
        except AuditUnavailable:
            return False
        return True
