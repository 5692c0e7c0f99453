"""A lean HTTP/1.1 client for the backends (issue 14): one keep-alive pool, strict response parsing,
connect / whole-exchange / per-read timeouts and flow control, on an asyncio protocol.

It does only what the request path needs (POST, no redirects, cookies, proxies or HTTP/2), so a
request costs a few dozen Python calls where aiohttp's client spends ~125. The gateway's other
outbound calls (sign-ins, key fetches, SIEM, traces) keep aiohttp; `route/transport.py` can put
aiohttp back on this path too (`gateway.upstream.client: aiohttp`), which is how the bench compares
the two in one run.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import zlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, cast
from urllib.parse import urlsplit

MAX_HEAD_BYTES: Final = 64 * 1024  # a status line and headers larger than this are not a backend's answer
MAX_CHUNK_LINE: Final = 4096
HIGH_WATER: Final = 256 * 1024  # unread bytes above which reading from the backend pauses
IDLE_SECONDS: Final = 15.0  # an idle kept-alive connection older than this is closed, not reused
_HEX: Final = re.compile(rb"[0-9A-Fa-f]{1,15}")
_HEX_DIGITS: Final = b"0123456789abcdefABCDEF"
_WHOLE_CHUNK_HEAD: Final = re.compile(rb"([0-9A-Fa-f]{1,15})\r\n")  # a chunk's plain size line
_TOKEN: Final = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_NO_BODY: Final = frozenset({204, 304})


class UpstreamHttpError(Exception):
    """The exchange with a backend failed; the subclass says how."""


class ConnectFailed(UpstreamHttpError):
    """No connection, or it ended before the answer's first byte."""


class BadResponse(UpstreamHttpError):
    """What came back is not HTTP/1.x (status line, headers, framing or encoding)."""


