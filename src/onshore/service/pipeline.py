"""The request path as the edge calls it: one service per model endpoint (chat.py, embeddings.py)
over the steps they share (steps.py). Built once at start-up by app.py."""

from __future__ import annotations

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


class Pipeline:
    def __init__(
        self,
        steps: Steps,
        chat: ChatService,
        embeddings: EmbeddingsService,
        tokenizer_backends: frozenset[str] = frozenset(),
        conversations: Conversations | None = None,
    ) -> None:
        self._steps = steps
        self._chat = chat
        self._embeddings = embeddings
        self._count_tokens = CountTokensService(steps, tokenizer_backends)
        self._completions = CompletionsService(steps, **chat.stream_settings)
        self._responses = ResponsesService(steps, conversations, **chat.stream_settings)
        self.conversations = conversations  # None: the config keeps no Responses turns

    async def chat(self, call: ChatCall, open_stream: OpenStream) -> Reply | None:
        """The answer, or None once a stream has been written through `open_stream`. Chat in the
        Responses dialect goes to the Responses service (the conversation kept by Onshore)."""
        if call.endpoint == "responses":
            return await self._responses.serve(call, open_stream)
        return await self._chat.serve(call, open_stream)

    async def completions(self, call: ChatCall, open_stream: OpenStream) -> Reply | None:
        """A legacy text completion: the answer, or None once a stream has been written."""
        return await self._completions.serve(call, open_stream)

    async def embeddings(self, call: EmbeddingsCall) -> Reply:
        return await self._embeddings.serve(call)

    async def count_tokens(self, call: ChatCall) -> Reply:
        return await self._count_tokens.serve(call)

    def new_id(self) -> str:
        """A fresh request id, for a response that is not a model request's (those use their audit id)."""
        return self._steps.new_id(self._steps.clock.now())

    def identify(self, authorization: str | None) -> Principal:
        """The caller, for endpoints that only list what it may use (a Refusal if it is not a valid key)."""
        return self._steps.identify(authorization)

    async def refuse_unread(
        self, endpoint: str, authorization: str | None, refusal: Refusal, dialect: Dialect
    ) -> Reply:
        """Record and answer a refusal made before the body was read (e.g. over the size limit)."""
        return await self._steps.refuse_unread(endpoint, authorization, refusal, dialect)

    async def record_admin(self, action: str, backend: str, actor: str, reason: str | None, outcome: str) -> None:
        await self._steps.record_admin(action, backend, actor, reason, outcome)
