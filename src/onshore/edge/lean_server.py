"""A lean HTTP/1.1 server for the model routes (issue 14), in front of aiohttp's.

aiohttp's server spent about a fifth of a JSON request's CPU (request and response objects,
multidicts, URL parsing, its per-connection task). This protocol reads the plain, common request
itself: `POST` to a model path (edge/model_routes.py), HTTP/1.1, a Content-Length body within the
limit, a small well-formed head. It hands everything else, for the rest of the connection, to
aiohttp's own protocol with the bytes it has buffered, exactly as if aiohttp had had the connection
from the start: chunked or oversized bodies, `Expect`, upgrades, HTTP/1.0, malformed or large heads,
every other route. So the pinned behaviours (limits, error shapes, 404/405) stay aiohttp's and the
router's, and this file only has to be right about the plain case.

Like the gateway's aiohttp setup (handler_cancellation=False), a request whose client hangs up runs
to its end: its audit record is still written. `gateway.http_server: aiohttp` turns this off (the
bench compares the two in one run).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Final, cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from onshore.decide.data_class import DATA_CLASS_HEADER
from onshore.edge.errors import ApiError, api_error
from onshore.edge.headers import X_REQUEST_ID
from onshore.edge.model_routes import MODEL_ROUTES, Headers, ModelRoute
from onshore.edge.state import Gateway
from onshore.events.model import client_source
from onshore.refusal import Refusal
from onshore.service.ports import ClientGone, Reply, Write

log = logging.getLogger("onshore")

MAX_HEAD_BYTES: Final = 8192  # a larger head (a long JWT) is aiohttp's, with its per-field limits
HIGH_WATER: Final = 256 * 1024  # pipelined bytes buffered while a request runs, before reading pauses
_DATA_CLASS: Final = DATA_CLASS_HEADER.lower()  # the lean parser lower-cases header names
_ROUTES: Final = {path.encode(): route for path, route in MODEL_ROUTES.items()}
# Header lines as RFC 9110 allows them: a token, a colon, a value of visible bytes, tabs and spaces.
# Each part's class excludes what ends it, so matching is linear (no backtracking on a hostile head).
_HEADER_BLOCK: Final = re.compile(rb"(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\x00-\x08\x0a-\x1f\x7f]*\r\n)*")
_REASONS: Final = {s.value: s.phrase.encode() for s in HTTPStatus}
_CHUNKED_END: Final = b"0\r\n\r\n"
_INTERNAL: Final = ApiError(500, "The gateway could not handle this request.", type="api_error", code="internal_error")


class _Date:
    """The Date header's value, formatted once a second rather than per response."""

    __slots__ = ("second", "value")

    def __init__(self) -> None:
        self.second = 0
        self.value = b""

    def now(self) -> bytes:
        second = int(time.time())
        if second != self.second:
            self.second = second
            self.value = formatdate(second, usegmt=True).encode()
        return self.value


_date = _Date()


def _head(status: int, headers: dict[str, str], framing: bytes) -> bytes:
    """The status line and headers; `framing` is the Content-Length or Transfer-Encoding line."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    if lines.count("\n") != len(headers) or lines.count("\r") != len(headers):
        raise ValueError("a response header holds a line break")  # never split a response in two
    reason = _REASONS.get(status, b"")
    return b"HTTP/1.1 %d %s\r\n%s%sDate: %s\r\n\r\n" % (status, reason, lines.encode(), framing, _date.now())


def _reply_head(reply: Reply) -> bytes:
    headers = {"Content-Type": "application/json", **reply.headers}
    return _head(reply.status, headers, b"Content-Length: %d\r\n" % len(reply.body))


def _error_reply(gateway: Gateway, exc: ApiError | Refusal) -> Reply:
    error = exc if isinstance(exc, ApiError) else api_error(exc)
    headers = {"Content-Type": "application/json", **error.headers}
    headers.setdefault(X_REQUEST_ID, gateway.pipeline.new_id())
    return Reply(error.status, error.body(), headers)


class _Request:
    """A parsed head whose body is still arriving."""

    __slots__ = ("body_start", "close", "headers", "length", "route")

    def __init__(self, route: ModelRoute, headers: dict[str, str], body_start: int, length: int, close: bool) -> None:
        self.route = route
        self.headers = headers
        self.body_start = body_start
        self.length = length
        self.close = close


def _parse(buffer: bytearray, end: int, max_body: int) -> _Request | None:
    """The head in buffer[:end] (its blank line excluded) as a lean request, or None: aiohttp's."""
    line_end = buffer.find(b"\r\n", 0, end + 2)  # == end when there is no header
    parts = bytes(buffer[:line_end]).split(b" ")
    if len(parts) != 3 or parts[0] != b"POST" or parts[2] != b"HTTP/1.1":
        return None
    route = _ROUTES.get(parts[1])
    if route is None:
        return None
    block = bytes(buffer[line_end + 2 : end + 2])
    if _HEADER_BLOCK.fullmatch(block) is None:
        return None
    headers: dict[str, str] = {}
    # Values decode as aiohttp's parser decodes them (UTF-8, surrogateescape); names are ASCII tokens.
    for line in block.decode("utf-8", "surrogateescape").split("\r\n")[:-1]:
        name, _, value = line.partition(":")
        key = name.lower()
        if key in headers:
            return None  # a repeated header (Content-Length above all) is aiohttp's to judge
        headers[key] = value.strip(" \t")
    length = headers.get("content-length")
    if (
        length is None
        or not (length.isascii() and length.isdigit())
        or int(length) > max_body
        or "transfer-encoding" in headers
        or "expect" in headers
        or "upgrade" in headers
    ):
        return None
    connection = headers.get("connection", "keep-alive").lower()
    if connection not in ("keep-alive", "close"):
        return None
    return _Request(route, headers, end + 4, int(length), connection == "close")