class BodyBroken(UpstreamHttpError):
    """The connection ended before the whole body arrived."""


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _Connection(asyncio.Protocol):
    """One connection to a backend: what it has received and not yet read, and a waiter to wake."""

    __slots__ = ("buffer", "ended", "idle_since", "key", "loop", "paused", "transport", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop, key: str) -> None:
        self.loop = loop
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.ended = False  # EOF or lost: nothing more will arrive
        self.waiter: asyncio.Future[None] | None = None
        self.paused = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.paused and len(self.buffer) > HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()  # the reader is slower than the backend: let TCP hold the rest
            self.paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def drained(self) -> None:
        """The reader took bytes: resume a paused backend once the buffer is low again."""
        if self.paused and len(self.buffer) <= HIGH_WATER // 2 and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    async def wait(self, deadline: float | None) -> None:
        """Until more bytes arrive or the connection ends; TimeoutError at `deadline` (loop time)."""
        self.drained()
        waiter = self.loop.create_future()
        self.waiter = waiter
        timer = None if deadline is None else self.loop.call_at(deadline, _expire, waiter)
        try:
            await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

    def close(self) -> None:
        self.ended = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once (an exchange abandoned half-way cannot be reused)."""
        self.ended = True
        if self.transport is not None:
            self.transport.abort()


@dataclass(frozen=True, slots=True)
class _Target:
    """A backend URL, parsed once: where to connect and the request line and Host header to send."""

    key: str  # the pool's key: scheme://host:port (or the Unix socket's path)
    host: str
    port: int
    tls: bool
    head: bytes


def parse_target(url: str) -> _Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {parts.scheme or 'no scheme'}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if parts.port is None else f"{shown}:{port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\nAccept-Encoding: gzip, deflate\r\n".encode("ascii")
    return _Target(f"{parts.scheme}://{host}:{port}", host, port, tls, head)


def _header_block(headers: Mapping[str, str], length: int) -> bytes:
    lines = [f"Content-Length: {length}\r\n"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} holds a line break")  # never let a value inject a header
        lines.append(f"{name}: {value}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode()


_LENGTH, _CHUNKED, _UNTIL_EOF = 0, 1, 2


class UpstreamResponse:
    """A backend's answer: status and headers read, the body read with `read_some` or `read_all`.
    `release` returns a wholly read connection to the pool; `close` drops it."""

    __slots__ = (
        "_chunk_left",
        "_client",
        "_conn",
        "_crlf",
        "_deadline",
        "_decoder",
        "_done",
        "_keep_alive",
        "_left",
        "_mode",
        "_read_timeout",
        "_released",
        "_trailers",
        "content_length",
        "headers",
        "status",
    )

    def __init__(
        self,
        client: Http1Client,
        conn: _Connection,
        status: int,
        headers: dict[str, str],
        deadline: float | None,
        read_timeout: float | None,
        keep_alive: bool,
    ) -> None:
        self._client, self._conn = client, conn
        self.status, self.headers = status, headers
        self._deadline, self._read_timeout = deadline, read_timeout
        self._released = False
        self._chunk_left, self._crlf, self._trailers = 0, False, False
        self._decoder = _decoder(headers.get("content-encoding"))
        self.content_length: int | None = None
        encoding = headers.get("transfer-encoding")
        length = headers.get("content-length")
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise BadResponse(f"unsupported transfer-encoding {encoding[:40]!r}")
            self._mode, self._left = _CHUNKED, 0
            keep_alive = keep_alive and length is None  # both framings: trust neither for the next exchange
        elif length is not None:
            values = {v.strip() for v in length.split(",")}
            value = values.pop() if len(values) == 1 else ""
            if not value.isdigit() or not value.isascii():
                raise BadResponse("invalid content-length")
            self._mode, self._left = _LENGTH, int(value)
            self.content_length = self._left
        else:
            self._mode, self._left = _UNTIL_EOF, 0
            keep_alive = False
        if status in _NO_BODY:
            self._mode, self._left, self.content_length = _LENGTH, 0, 0
        self._keep_alive = keep_alive
        self._done = self._mode == _LENGTH and self._left == 0

    def _wait_until(self) -> float | None:
        return _until(self._conn.loop, self._deadline, self._read_timeout)

    async def read_some(self) -> bytes:
        """The body's next bytes as they arrive (decoded); b"" once all of it has been read."""
        conn = self._conn
        while True:
            if self._done:
                return self._flush()
            data = self._take(conn.buffer) if conn.buffer else b""
            if data:
                conn.drained()
                if self._decoder is None:
                    return data
                try:
                    data = self._decoder.decompress(data)
                except zlib.error as exc:
                    raise BadResponse(f"the body does not decode: {exc}") from None
                if data:
                    return data
                continue
            if self._done:
                continue
            if conn.ended:
                if self._mode == _UNTIL_EOF:
                    self._done = True
                    continue
                raise BodyBroken("the connection ended before the whole body arrived")
            await conn.wait(self._wait_until())

    async def read_all(self, limit: int) -> bytes:
        """The whole body; ValueError once it is over `limit` bytes (before that many are buffered)."""
        if self.content_length is not None and self._decoder is None and self.content_length > limit:
            raise ValueError(f"the backend announced a {self.content_length}-byte response, over the {limit} limit")
        pieces: list[bytes] = []
        size = 0
        while data := await self.read_some():
            size += len(data)
            if size > limit:
                raise ValueError(f"the backend's response exceeded {limit} bytes")
            pieces.append(data)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _flush(self) -> bytes:
        decoder, self._decoder = self._decoder, None
        if decoder is None:
            return b""
        try:
            return decoder.flush()
        except zlib.error as exc:
            raise BadResponse(f"the body does not decode: {exc}") from None

    def _take(self, buffer: bytearray) -> bytes:
        if self._mode == _LENGTH:
            n = min(self._left, len(buffer))
            data = bytes(buffer[:n])
            del buffer[:n]
            self._left -= n
            self._done = self._left == 0
            return data
        if self._mode == _UNTIL_EOF:
            data = bytes(buffer)
            buffer.clear()
            return data
        return self._take_chunked(buffer)

    def _take_chunked(self, buffer: bytearray) -> bytes:
        """Every whole or partial chunk in `buffer`, joined; consumes what it parsed. Parsed on one
        bytes copy of the buffer: a backend's stream often arrives as many chunks in one read (an
        SSE event per chunk), so the usual chunk (a plain size line, then all of its data and its
        CRLF) is taken by one regex match and one slice; anything else goes the careful way below."""
        data = bytes(buffer)
        out: list[bytes] = []
        pos, end, left = 0, len(data), self._chunk_left
        whole = _WHOLE_CHUNK_HEAD.match
        while pos < end:
            if not left and not self._crlf and not self._trailers and (head := whole(data, pos)) is not None:
                size = int(head[1], 16)
                start = head.end()
                if size and data[start + size : start + size + 2] == b"\r\n":
                    out.append(data[start : start + size])
                    pos = start + size + 2
                    continue
            if left:
                n = min(left, end - pos)
                out.append(data[pos : pos + n])
                pos += n
                left -= n
                if left:
                    break
                self._crlf = True
            if self._crlf:
                if end - pos < 2:
                    break
                if data[pos : pos + 2] != b"\r\n":
                    raise BadResponse("a chunk is not followed by CRLF")
                pos += 2
                self._crlf = False
            line_end = data.find(b"\r\n", pos)
            if line_end < 0:
                if end - pos > MAX_CHUNK_LINE:
                    raise BadResponse("a chunk-size or trailer line is too long")
                break
            line = data[pos:line_end]
            pos = line_end + 2
            if self._trailers:
                if not line:  # the blank line after the trailers: the body is complete
                    self._done = True
                    break
                continue
            if 0 < len(line) < 16 and not line.lstrip(_HEX_DIGITS):  # hex digits only
                left = int(line, 16)
            else:  # chunk extensions or surrounding blanks; anything else is refused
                size_text = line.split(b";", 1)[0].strip(b" \t")
                if not _HEX.fullmatch(size_text):
                    raise BadResponse("invalid chunk size")
                left = int(size_text, 16)
            if not left:
                self._trailers = True
        self._chunk_left = left
        del buffer[:pos]
        return out[0] if len(out) == 1 else b"".join(out)

    def release(self) -> None:
        """Done with the answer: a wholly read one returns its connection to the pool."""
        if self._released:
            return
        self._released = True
        reusable = self._done and self._keep_alive and not self._conn.buffer
        self._client.give_back(self._conn, reusable)

    def close(self) -> None:
        """Done with the answer, read or not: as `release` once it was wholly read (a relayed stream
        ends here), else its connection is dropped (what is still on the wire cannot be skipped)."""
        self.release()


