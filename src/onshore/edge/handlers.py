"""HTTP handlers: read the request, call the service, write its answer. Nothing else."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from onshore.decide.data_class import DATA_CLASS_HEADER
from onshore.edge.dialects import EdgeDialect
from onshore.edge.errors import DEFAULT_RETRY_AFTER, RETRY_AFTER, ApiError
from onshore.edge.model_routes import ModelRoute
from onshore.edge.state import Gateway
from onshore.edge.wire import raise_for_size
from onshore.events.model import client_source
from onshore.identify.principal import Principal
from onshore.identify.roles import Action
from onshore.identify.roles import refusal as role_refusal
from onshore.prove.writer import AuditUnavailable
from onshore.refusal import Refusal, model_not_found
from onshore.service.ports import ClientGone, Reply, Write

_encoder = msgspec.json.Encoder()
GATEWAY = web.AppKey("gateway", Gateway)
_GONE = (ConnectionError, aiohttp.ClientConnectionResetError)  # what a write to a closed client raises


def error_response(error: ApiError) -> web.Response:
    return web.Response(status=error.status, body=error.body(), content_type="application/json", headers=error.headers)


def _answer(result: Reply) -> web.Response:
    # Every complete answer is JSON (an answer or an error body); refusals carry no Content-Type of
    # their own, and aiohttp would otherwise label them application/octet-stream.
    headers = {"Content-Type": "application/json", **result.headers}
    return web.Response(status=result.status, body=result.body, headers=headers)


async def read_body(request: web.Request, limit: int) -> bytes:
    """Read at most `limit` bytes; anything larger is refused (413) before it is buffered."""
    if request.content_length is not None:
        raise_for_size(request.content_length, limit)
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        raise_for_size(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _body_or_refusal(
    request: web.Request, endpoint: str, authorization: str | None, dialect: EdgeDialect
) -> bytes | web.Response:
    """The request body, or a recorded refusal when it is over the size limit."""
    gateway = request.app[GATEWAY]
    try:
        return await read_body(request, gateway.max_body_bytes)
    except Refusal as refusal:
        return _answer(await gateway.pipeline.refuse_unread(endpoint, authorization, refusal, dialect))


def _client_write(response: web.StreamResponse) -> Write:
    async def write(data: bytes, *, end: bool = False) -> None:
        try:
            if end:
                await response.write_eof(data)  # the data and the last chunk in one write
            else:
                await response.write(data)
        except _GONE:
            raise ClientGone from None

    return write


def model_handler(route: ModelRoute) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A model route on aiohttp: the service either returns an answer or writes a stream through us."""

    async def handle(request: web.Request) -> web.StreamResponse:
        client_source.set(request.remote)  # for security events (each request runs in its own task)
        gateway = request.app[GATEWAY]
        dialect = route.dialect()
        authorization = route.authorization(request.headers)
        raw = await _body_or_refusal(request, route.endpoint, authorization, dialect)
        if isinstance(raw, web.Response):
            return raw
        stream_response: web.StreamResponse | None = None

        async def open_stream(headers: dict[str, str]) -> Write:
            nonlocal stream_response
            stream_response = web.StreamResponse(status=200, headers=headers)
            try:
                await stream_response.prepare(request)
            except _GONE:
                raise ClientGone from None
            return _client_write(stream_response)

        data_class = request.headers.get(DATA_CLASS_HEADER)
        result = await route.run(gateway.pipeline, dialect, raw, authorization, data_class, open_stream)
        if result is not None:
            return _answer(result)
        assert stream_response is not None
        return stream_response

    return handle


def _model_card(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "onshore"}


CALLER = web.RequestKey("onshore_caller", Principal)  # who an unrecorded request came from (its access line)


async def list_models(request: web.Request) -> web.Response:
    client_source.set(request.remote)
    gateway = request.app[GATEWAY]
    principal = request[CALLER] = gateway.pipeline.identify(request.headers.get("Authorization"))
    names = gateway.reachable_models(principal, request.headers.get(DATA_CLASS_HEADER))
    body = {"object": "list", "data": [_model_card(name, gateway.started_at) for name in names]}
    return web.Response(body=_encoder.encode(body), content_type="application/json")


