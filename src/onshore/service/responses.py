"""OpenAI's Responses API (/v1/responses): the chat path (chat.py) with a conversation kept by Onshore.

A turn that names `previous_response_id` continues the conversation its owner kept: the stored
messages go between the new turn's instructions and its input, and the whole request then walks the
path like any other, so residency is decided again and personal data scanned, pseudonymised for the
chosen backend and restored again, on every turn. The turn is decided under at least the stored
conversation's data class (the principal's floor is raised to it), so a follow-up cannot move
confidential history to a less trusted backend. A turn with `store` (the API's default) is kept once
answered, before the answer leaves (for a stream: before it ends).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

import msgspec

from onshore.decide.classes import stricter
from onshore.decide.decision import Decision
from onshore.decide.policy import Route
from onshore.identify.principal import Principal
from onshore.protect.plan import Plan
from onshore.protect.responses_answer import EventRestorer, restore_response
from onshore.prove.record import RequestTrace
from onshore.refusal import Kind, Refusal
from onshore.route.backends.openai_responses import NATIVE
from onshore.route.router import Opened
from onshore.service.calls import ChatCall
from onshore.service.chat import ChatService
from onshore.service.conversations import Conversations, Turn, request_id_of, response_id_for
from onshore.service.native_relay import NativeEncoder, NativeRelay, chat_usage
from onshore.service.ports import OpenStream, Reply, StreamEncoder
from onshore.service.relay import StreamRelay
from onshore.service.steps import UPSTREAM, Steps, StreamTimer, note_restored

_encoder = msgspec.json.Encoder()


@runtime_checkable
class ResponsesTurn(Protocol):
    """What a Responses request asks of the conversation state: its dialect (edge/dialects.py) parsed it."""

    @property
    def store(self) -> bool:
        """The client asks for the turn to be kept (the API's default)."""
        ...

    @property
    def previous_response_id(self) -> str | None: ...

    @property
    def instructions(self) -> int:
        """How many leading messages came from `instructions` (never carried into a later turn)."""
        ...

    def begin(self, response_id: str, stored: bool) -> None:
        """The Response's id, and whether it is kept (echoed as `store`)."""
        ...

    def sent(self) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]] | None:
        """The Response object the client was sent, its output as chat messages and the turn's input
        as items; None before then."""
        ...

    def present(self, upstream: dict[str, Any], model: str, *, final: bool) -> dict[str, Any]:
        """A native backend's Response (restored) as the client gets it: Onshore's id, the public
        model, the request's echo; `final`: the one `sent` then reports."""
        ...


class _NativePlan(Plan):
    """The plan, with each native route's body marked for its Responses endpoint (the adapter builds
    the Responses request from the planned chat body: the same scan, the same vault)."""

    __slots__ = ("instructions", "native")

    native: frozenset[str]
    instructions: int

    def body_for(self, route: Route) -> dict[str, Any]:
        body = super().body_for(route)
        return {**body, NATIVE: self.instructions} if route.backend.name in self.native else body


def _turn(call: ChatCall) -> ResponsesTurn:
    turn = call.dialect
    if not isinstance(turn, ResponsesTurn):
        raise TypeError("a Responses request needs the Responses dialect")
    return turn


def _not_found(response_id: str) -> Refusal:
    return Refusal(
        Kind.PREVIOUS_RESPONSE_NOT_FOUND,
        f"Previous response with id '{response_id}' not found.",
        param="previous_response_id",
    )


