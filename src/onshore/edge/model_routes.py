"""The model routes without a web framework: for each path, how the caller's credential is read and
which pipeline call the body becomes. aiohttp's handlers (edge/handlers.py) and the lean HTTP/1.1
server (edge/lean_server.py) both serve these, so the two cannot drift apart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from onshore.edge.calls import chat_call, completion_call, count_tokens_call, embeddings_call
from onshore.edge.dialects import ANTHROPIC, OPENAI, EdgeDialect, ResponsesDialect
from onshore.service.pipeline import Pipeline
from onshore.service.ports import OpenStream, Reply

# Request headers, looked up by lower-case name (aiohttp's are case-insensitive; the lean server's
# are lower-cased as they are parsed).
Headers = Mapping[str, str]
Run = Callable[[Pipeline, EdgeDialect, bytes, str | None, str | None, OpenStream], Awaitable[Reply | None]]


@dataclass(frozen=True, slots=True)
class ModelRoute:
    endpoint: str  # what a refusal recorded before the body is read is filed under
    dialect: Callable[[], EdgeDialect]  # one per request (the Responses dialect keeps the request's state)
    authorization: Callable[[Headers], str | None]
    run: Run  # the pipeline call: a whole Reply, or None once it has streamed through open_stream


def openai_authorization(headers: Headers) -> str | None:
    return headers.get("authorization")


def anthropic_authorization(headers: Headers) -> str | None:
    """Claude-style clients send their key as x-api-key; a bearer Authorization wins if both are sent."""
    authorization = headers.get("authorization")
    if authorization is None and (api_key := headers.get("x-api-key")) is not None:
        authorization = f"Bearer {api_key}"
    return authorization


async def _chat(
    pipeline: Pipeline,
    dialect: EdgeDialect,
    raw: bytes,
    authorization: str | None,
    data_class: str | None,
    open_stream: OpenStream,
) -> Reply | None:
    return await pipeline.chat(chat_call(raw, dialect, authorization, data_class), open_stream)


async def _completions(
    pipeline: Pipeline,
    dialect: EdgeDialect,
    raw: bytes,
    authorization: str | None,
    data_class: str | None,
    open_stream: OpenStream,
) -> Reply | None:
    """Legacy text completions, for the tools that still use them: the same path as chat."""
    return await pipeline.completions(completion_call(raw, authorization, data_class), open_stream)


async def _count_tokens(
    pipeline: Pipeline,
    dialect: EdgeDialect,
    raw: bytes,
    authorization: str | None,
    data_class: str | None,
    open_stream: OpenStream,
) -> Reply | None:
    """Anthropic's token count: the same identity, decision and protection as /v1/messages."""
    return await pipeline.count_tokens(count_tokens_call(raw, authorization, data_class))


async def _embeddings(
    pipeline: Pipeline,
    dialect: EdgeDialect,
    raw: bytes,
    authorization: str | None,
    data_class: str | None,
    open_stream: OpenStream,
) -> Reply | None:
    return await pipeline.embeddings(embeddings_call(raw, authorization, data_class))


def _openai() -> EdgeDialect:
    return OPENAI


def _anthropic() -> EdgeDialect:
    return ANTHROPIC


MODEL_ROUTES: dict[str, ModelRoute] = {
    "/v1/chat/completions": ModelRoute(OPENAI.chat_endpoint, _openai, openai_authorization, _chat),
    "/v1/completions": ModelRoute("completions", _openai, openai_authorization, _completions),
    "/v1/embeddings": ModelRoute("embeddings", _openai, openai_authorization, _embeddings),
    # Anthropic's Messages API, for Claude-style clients: same path, same policy, same proof.
    "/v1/messages": ModelRoute(ANTHROPIC.chat_endpoint, _anthropic, anthropic_authorization, _chat),
    "/v1/messages/count_tokens": ModelRoute("count_tokens", _anthropic, anthropic_authorization, _count_tokens),
    # OpenAI's Responses API: the chat path in the Responses dialect (edge/responses.py serves the rest).
    "/v1/responses": ModelRoute("responses", ResponsesDialect, openai_authorization, _chat),
}
