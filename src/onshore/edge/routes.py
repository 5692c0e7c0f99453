"""The one route table. Everything Onshore serves over HTTP is listed here."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from onshore.edge import handlers, responses
from onshore.edge.errors import ApiError, api_error
from onshore.edge.headers import X_REQUEST_ID
from onshore.edge.model_routes import MODEL_ROUTES
from onshore.refusal import Refusal

ROUTES = [
    *(web.post(path, handlers.model_handler(route)) for path, route in MODEL_ROUTES.items()),
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


def openai_errors(handler: Handler) -> Handler:
    """Every error leaves in OpenAI's format; and every response carries an x-request-id (a model
    request's is its audit id, set by the service). A wrapper per route rather than an aiohttp
    middleware: an application with no middleware skips aiohttp's middleware chain (and its own
    current-app middleware) on every request: ~22,000 instructions, 1.1% of a JSON request."""

    async def served(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except (ApiError, Refusal, web.HTTPException) as exc:
            response = _error_response(request, exc)
        if not response.prepared and X_REQUEST_ID not in response.headers:
            response.headers[X_REQUEST_ID] = request.app[handlers.GATEWAY].pipeline.new_id()
        return response

    return served


def _error_response(request: web.Request, exc: Exception) -> web.StreamResponse:
    if isinstance(exc, ApiError):
        return handlers.error_response(exc)
    if isinstance(exc, Refusal):  # e.g. an invalid key on /v1/models, a body over the limit on the admin API
        return handlers.error_response(api_error(exc))
    assert isinstance(exc, web.HTTPException)
    if exc.status < 400:
        raise exc
    code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(exc.status, "http_error")
    message = f"{request.method} {request.path} is not served here." if exc.status in (404, 405) else exc.reason
    return handlers.error_response(ApiError(exc.status, message, code=code))


async def _not_served(request: web.Request) -> web.StreamResponse:
    """Any path or method no route serves: 405 where another method of the path is served, else 404
    (what aiohttp's router would answer, in OpenAI's shape)."""
    own = request.match_info.route.resource
    for resource in request.app.router.resources():
        if resource is not own:
            _, allowed = await resource.resolve(request)
            if allowed:
                raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()


# API requests that write no audit record of their own, by path: the access log still gets their line.
UNRECORDED = {
    "/v1/models": "models",
    "/v1/models/{model:.+}": "models",
    "/v1/responses/{response_id}": "responses_stored",
    "/v1/responses/{response_id}/input_items": "responses_stored",
}


def access_logged(handler: Handler, endpoint: str) -> Handler:
    """Around `openai_errors`: one access-log line with the status the client got."""

    async def served(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        response = await handler(request)
        request.app[handlers.GATEWAY].pipeline.log_unrecorded(
            endpoint,
            response.headers.get(X_REQUEST_ID, ""),
            response.status,
            (time.perf_counter() - started) * 1000,
            request.get(handlers.CALLER),
        )
        return response

    return served


def _wrapped(route: web.RouteDef) -> web.RouteDef:
    handler = openai_errors(route.handler)
    if route.path in UNRECORDED:
        handler = access_logged(handler, UNRECORDED[route.path])
    return web.RouteDef(route.method, route.path, handler, route.kwargs)


# Every route's handler wrapped, and a catch-all (the router tries it after every other resource).
ROUTES = [
    *(_wrapped(r) for r in ROUTES),
    web.route("*", "/{path:.*}", openai_errors(_not_served)),
]