class LeanConnection(asyncio.Protocol):
    """One client connection, served here until a request needs aiohttp (then it is aiohttp's)."""

    def __init__(self, server: LeanServer) -> None:
        self._server = server
        self._gateway = server.gateway
        self._loop = server.loop
        self._transport: asyncio.Transport | None = None
        self._remote: str | None = None
        self._buffer = bytearray()
        self._pending: _Request | None = None  # head parsed, body still arriving
        self._task: asyncio.Task[None] | None = None  # the request being served
        self._lost = False
        self._closing = False  # shutting down: no further request is read
        self._reading_paused = False
        self._writing_paused = False
        self._drain: asyncio.Future[None] | None = None
        self._last_active = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        peer = transport.get_extra_info("peername")
        self._remote = str(peer[0]) if isinstance(peer, (list, tuple)) else (str(peer) if peer is not None else None)
        self._server.lean_connections.add(self)
        self._last_active = self._loop.time()
        self._arm_idle_timer()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._last_active = self._loop.time()
        if self._task is None:
            self._next()
        elif len(self._buffer) > HIGH_WATER and not self._reading_paused and self._transport is not None:
            self._transport.pause_reading()  # a client sending ahead of its answers waits in TCP
            self._reading_paused = True

    def eof_received(self) -> None:
        return None  # as aiohttp: the transport closes; a request already running still completes

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._wake_drain()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        if self._task is None:
            self._server.lean_connections.discard(self)
        # else: `_served` discards it when the request ends, so a shutdown still waits for it

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_drain()

    # --- reading requests ------------------------------------------------------------------------
    def _next(self) -> None:
        """Start the next request if the buffer holds one; hand the connection to aiohttp if it is not ours."""
        if self._lost or self._closing:
            return
        request = self._pending
        if request is None:
            end = self._buffer.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 4)
            if end < 0:
                if len(self._buffer) > MAX_HEAD_BYTES:
                    self._hand_off()
                return
            request = _parse(self._buffer, end, self._gateway.max_body_bytes)
            if request is None:
                self._hand_off()
                return
            self._pending = request
        stop = request.body_start + request.length
        if len(self._buffer) < stop:
            return  # the body is still arriving
        body = bytes(self._buffer[request.body_start : stop])
        del self._buffer[:stop]
        self._pending = None
        self._task = self._loop.create_task(self._served(request, body))

    def _hand_off(self) -> None:
        """From here on the connection is aiohttp's, starting with the bytes not yet read."""
        transport = self._transport
        assert transport is not None
        assert self._task is None
        self._server.lean_connections.discard(self)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        protocol = self._server.aiohttp_protocol()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if self._writing_paused:
            protocol.pause_writing()  # the transport will tell the new protocol when to resume
        if self._reading_paused:
            transport.resume_reading()
        if self._buffer:
            protocol.data_received(bytes(self._buffer))
            self._buffer.clear()

    # --- serving one request ---------------------------------------------------------------------
    async def _served(self, request: _Request, body: bytes) -> None:
        try:
            if await self._serve(request.route, request.headers, body):
                request.close = True
        except Exception:  # a fault is logged and ends the connection, never the server
            log.exception("request failed on the lean HTTP server")
            request.close = True
        finally:
            self._task = None
        if request.close or self._closing or self._lost:
            self._server.lean_connections.discard(self)
            if self._transport is not None:
                self._transport.close()
            return
        if self._reading_paused and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()
        if self._buffer:
            self._next()  # a pipelined request

    async def _serve(self, route: ModelRoute, headers: Headers, body: bytes) -> bool:
        """Answer one request; True when the connection must end after it."""
        client_source.set(self._remote)  # for security events (each request runs in its own task)
        gateway = self._gateway
        stream = _StreamWriter(self)
        close = False
        try:
            result = await route.run(
                gateway.pipeline,
                route.dialect(),
                body,
                route.authorization(headers),
                headers.get(_DATA_CLASS),
                stream.open,
            )
        except (ApiError, Refusal) as exc:
            if stream.opened:
                raise
            result = _error_reply(gateway, exc)
        except Exception:
            if stream.opened:
                raise  # half an answer has left: the connection ends (`_served`)
            log.exception("request failed on the lean HTTP server")
            result = _error_reply(gateway, _INTERNAL)
            close = True
        if result is None and stream.opened:
            stream.finish()
            return False
        if result is None:  # the service streamed nothing, yet opened no stream: a fault, never silence
            log.error("a stream could not be opened on the lean HTTP server")
            result, close = _error_reply(gateway, _INTERNAL), True
        try:
            head = _reply_head(result)
        except ValueError:  # a header the service made cannot be sent as it is
            log.exception("an answer's headers could not be written")
            result, close = _error_reply(gateway, _INTERNAL), True
            head = _reply_head(result)
        self.send(head + result.body)
        return close

    def send(self, data: bytes) -> None:
        if not self._lost and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def gone(self) -> bool:
        return self._lost or self._transport is None or self._transport.is_closing()

    async def drained(self) -> None:
        """Until the client has read enough of what was written (flow control), or ClientGone."""
        while self._writing_paused and not self._lost:
            self._drain = self._loop.create_future()
            await self._drain
        if self._lost:
            raise ClientGone

    def _wake_drain(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None

    # --- idle connections and shutdown -----------------------------------------------------------
    def _arm_idle_timer(self) -> None:
        timeout = self._server.keepalive_timeout
        self._idle_timer = self._loop.call_at(self._last_active + timeout, self._idle_check)

    def _idle_check(self) -> None:
        """Close a connection idle for the keep-alive timeout; re-armed rather than reset per request."""
        if self._lost:
            return
        if self._task is None and self._loop.time() - self._last_active >= self._server.keepalive_timeout:
            self._server.lean_connections.discard(self)
            if self._transport is not None:
                self._transport.close()
            return
        if self._task is not None:
            self._last_active = self._loop.time()
        self._arm_idle_timer()

    def close_when_idle(self) -> None:
        """Shutting down: read no further request; an idle connection closes now."""
        self._closing = True
        if self._task is None:
            self._server.lean_connections.discard(self)
            if self._transport is not None:
                self._transport.close()

    async def shutdown(self, timeout: float | None) -> None:
        """Let the request in progress finish (at most `timeout`), then close."""
        self.close_when_idle()
        task = self._task
        if task is not None:
            _, pending = await asyncio.wait({task}, timeout=timeout)
            for late in pending:
                late.cancel()
        if self._transport is not None:
            self._transport.close()


class _StreamWriter:
    """A streamed answer: 200 and its headers, then each write as one HTTP/1.1 chunk. The head waits
    for the first chunk, so the two leave in one packet."""

    __slots__ = ("connection", "ended", "head", "opened")

    def __init__(self, connection: LeanConnection) -> None:
        self.connection = connection
        self.opened = False
        self.ended = False
        self.head = b""

    async def open(self, headers: dict[str, str]) -> Write:
        if self.connection.gone():
            raise ClientGone
        self.head = _head(200, headers, b"Transfer-Encoding: chunked\r\n")  # ValueError: nothing opened
        self.opened = True
        return self.write

    async def write(self, data: bytes, *, end: bool = False) -> None:
        connection = self.connection
        if self.ended:
            raise RuntimeError("a write after the stream's last one")
        if connection.gone():
            raise ClientGone
        if end:  # the last chunk and the end of the body leave together
            self.ended = True
            connection.send(self.head + (b"%x\r\n%s\r\n" % (len(data), data) if data else b"") + _CHUNKED_END)
        elif not data:
            return  # an empty chunk would end the stream
        else:
            connection.send(b"%s%x\r\n%s\r\n" % (self.head, len(data), data))
        self.head = b""
        await connection.drained()

    def finish(self) -> None:
        if self.opened and not self.ended:
            self.ended = True
            self.connection.send(self.head + _CHUNKED_END)
            self.head = b""


class LeanServer(web.Server):
    """aiohttp's low-level server (the one its runner made), whose connections start on the lean
    protocol. Shutdown covers both kinds: idle connections close, requests in progress finish."""

    def __init__(self, base: web.Server, gateway: Gateway) -> None:
        kwargs: dict[str, Any] = dict(base._kwargs)
        super().__init__(
            base.request_handler,
            request_factory=base.request_factory,
            handler_cancellation=base.handler_cancellation,
            loop=base._loop,
            **kwargs,
        )
        self.gateway = gateway
        self.loop = base._loop
        self.keepalive_timeout = float(kwargs.get("keepalive_timeout", 3630.0))  # aiohttp's default
        self.lean_connections: set[LeanConnection] = set()

    def __call__(self) -> LeanConnection:  # type: ignore[override]  # a protocol factory either way
        return LeanConnection(self)

    def aiohttp_protocol(self) -> RequestHandler:
        return super().__call__()

    def pre_shutdown(self) -> None:
        super().pre_shutdown()
        for connection in list(self.lean_connections):
            connection.close_when_idle()

    async def shutdown(self, timeout: float | None = None) -> None:
        lean = [connection.shutdown(timeout) for connection in list(self.lean_connections)]
        await asyncio.gather(super().shutdown(timeout), *lean)
        self.lean_connections.clear()
