"""The request path as the edge calls it: one service per model endpoint (chat.py, embeddings.py)
over the steps they share (steps.py).

Everything a config reload may change (policy, router, limits, protector, key roles) lives in one
frozen Generation. The pipeline reads its current generation once per request and the request runs
on that generation to its end; a reload builds a whole new one off to the side and swaps it in with
one assignment, so no request ever sees half of an old config and half of a new one.
"""

from __future__ import annotations

from dataclasses import dataclass

from onshore.decide.decision import DecisionCache
from onshore.identify.principal import Principal
from onshore.refusal import Refusal
from onshore.service.calls import ChatCall, EmbeddingsCall
from onshore.service.chat import ChatService
from onshore.service.completions import CompletionsService
from onshore.service.conversations import Conversations
from onshore.service.count_tokens import CountTokensService
from onshore.service.embeddings import EmbeddingsService
from onshore.service.ports import Dialect, OpenStream, Reply
from onshore.service.responses import ResponsesService
from onshore.service.steps import Steps


@dataclass(frozen=True, slots=True)
class Generation:
    """One config's request path, whole: never changed once built (a reload makes a new one)."""

    steps: Steps
    decisions: DecisionCache  # the same cache `steps` decides with: the policy of this generation
    chat: ChatService
    embeddings: EmbeddingsService
    completions: CompletionsService
    count_tokens: CountTokensService
    responses: ResponsesService

    @classmethod
    def of(
        cls,
        steps: Steps,
        decisions: DecisionCache,
        chat: ChatService,
        embeddings: EmbeddingsService,
        tokenizer_backends: frozenset[str] = frozenset(),
        conversations: Conversations | None = None,
    ) -> Generation:
        return cls(
            steps,
            decisions,
            chat,
            embeddings,
            CompletionsService(steps, **chat.stream_settings),
            CountTokensService(steps, tokenizer_backends),
            ResponsesService(steps, conversations, **chat.stream_settings),
        )


class Pipeline:
    def __init__(self, generation: Generation, conversations: Conversations | None = None) -> None:
        self._current = generation
        # Kept Responses turns outlive a reload (their store and key are the gateway's, not a config's).
        self.conversations = conversations  # None: the config keeps no Responses turns

    @property
    def current(self) -> Generation:
        return self._current

    def swap(self, generation: Generation) -> Generation:
        """Serve new requests from `generation` (one assignment); returns the one it replaces, which
        the requests already on it keep using until they finish."""
        previous, self._current = self._current, generation
        return previous

    async def chat(self, call: ChatCall, open_stream: OpenStream) -> Reply | None:
        """The answer, or None once a stream has been written through `open_stream`. Chat in the
        Responses dialect goes to the Responses service (the conversation kept by Onshore)."""
        if call.endpoint == "responses":
            return await self._current.responses.serve(call, open_stream)
        return await self._current.chat.serve(call, open_stream)

    async def completions(self, call: ChatCall, open_stream: OpenStream) -> Reply | None:
        """A legacy text completion: the answer, or None once a stream has been written."""
        return await self._current.completions.serve(call, open_stream)

    async def embeddings(self, call: EmbeddingsCall) -> Reply:
        return await self._current.embeddings.serve(call)

    async def count_tokens(self, call: ChatCall) -> Reply:
        return await self._current.count_tokens.serve(call)

    def new_id(self) -> str:
        """A fresh request id, for a response that is not a model request's (those use their audit id)."""
        steps = self._current.steps
        return steps.new_id(steps.clock.now())

    def log_unrecorded(
        self, endpoint: str, request_id: str, status: int, total_ms: float, principal: Principal | None
    ) -> None:
        """The access-log line of a request with no audit record of its own (models, kept turns)."""
        self._current.steps.log_unrecorded(endpoint, request_id, status, total_ms, principal)

    def identify(self, authorization: str | None) -> Principal:
        """The caller, for endpoints that only list what it may use (a Refusal if it is not a valid key)."""
        return self._current.steps.identify(authorization)

    async def refuse_unread(
        self, endpoint: str, authorization: str | None, refusal: Refusal, dialect: Dialect
    ) -> Reply:
        """Record and answer a refusal made before the body was read (e.g. over the size limit)."""
        return await self._current.steps.refuse_unread(endpoint, authorization, refusal, dialect)

    async def record_admin(self, action: str, backend: str, actor: str, reason: str | None, outcome: str) -> None:
        await self._current.steps.record_admin(action, backend, actor, reason, outcome)
