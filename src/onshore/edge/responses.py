"""OpenAI's Responses API at the edge: `POST /v1/responses` runs the chat path in the Responses
dialect (identify, limits, scan, decision, pseudonymisation, routing, audit and receipts unchanged,
plus the conversation Onshore keeps: service/responses.py).

`GET` and `DELETE /v1/responses/{id}` and `GET /v1/responses/{id}/input_items` serve the turns
Onshore kept, to their owner only: anyone else
gets the 404 an id that never existed gets. Both are recorded in the audit chain before the answer
(a Refusal, e.g. the store unavailable, is turned into its HTTP error by routes.openai_errors).
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
from aiohttp import web

from onshore.edge import handlers
from onshore.edge.errors import ApiError
from onshore.events.model import client_source
from onshore.identify.principal import Principal
from onshore.prove.writer import AuditUnavailable
from onshore.service.conversations import Conversations

_encoder = msgspec.json.Encoder()


def _owner(request: web.Request) -> tuple[Principal, Conversations, str]:
    client_source.set(request.remote)  # for the security event of a failed authentication
    pipeline = request.app[handlers.GATEWAY].pipeline
    principal = request[handlers.CALLER] = pipeline.identify(request.headers.get("Authorization"))  # 401 before 404
    response_id = request.match_info["response_id"]
    if pipeline.conversations is None:
        raise ApiError(
            404,
            f"No response '{response_id[:64]}': this gateway keeps no Responses turns (gateway.responses.store).",
            param="response_id",
            code="not_found",
        )
    return principal, pipeline.conversations, response_id


def _not_found(response_id: str) -> ApiError:
    shown = response_id if len(response_id) <= 64 else response_id[:64] + "..."
    return ApiError(404, f"Response with id '{shown}' not found.", param="response_id", code="not_found")


def _audit_failed() -> ApiError:
    return ApiError(
        503, "The audit log is unavailable; nothing was read or deleted.", type="api_error", code="audit_unavailable"
    )


async def retrieve(request: web.Request) -> web.Response:
    """The Response object the owner was sent when the turn was answered."""
    principal, conversations, response_id = _owner(request)
    try:
        turn = await conversations.read(response_id, principal)
    except AuditUnavailable:
        raise _audit_failed() from None
    if turn is None:
        raise _not_found(response_id)
    return web.Response(body=_encoder.encode(turn.response), content_type="application/json")


async def input_items(request: web.Request) -> web.Response:
    """The turn's input items, as OpenAI's paginated ResponseItemList (`limit`, `order`, `after`)."""
    principal, conversations, response_id = _owner(request)
    limit, order, after = _page(request.query)
    try:
        turn = await conversations.read(response_id, principal, "read_input_items")
    except AuditUnavailable:
        raise _audit_failed() from None
    if turn is None:
        raise _not_found(response_id)
    items = turn.input_items if order == "asc" else turn.input_items[::-1]
    if after is not None:
        ids = [item.get("id") for item in items]
        if after not in ids:
            raise ApiError(400, f"No input item '{after[:64]}' in this response.", param="after", code="invalid_value")
        items = items[ids.index(after) + 1 :]
    page = items[:limit]
    body = {
        "object": "list",
        "data": page,
        "has_more": len(items) > limit,
        "first_id": page[0]["id"] if page else "",
        "last_id": page[-1]["id"] if page else "",
    }
    return web.Response(body=_encoder.encode(body), content_type="application/json")


def _page(query: Mapping[str, str]) -> tuple[int, str, str | None]:
    unknown = sorted(set(query) - {"limit", "order", "after"})
    if unknown:
        raise ApiError(
            400,
            f"Unsupported query parameter '{unknown[0][:40]}'.",
            param=unknown[0][:40],
            code="unsupported_parameter",
        )
    raw_limit = query.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise ApiError(400, "'limit' must be an integer from 1 to 100.", param="limit", code="invalid_value")
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ApiError(400, "'order' must be 'asc' or 'desc'.", param="order", code="invalid_value")
    return int(raw_limit), order, query.get("after")


async def delete(request: web.Request) -> web.Response:
    """Delete the owner's turn: OpenAI's deletion object ({id, object, deleted})."""
    principal, conversations, response_id = _owner(request)
    try:
        deleted = await conversations.delete(response_id, principal)
    except AuditUnavailable:
        raise _audit_failed() from None
    if not deleted:
        raise _not_found(response_id)
    body = {"id": response_id, "object": "response", "deleted": True}
    return web.Response(body=_encoder.encode(body), content_type="application/json")
