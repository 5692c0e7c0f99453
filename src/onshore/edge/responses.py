"""OpenAI's Responses API at the edge: `POST /v1/responses` runs the chat path in the Responses
dialect (identify, limits, scan, decision, pseudonymisation, routing, audit and receipts unchanged).

Onshore keeps no responses (it forces `store: false` upstream and keeps no conversation state yet),
so `GET` and `DELETE /v1/responses/{id}` find nothing: 404 in OpenAI's error shape, once the caller
is identified.
"""

from __future__ import annotations

from aiohttp import web

from onshore.edge import handlers
from onshore.edge.dialects import ResponsesDialect
from onshore.edge.errors import ApiError
from onshore.events.model import client_source


async def create(request: web.Request) -> web.StreamResponse:
    return await handlers._chat(request, request.headers.get("Authorization"), ResponsesDialect())


async def stored(request: web.Request) -> web.Response:
    """Retrieve or delete a stored response: nothing is stored, so nothing is found."""
    client_source.set(request.remote)  # for the security event of a failed authentication
    request.app[handlers.GATEWAY].pipeline.identify(request.headers.get("Authorization"))  # 401 before 404
    response_id = request.match_info["response_id"]
    raise ApiError(
        404,
        f"No response '{response_id}': Onshore stores no responses (store is always false upstream).",
        param="response_id",
        code="not_found",
    )
