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
from onshore.identify.principal import Principal
from onshore.prove.record import RequestTrace
from onshore.refusal import Kind, Refusal
from onshore.service.calls import ChatCall
from onshore.service.chat import ChatService
from onshore.service.conversations import Conversations, Turn, request_id_of, response_id_for
from onshore.service.steps import Steps


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