def _until(loop: asyncio.AbstractEventLoop, deadline: float | None, read_timeout: float | None) -> float | None:
    """When a wait for more bytes times out: the exchange's deadline or the read timeout, the earlier."""
    if read_timeout is None:
        return deadline
    until = loop.time() + read_timeout
    return until if deadline is None else min(until, deadline)


def _decoder(encoding: str | None) -> zlib._Decompress | None:
    if encoding is None:
        return None
    name = encoding.strip().lower()
    if name in ("", "identity"):
        return None
    if name in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, told apart by zlib
    raise BadResponse(f"unsupported content-encoding {encoding[:40]!r}")


def _parse_head(head: bytes) -> tuple[int, dict[str, str], bool]:
    """Status, headers (lower-case names, repeats joined) and whether the connection may be reused."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or parts[0] not in (b"HTTP/1.1", b"HTTP/1.0") or not re.fullmatch(rb"[1-5]\d\d", parts[1]):
        raise BadResponse("invalid status line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):  # also refuses obs-fold and space before the colon
            raise BadResponse("invalid header line")
        key = name.decode("ascii").lower()
        text = value.strip(b" \t").decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    keep_alive = parts[0] == b"HTTP/1.1" and "close" not in headers.get("connection", "").lower()
    return int(parts[1]), headers, keep_alive


class Http1Client:
    """A pool of keep-alive connections to the backends, at most `max_connections` in use at once.
    With `unix_path` every request goes to that socket whatever its URL says (the embedded model)."""

    def __init__(self, max_connections: int = 512, *, unix_path: str | None = None) -> None:
        self._limit = max_connections
        self._unix_path = unix_path
        self._busy = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._idle: dict[str, deque[_Connection]] = {}
        self._targets: dict[str, _Target] = {}
        self._tls: ssl.SSLContext | None = None
        self._closed = False

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        connect_timeout: float,
        total_timeout: float | None,
        read_timeout: float | None,
    ) -> UpstreamResponse:
        """Send one POST and read the answer's head. `total_timeout` bounds the whole exchange (the
        body's reads included); `read_timeout` bounds each wait for more bytes."""
        target = self._targets.get(url) or self._learn(url)
        request = target.head + _header_block(headers, len(body)) + body
        loop = asyncio.get_running_loop()
        deadline = None if total_timeout is None else loop.time() + total_timeout
        conn = await self._acquire(target, loop, connect_timeout, deadline)
        try:
            assert conn.transport is not None
            conn.transport.write(request)
            status, response_headers, keep_alive = await self._read_head(conn, deadline, read_timeout)
            return UpstreamResponse(self, conn, status, response_headers, deadline, read_timeout, keep_alive)
        except BaseException:
            self.give_back(conn, False)
            raise

    def _learn(self, url: str) -> _Target:
        target = parse_target(url)
        if self._unix_path is not None:
            target = _Target(self._unix_path, target.host, target.port, False, target.head)
        elif target.tls and self._tls is None:
            self._tls = ssl.create_default_context()  # once: the system's trust store, hostnames checked
        if len(self._targets) < 1024:  # URLs come from the configuration: a handful
            self._targets[url] = target
        return target

    async def _read_head(
        self, conn: _Connection, deadline: float | None, read_timeout: float | None
    ) -> tuple[int, dict[str, str], bool]:
        while True:
            buffer = conn.buffer
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    raise BadResponse("the response head is too large")
                if conn.ended:
                    if buffer:
                        raise BadResponse("the connection ended inside the response head")
                    raise ConnectFailed("the backend closed the connection without answering")
                await conn.wait(_until(conn.loop, deadline, read_timeout))
                continue
            head = bytes(buffer[:end])
            del buffer[: end + 4]
            status, headers, keep_alive = _parse_head(head)
            if status >= 200:
                return status, headers, keep_alive
            if status == 101:
                raise BadResponse("the backend switched protocols")
            # 1xx (100 Continue, 103 Early Hints): the real answer follows

    async def _acquire(
        self, target: _Target, loop: asyncio.AbstractEventLoop, connect_timeout: float, deadline: float | None
    ) -> _Connection:
        if self._closed:
            raise ConnectFailed("the gateway is shutting down")
        if self._busy >= self._limit:
            await self._wait_for_slot(loop, connect_timeout, deadline)
        self._busy += 1
        try:
            idle = self._idle.get(target.key)
            if idle:
                now = loop.time()
                while idle and now - idle[0].idle_since > IDLE_SECONDS:
                    idle.popleft().close()
                while idle:
                    conn = idle.pop()
                    if not conn.ended:
                        return conn
                    conn.close()
            return await self._connect(target, loop, connect_timeout, deadline)
        except BaseException:
            self._free_slot()
            raise

    async def _wait_for_slot(self, loop: asyncio.AbstractEventLoop, timeout: float, deadline: float | None) -> None:
        until = loop.time() + timeout if deadline is None else min(deadline, loop.time() + timeout)
        while self._busy >= self._limit:
            waiter = loop.create_future()
            self._waiting.append(waiter)
            timer = loop.call_at(until, _expire, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                if waiter in self._waiting:
                    self._waiting.remove(waiter)

    async def _connect(
        self, target: _Target, loop: asyncio.AbstractEventLoop, timeout: float, deadline: float | None
    ) -> _Connection:
        if deadline is not None:
            timeout = max(0.0, min(timeout, deadline - loop.time()))
        conn = _Connection(loop, target.key)
        try:
            async with asyncio.timeout(timeout):
                if self._unix_path is not None:
                    await loop.create_unix_connection(lambda: conn, self._unix_path)
                else:
                    tls = self._tls if target.tls else None
                    await loop.create_connection(
                        lambda: conn, target.host, target.port, ssl=tls, server_hostname=target.host if tls else None
                    )
        except TimeoutError:
            conn.abort()
            raise
        except (OSError, ssl.SSLError) as exc:
            conn.abort()
            raise ConnectFailed(type(exc).__name__) from None
        sock = conn.transport.get_extra_info("socket") if conn.transport is not None else None
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a request is one write: send it now
        return conn

    def give_back(self, conn: _Connection, reusable: bool) -> None:
        """An exchange is over: keep its connection for the next one, or drop it."""
        if reusable and not conn.ended and not self._closed:
            conn.idle_since = conn.loop.time()
            idle = self._idle.get(conn.key)
            if idle is None:
                idle = self._idle[conn.key] = deque()
            idle.append(conn)
        else:
            conn.close()
        self._free_slot()

    def _free_slot(self) -> None:
        self._busy -= 1
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    async def close(self) -> None:
        """Close every idle connection; one still in use is closed when its answer is released."""
        self._closed = True
        for idle in self._idle.values():
            while idle:
                idle.popleft().close()
        await asyncio.sleep(0)  # let the transports run their close callbacks
