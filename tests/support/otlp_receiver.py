"""A real OTLP/HTTP receiver on loopback (JSON encoding): keeps every body it is sent, as bytes."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from aiohttp import web


class OtlpReceiver:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.content_types: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, name="otlp-receiver", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/traces"

    def start(self) -> OtlpReceiver:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("OTLP receiver did not start")
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def spans(self) -> list[dict[str, Any]]:
        """Every span received, each with its resource's attributes under `resource`."""
        found = []
        for body in list(self.bodies):
            for resource_spans in json.loads(body)["resourceSpans"]:
                for scope in resource_spans["scopeSpans"]:
                    for span in scope["spans"]:
                        found.append({**span, "resource": resource_spans["resource"]})
        return found

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.add_routes([web.post("/v1/traces", self._traces)])
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        self._ready.set()
        self._loop.run_forever()

    async def _traces(self, request: web.Request) -> web.Response:
        self.content_types.append(request.content_type)
        self.bodies.append(await request.read())
        return web.json_response({"partialSuccess": {}})
