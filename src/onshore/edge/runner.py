"""How the gateway app is served: aiohttp's runner, with the lean HTTP/1.1 protocol for the model
routes in front (edge/lean_server.py) unless `gateway.http_server: aiohttp`."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from aiohttp import web

from onshore.edge.collector import settle_after_start
from onshore.edge.handlers import GATEWAY
from onshore.edge.lean_server import LeanServer

KEEPALIVE_SECONDS = 75.0  # what web.run_app gave `onshore serve` before


class GatewayRunner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        server = await super()._make_server()  # runs the app's start-up: the gateway exists from here
        gateway = self.app[GATEWAY]
        return LeanServer(server, gateway) if gateway.lean_http else server


async def _serve(app: web.Application, sockets: list[socket.socket]) -> None:
    runner = GatewayRunner(
        app, handle_signals=True, access_log=None, handler_cancellation=False, keepalive_timeout=KEEPALIVE_SECONDS
    )
    await runner.setup()
    try:
        for sock in sockets:
            await web.SockSite(runner, sock).start()
        settle_after_start()  # start-up is over: its objects leave the garbage collector's work
        while True:
            await asyncio.sleep(3600)
    finally:
        await runner.cleanup()


def run_gateway(app: web.Application, sockets: list[socket.socket]) -> None:
    """web.run_app's life cycle with the gateway's runner: serve until SIGINT or SIGTERM, then shut
    down gracefully (requests in progress finish, the app's clean-up runs) and close the loop.
    Start-up errors propagate to the caller."""
    loop = asyncio.new_event_loop()
    main = loop.create_task(_serve(app, sockets))
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        try:
            if not main.done():
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(main)
        finally:
            _cancel_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    results: list[Any] = loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    for task, result in zip(tasks, results, strict=True):
        if isinstance(result, Exception):
            context = {"message": "unhandled exception at shutdown", "exception": result, "task": task}
            loop.call_exception_handler(context)