class ResponsesService(ChatService):
    def __init__(self, steps: Steps, conversations: Conversations | None, **stream_settings: Any) -> None:
        super().__init__(steps, **stream_settings)
        self._conversations = conversations

    # --- native backends: the Responses API passed through ------------------------------------------
    def _routed(self, plan: Plan, call: ChatCall) -> Plan:
        """The plan, marking the routes whose backend speaks the Responses API natively."""
        router = self._steps.router
        native = frozenset(route.backend.name for route in plan.routes if router.serves(route, "responses"))
        if not native:
            return plan
        routed = _NativePlan(**{f.name: getattr(plan, f.name) for f in dataclasses.fields(plan)})
        routed.native, routed.instructions = native, _turn(call).instructions
        return routed

    def _is_native(self, opened: Opened) -> bool:
        return self._steps.router.serves(opened.route, "responses")

    async def _answer(
        self, trace: RequestTrace, started: float, decision: Decision, plan: Plan, call: ChatCall
    ) -> Reply:
        return await super()._answer(trace, started, decision, self._routed(plan, call), call)

    async def _stream(
        self,
        trace: RequestTrace,
        started: float,
        decision: Decision,
        plan: Plan,
        call: ChatCall,
        open_stream: OpenStream,
    ) -> Reply | None:
        return await super()._stream(trace, started, decision, self._routed(plan, call), call, open_stream)

    async def _answered(
        self, trace: RequestTrace, started: float, decision: Decision, plan: Plan, call: ChatCall, opened: Opened
    ) -> Reply:
        if not self._is_native(opened):
            return await super()._answered(trace, started, decision, plan, call, opened)
        steps = self._steps
        document = opened.document or {}
        if document.get("object") != "response":
            name = opened.route.backend.name
            raise Refusal(Kind.UPSTREAM_BAD_RESPONSE, f"Backend '{name}' did not answer with a Response object.")
        trace.usage, trace.usage_source = chat_usage(document), UPSTREAM
        if not trace.usage:
            steps.take_usage(trace, {}, plan.body_for(opened.route), self.upstream)  # an estimate, and says so
        vault = plan.restores(opened.route)
        if vault is not None:
            note_restored(trace, restore_response(document, vault, plan.sent_text()))
        response = _turn(call).present(document, trace.model or "", final=True)
        payload = _encoder.encode(response)
        await self._keep(trace, call)  # before the answer leaves: a follow-up finds it
        return await steps.answer(trace, started, decision, opened, payload, call.dialect)

    def _stream_encoder(self, call: ChatCall, opened: Opened, model: str) -> StreamEncoder:
        base = super()._stream_encoder(call, opened, model)
        return NativeEncoder(base) if self._is_native(opened) else base

    def _relay(
        self, trace: RequestTrace, plan: Plan, call: ChatCall, opened: Opened, encoder: StreamTimer
    ) -> StreamRelay:
        if not self._is_native(opened):
            return super()._relay(trace, plan, call, opened, encoder)
        vault = plan.restores(opened.route)
        turn = _turn(call)
        model = trace.model or ""
        return NativeRelay(
            opened,
            encoder,
            wants_usage=False,  # response.completed carries the usage
            restorer=None,
            **self._relay_settings(trace, plan, opened),
            events=None if vault is None else EventRestorer(vault, plan.sent_text()),
            present=lambda snapshot, final: turn.present(snapshot, model, final=final),
        )

    # --- the conversation kept by Onshore -----------------------------------------------------------

    async def _resume(self, trace: RequestTrace, principal: Principal, call: ChatCall) -> tuple[Principal, ChatCall]:
        turn = _turn(call)
        conversations = self._conversations
        turn.begin(response_id_for(trace.id), stored=conversations is not None and turn.store)
        previous = turn.previous_response_id
        if previous is None:
            return principal, call
        if conversations is None:
            raise Refusal(
                Kind.UNSUPPORTED_PARAMETER,
                "'previous_response_id' needs conversations kept by Onshore, which this gateway's config "
                "turns off (gateway.responses.store); send the whole conversation in 'input'.",
                param="previous_response_id",
            )
        found = await conversations.find(previous, principal)
        if found is None:
            raise _not_found(previous if len(previous) <= 64 else previous[:64] + "...")
        earlier, size = found
        trace.continues = request_id_of(previous)  # the auditor's way from this turn's record to the last
        messages = call.body["messages"]
        lead = turn.instructions
        body = {**call.body, "messages": [*messages[:lead], *earlier.messages, *messages[lead:]]}
        # The history counts towards the body's size: a long conversation is scanned off the event loop.
        call = msgspec.structs.replace(call, body=body, size=call.size + size)
        return dataclasses.replace(principal, floor=stricter(principal.floor, earlier.data_class)), call

    async def _keep(self, trace: RequestTrace, call: ChatCall) -> None:
        turn = _turn(call)
        sent = turn.sent()
        if self._conversations is None or not turn.store or sent is None:
            return
        response, answer, items = sent
        assert trace.tenant is not None
        assert trace.key_id is not None
        assert trace.data_class is not None
        history = [*call.body["messages"][turn.instructions :], *answer]
        kept = Turn(data_class=trace.data_class, messages=history, response=response, input_items=items)
        await self._conversations.keep(response["id"], trace.tenant, trace.key_id, kept)
