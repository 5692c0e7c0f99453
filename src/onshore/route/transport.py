"""The HTTP transport the router sends backend requests through, and the two that implement it:
Onshore's own lean HTTP/1.1 client (route/http1.py, the default) and aiohttp's client
(`gateway.upstream.client: aiohttp`), kept so the two can be measured side by side in one bench run
and as a fallback. Both raise only route/http1.py's errors and TimeoutError, so the router knows
no HTTP library."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import aiohttp

from onshore.route.http1 import BadResponse, BodyBroken, ConnectFailed, Http1Client


class UpstreamAnswer(Protocol):
    status: int
    content_length: int | None

    @property
    def headers(self) -> Mapping[str, str]:
        """The answer's headers; look names up in lower case."""
        ...

    async def read_some(self) -> bytes:
        """The body's next bytes as they arrive; b"" at its end."""
        ...

    async def read_all(self, limit: int) -> bytes:
        """The whole body; ValueError if it is over `limit` bytes."""
        ...

    def release(self) -> None: ...

    def close(self) -> None: ...


class Transport(Protocol):
    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        connect_timeout: float,
        total_timeout: float | None,
        read_timeout: float | None,
    ) -> UpstreamAnswer: ...

    async def close(self) -> None: ...


class _AiohttpAnswer:
    __slots__ = ("_response", "content_length", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.content_length = response.content_length

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers  # case-insensitive

    async def read_some(self) -> bytes:
        try:
            return await self._response.content.readany()
        except aiohttp.ClientPayloadError as exc:
            raise BodyBroken(type(exc).__name__) from None
        except aiohttp.ClientResponseError as exc:
            raise BadResponse(type(exc).__name__) from None
        except aiohttp.ClientError as exc:
            raise BodyBroken(type(exc).__name__) from None

    async def read_all(self, limit: int) -> bytes:
        if self.content_length is not None and self.content_length > limit:
            raise ValueError(f"the backend announced a {self.content_length}-byte response, over the {limit} limit")
        pieces: list[bytes] = []
        size = 0
        while data := await self.read_some():
            size += len(data)
            if size > limit:
                raise ValueError(f"the backend's response exceeded {limit} bytes")
            pieces.append(data)
        return b"".join(pieces)

    def release(self) -> None:
        self._response.release()

    def close(self) -> None:
        self._response.close()


class AiohttpTransport:
    """aiohttp's client behind the same interface (one session: its pool, or a Unix socket's)."""

    def __init__(self, max_connections: int, unix_path: str | None = None) -> None:
        connector: aiohttp.BaseConnector
        if unix_path is not None:
            connector = aiohttp.UnixConnector(path=unix_path)
        else:
            connector = aiohttp.TCPConnector(limit=max_connections, limit_per_host=0, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(connector=connector, skip_auto_headers=("User-Agent",))
        self._timeouts: dict[tuple[float, float | None, float | None], aiohttp.ClientTimeout] = {}

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        connect_timeout: float,
        total_timeout: float | None,
        read_timeout: float | None,
    ) -> UpstreamAnswer:
        key = (connect_timeout, total_timeout, read_timeout)
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = self._timeouts[key] = aiohttp.ClientTimeout(
                total=total_timeout, connect=connect_timeout, sock_read=read_timeout
            )
        try:
            response = await self._session.post(url, data=body, headers=dict(headers), timeout=timeout)
        except aiohttp.ClientResponseError as exc:  # bytes that are not HTTP (bad status line, bad headers)
            raise BadResponse(type(exc).__name__) from None
        except aiohttp.ClientError as exc:
            raise ConnectFailed(type(exc).__name__) from None
        return _AiohttpAnswer(response)

    async def close(self) -> None:
        await self._session.close()


def make_transport(kind: str, max_connections: int, unix_path: str | None = None) -> Transport:
    """`gateway.upstream.client`: "onshore" (route/http1.py) or "aiohttp"."""
    if kind == "aiohttp":
        return AiohttpTransport(max_connections, unix_path)
    return Http1Client(max_connections, unix_path=unix_path)
