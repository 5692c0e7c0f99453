"""A real OTLP/HTTP receiver on loopback (JSON encoding): keeps every body it is sent, as bytes."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.support.loopback import LoopbackServer


class OtlpReceiver(LoopbackServer):
    def __init__(self) -> None:
        super().__init__("otlp-receiver")
        self.bodies: list[bytes] = []
        self.content_types: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/traces"

    def spans(self) -> list[dict[str, Any]]:
        """Every span received, each with its resource's attributes under `resource`."""
        found = []
        for body in list(self.bodies):
            for resource_spans in json.loads(body)["resourceSpans"]:
                for scope in resource_spans["scopeSpans"]:
                    for span in scope["spans"]:
                        found.append({**span, "resource": resource_spans["resource"]})
        return found

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/traces", self._traces)]

    async def _traces(self, request: web.Request) -> web.Response:
        self.content_types.append(request.content_type)
        self.bodies.append(await request.read())
        return web.json_response({"partialSuccess": {}})
