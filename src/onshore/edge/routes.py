"""The one route table. Everything Onshore serves over HTTP is listed here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from onshore.edge import handlers, responses
from onshore.edge.errors import ApiError, api_error
from onshore.edge.headers import X_REQUEST_ID
from onshore.refusal import Refusal

ROUTES = [
    web.post("/v1/chat/completions", handlers.chat_completions),
    web.post("/v1/completions", handlers.completions),
    web.post("/v1/embeddings", handlers.embeddings),
    web.post("/v1/messages", handlers.messages),
    web.post("/v1/messages/count_tokens", handlers.count_tokens),
    web.post("/v1/responses", responses.create),
    web.get("/v1/responses/{response_id}", responses.retrieve, allow_head=False),
    web.delete("/v1/responses/{response_id}", responses.delete),
    web.get("/v1/responses/{response_id}/input_items", responses.input_items, allow_head=False),
    web.get("/v1/models", handlers.list_models, allow_head=False),
    web.get("/v1/models/{model:.+}", handlers.retrieve_model, allow_head=False),
    web.get("/healthz", handlers.healthz),
    web.get("/readyz", handlers.readyz),
    web.get("/metrics", handlers.metrics),
    web.get("/.well-known/jwks.json", handlers.jwks),
    web.get("/admin/backends", handlers.admin_backends),
    web.post("/admin/backends/{name}/{action:disable|enable}", handlers.admin_switch),
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def openai_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves in OpenAI's format, including aiohttp's own 404 and 405; and every response
    carries an x-request-id (a model request's is its audit id, set by the service)."""
    response = await _served(request, handler)
    if not response.prepared and X_REQUEST_ID not in response.headers:
        response.headers[X_REQUEST_ID] = request.app[handlers.GATEWAY].pipeline.new_id()
    return response


async def _served(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return handlers.error_response(error)
    except Refusal as refusal:  # e.g. an invalid key on /v1/models, a body over the limit on the admin API
        return handlers.error_response(api_error(refusal))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(exc.status, "http_error")
        message = f"{request.method} {request.path} is not served here." if exc.status in (404, 405) else exc.reason
        return handlers.error_response(ApiError(exc.status, message, code=code))