async def retrieve_model(request: web.Request) -> web.Response:
    client_source.set(request.remote)
    gateway = request.app[GATEWAY]
    principal = request[CALLER] = gateway.pipeline.identify(request.headers.get("Authorization"))
    name = request.match_info["model"]
    if name not in gateway.reachable_models(principal, request.headers.get(DATA_CLASS_HEADER)):
        raise model_not_found(name)
    return web.Response(body=_encoder.encode(_model_card(name, gateway.started_at)), content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    problems = request.app[GATEWAY].readiness_problems()
    if problems:
        return web.json_response(
            {"status": "not ready", "problems": problems}, status=503, headers={RETRY_AFTER: DEFAULT_RETRY_AFTER}
        )
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    token = request.app[GATEWAY].metrics_token
    if token is not None:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied.encode(), token.encode()):
            raise ApiError(
                401, "Metrics need the metrics token.", code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}
            )
    body = request.app[GATEWAY].metrics.render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


async def jwks(request: web.Request) -> web.Response:
    return web.Response(body=_encoder.encode(request.app[GATEWAY].signer.jwks()), content_type="application/json")


# --- admin API: the kill switch, for operators (bearer admin key; absent key = no admin API) ---------
def _admin(request: web.Request, action: Action) -> tuple[Gateway, str]:
    """The gateway and the actor: the admin key (actor "admin-api"), or, with roles configured, an
    API key or token whose role permits `action` (actor: its principal)."""
    client_source.set(request.remote)
    gateway = request.app[GATEWAY]
    authorization = request.headers.get("Authorization", "")
    supplied = authorization.removeprefix("Bearer ").strip()
    if gateway.admin_key is not None and hmac.compare_digest(supplied.encode(), gateway.admin_key.encode()):
        actor = "admin-api"
    elif gateway.admin_roles:
        principal = gateway.pipeline.identify(authorization)  # 401/503 exactly as on the API
        if (why := role_refusal(principal.roles, action)) is not None:
            raise ApiError(403, why, type="permission_error", code="insufficient_role")
        actor = principal.key_id
    elif gateway.admin_key is None:
        raise ApiError(404, "The admin API is not enabled (set gateway.admin_key_env).", code="not_found")
    else:
        raise ApiError(401, "Invalid admin key.", code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
    if gateway.controls is None:
        raise ApiError(409, "The kill switch needs gateway.redis (shared by every replica).", code="no_shared_state")
    return gateway, actor


async def admin_backends(request: web.Request) -> web.Response:
    gateway, _ = _admin(request, "backends.read")
    assert gateway.controls is not None
    disabled = await gateway.controls.disabled_backends()
    names = sorted(gateway.decisions.policy.backends)
    body = {
        "backends": [
            {"name": n, "enabled": n not in disabled, **({"disabled": disabled[n]} if n in disabled else {})}
            for n in names
        ]
    }
    return web.Response(body=_encoder.encode(body), content_type="application/json")


async def admin_switch(request: web.Request) -> web.Response:
    gateway, actor = _admin(request, "backends.switch")
    assert gateway.controls is not None
    name, action = request.match_info["name"], request.match_info["action"]
    if name not in gateway.decisions.policy.backends:
        raise ApiError(404, f"No backend named '{name}'.", code="not_found")
    reason = None
    if action == "disable":
        raw = await read_body(request, 16384)
        try:
            document = msgspec.json.decode(raw) if raw else {}
        except msgspec.DecodeError:
            raise ApiError(400, 'The body must be JSON: {"reason": "..."}.', code="invalid_json") from None
        reason = document.get("reason") if isinstance(document, dict) else None
        if not isinstance(reason, str) or not reason.strip():
            raise ApiError(400, 'Say why: send {"reason": "..."}.', param="reason", code="missing_reason")
    try:  # recorded before it takes effect: no operator action without a record
        await gateway.pipeline.record_admin(action, name, actor, reason, "requested")
    except AuditUnavailable:
        raise ApiError(
            503, "The audit log is unavailable; nothing was changed.", type="api_error", code="audit_unavailable"
        ) from None
    if action == "disable":
        await gateway.controls.disable_backend(name, reason or "", actor, time.time())
    else:
        await gateway.controls.enable_backend(name, actor, time.time())
    return web.Response(
        body=_encoder.encode({"backend": name, "action": action, "reason": reason}), content_type="application/json"
    )
