"""route/http1.py against real loopback servers written on raw asyncio sockets, so each can answer
exactly the bytes under test: framing, keep-alive, encodings, malformed heads, timeouts, the pool."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
import uvloop

from onshore.route.http1 import (
    HIGH_WATER,
    BadResponse,
    BodyBroken,
    ConnectFailed,
    Http1Client,
    UpstreamResponse,
    _Connection,
    parse_target,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


class Server:
    """A loopback server: each connection is handed to `handler`; what it saw is kept."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1/chat/completions"


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """On asyncio's own loop and on uvloop (the gateway's): their transports differ."""
    asyncio.run(test())
    uvloop.run(test())


async def post(
    client: Http1Client, url: str, body: bytes = b"{}", total: float | None = 5.0, read: float | None = None
) -> UpstreamResponse:
    return await client.post(
        url, body, {"Content-Type": "application/json"}, connect_timeout=2.0, total_timeout=total, read_timeout=read
    )


async def read_into(response: UpstreamResponse, got: bytearray) -> None:
    while data := await response.read_some():
        got += data


def answer(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def keep_answering(response: bytes, seen: list[bytes] | None = None) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, body = await _read_request(reader)
            if seen is not None:
                seen.append(head + body)
            writer.write(response)
            await writer.drain()

    return handler


def answer_once(response: bytes, then_close: bool = True) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(response)
        await writer.drain()
        if not then_close:
            await asyncio.sleep(30)

    return handler


def test_a_sized_answer_is_read_and_its_connection_reused() -> None:
    seen: list[bytes] = []

    async def go() -> None:
        async with Server(keep_answering(answer(b'{"ok":1}'), seen)) as server:
            client = Http1Client(4)
            for _ in range(3):
                response = await post(client, server.url, b'{"q":"x"}')
                assert response.status == 200
                assert response.content_length == 8
                assert await response.read_all(1024) == b'{"ok":1}'
                response.release()
            assert server.connections == 1  # kept alive
            await client.close()
        request = seen[0]
        assert request.startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:")
        assert b"\r\nContent-Length: 9\r\n" in request and request.endswith(b'\r\n\r\n{"q":"x"}')
        assert b"\r\nContent-Type: application/json\r\n" in request

    run(go)


def test_a_chunked_answer_split_at_every_byte_is_reassembled() -> None:
    payload = chunked(b"data: one\n\n", b"data: two\n\n", b"x" * 300) + b""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(len(payload)):  # one byte per write, each flushed: the parser sees every split
            writer.write(payload[i : i + 1])
            await writer.drain()
        await asyncio.sleep(30)

    async def go() -> None:
        async with Server(handler) as server:
            client = Http1Client(4)
            response = await post(client, server.url)
            got = b""
            while data := await response.read_some():
                got += data
            assert got == b"data: one\n\ndata: two\n\n" + b"x" * 300
            response.release()
            assert client._busy == 0
            await client.close()

    run(go)


def test_chunk_extensions_and_trailers_are_accepted() -> None:
    raw = b"5;name=value\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n"

    async def go() -> None:
        async with Server(keep_answering(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + raw)) as server:
            client = Http1Client(4)
            for _ in range(2):
                response = await post(client, server.url)
                assert await response.read_all(100) == b"hello"
                response.release()
            assert server.connections == 1
            await client.close()

    run(go)


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [(b"gzip", gzip.compress), (b"deflate", zlib.compress)],
)
def test_a_compressed_answer_is_decoded(encoding: bytes, encode: Callable[[bytes], bytes]) -> None:
    body = b'{"text":"' + "こんにちは".encode() * 200 + b'"}'

    async def go() -> None:
        async with Server(answer_once(answer(encode(body), b"Content-Encoding: " + encoding + b"\r\n"))) as server:
            client = Http1Client(4)
            response = await post(client, server.url)
            assert await response.read_all(1 << 20) == body
            response.release()
            await client.close()

    run(go)


def test_an_answer_framed_by_the_connection_end_is_read_to_the_end_and_not_reused() -> None:
    async def go() -> None:
        async with Server(answer_once(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")) as server:
            client = Http1Client(4)
            response = await post(client, server.url)
            assert await response.read_all(100) == b"until the end"
            response.release()
            assert not client._idle.get(parse_target(server.url).key)
            await client.close()

    run(go)


def test_connection_close_and_http_1_0_are_not_reused() -> None:
    async def go() -> None:
        for response_bytes in (answer(b"{}", b"Connection: close\r\n"), answer(b"{}").replace(b"1.1", b"1.0", 1)):
            async with Server(keep_answering(response_bytes)) as server:
                client = Http1Client(4)
                for _ in range(2):
                    response = await post(client, server.url)
                    assert await response.read_all(100) == b"{}"
                    response.release()
                assert server.connections == 2
                await client.close()

    run(go)


@pytest.mark.parametrize(
    "raw",
    [
        b"garbage that is not http\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nName : space before the colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 200 partial head, then the end",
    ],
)
def test_what_is_not_http_is_a_bad_response(raw: bytes) -> None:
    async def go() -> None:
        async with Server(answer_once(raw)) as server:
            client = Http1Client(4)
            with pytest.raises(BadResponse):
                await post(client, server.url)
            assert client._busy == 0
            await client.close()

    run(go)


@pytest.mark.parametrize(
    "body",
    [b"zz\r\nhello\r\n0\r\n\r\n", b"0x5\r\nhello\r\n0\r\n\r\n", b"5\r\nhelloXY0\r\n\r\n", b"1" * 5000],
)
def test_broken_chunk_framing_is_a_bad_response(body: bytes) -> None:
    async def go() -> None:
        async with Server(answer_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body, False)) as s:
            client = Http1Client(4)
            response = await post(client, s.url)
            with pytest.raises(BadResponse):
                await response.read_all(1 << 20)
            response.close()
            await client.close()

    run(go)


def test_a_body_cut_short_is_body_broken() -> None:
    async def go() -> None:
        for raw in (
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        ):
            async with Server(answer_once(raw)) as server:
                client = Http1Client(4)
                response = await post(client, server.url)
                with pytest.raises(BodyBroken):
                    await response.read_all(1 << 20)
                response.close()
                assert client._busy == 0
                await client.close()

    run(go)


def test_a_closed_port_and_a_silent_close_are_connect_failures() -> None:
    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)

    async def go() -> None:
        client = Http1Client(4)
        async with Server(close_at_once) as server:
            url = server.url
            with pytest.raises(ConnectFailed):
                await post(client, url)
        with pytest.raises(ConnectFailed, match="ConnectionRefusedError"):
            await post(client, url)
        assert client._busy == 0
        await client.close()

    run(go)


def test_timeouts_whole_exchange_and_per_read() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(10):
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
            await asyncio.sleep(0.1)
        await asyncio.sleep(30)

    async def go() -> None:
        async with Server(slow) as server:
            client = Http1Client(4)
            response = await post(client, server.url, total=0.35)  # the whole exchange: cut mid-body
            with pytest.raises(TimeoutError):
                await response.read_all(1 << 20)
            response.close()
            response = await post(client, server.url, total=None, read=0.3)  # each read: ~1 s of trickle is fine
            got = bytearray()
            with pytest.raises(TimeoutError):
                await read_into(response, got)
            assert got == b"x" * 10  # every byte before the silence, then the timeout
            response.close()
            assert client._busy == 0
            await client.close()

    run(go)


def test_an_idle_connection_the_backend_closed_is_not_reused() -> None:
    async def one_answer_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(answer(b"{}"))  # says keep-alive, then closes anyway (a backend's idle timeout)
        await writer.drain()

    async def go() -> None:
        async with Server(one_answer_per_connection) as server:
            client = Http1Client(4)
            for _ in range(3):
                response = await post(client, server.url)
                assert await response.read_all(10) == b"{}"
                response.release()
                await asyncio.sleep(0.05)  # the server's FIN arrives
            assert server.connections == 3
            await client.close()

    run(go)


def test_the_pool_holds_at_most_max_connections_in_use() -> None:
    active = 0
    most = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal active, most
        while True:
            await _read_request(reader)
            active += 1
            most = max(most, active)
            await asyncio.sleep(0.02)
            active -= 1
            writer.write(answer(b"{}"))
            await writer.drain()

    async def one(client: Http1Client, url: str) -> None:
        response = await post(client, url)
        assert await response.read_all(10) == b"{}"
        response.release()

    async def go() -> None:
        async with Server(handler) as server:
            client = Http1Client(2)
            await asyncio.gather(*(one(client, server.url) for _ in range(10)))
            assert most == 2 and server.connections == 2
            assert client._busy == 0
            await client.close()

    run(go)


def test_a_waiting_request_gives_up_after_the_connect_timeout() -> None:
    async def go() -> None:
        async with Server(answer_once(answer(b"{}"), then_close=False)) as server:
            client = Http1Client(1)
            first = await post(client, server.url)
            with pytest.raises(TimeoutError):
                await client.post(server.url, b"", {}, connect_timeout=0.1, total_timeout=None, read_timeout=None)
            first.release()
            await client.close()

    run(go)


def test_a_slow_reader_pauses_the_backend_and_loses_nothing() -> None:
    size = 8 * HIGH_WATER

    async def go() -> None:
        body = bytes(range(256)) * (size // 256)
        async with Server(answer_once(answer(body), then_close=False)) as server:
            client = Http1Client(4)
            response = await post(client, server.url)
            await asyncio.sleep(0.2)  # the backend writes; the client stops reading above the high-water mark
            assert response._conn.paused
            assert len(response._conn.buffer) < 2 * HIGH_WATER
            assert await response.read_all(size) == body
            response.release()
            await client.close()

    run(go)


def test_a_header_value_with_a_line_break_is_refused_before_sending() -> None:
    async def go() -> None:
        async with Server(keep_answering(answer(b"{}"))) as server:
            client = Http1Client(4)
            with pytest.raises(ValueError, match="line break"):
                await client.post(
                    server.url,
                    b"",
                    {"X-Key": "a\r\nX-Injected: 1"},
                    connect_timeout=1,
                    total_timeout=1,
                    read_timeout=None,
                )
            assert server.connections == 0
            await client.close()

    run(go)


def test_informational_answers_are_skipped_and_no_body_statuses_have_none() -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"

    async def go() -> None:
        async with Server(keep_answering(raw)) as server:
            client = Http1Client(4)
            response = await post(client, server.url)
            assert response.status == 204
            assert await response.read_all(10) == b""
            response.release()
            await client.close()

    run(go)


def test_targets() -> None:
    assert parse_target("https://api.example.com/v1/x?a=1").head.startswith(
        b"POST /v1/x?a=1 HTTP/1.1\r\nHost: api.example.com\r\n"
    )
    ipv6 = parse_target("http://[::1]:8080/v1")
    assert (ipv6.host, ipv6.port, ipv6.tls) == ("::1", 8080, False)
    assert b"Host: [::1]:8080\r\n" in ipv6.head
    with pytest.raises(ValueError):
        parse_target("ftp://example.com/")


def test_close_after_the_whole_stream_keeps_the_connection_and_mid_stream_drops_it() -> None:
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"data: a\n\n", b"data: [DONE]\n\n")

    async def go() -> None:
        async with Server(keep_answering(raw)) as server:
            client = Http1Client(4)
            for _ in range(2):  # read to the end, then closed as the relay does: reused
                response = await post(client, server.url)
                assert await response.read_all(1000) == b"data: a\n\ndata: [DONE]\n\n"
                response.close()
            assert server.connections == 1
            response = await post(client, server.url)
            response.close()  # nothing read: what is on the wire cannot be skipped, so a new connection
            response = await post(client, server.url)
            assert await response.read_all(1000)
            response.release()
            assert server.connections == 2
            await client.close()

    run(go)


def test_chunked_bodies_read_in_two_pieces_split_anywhere_come_out_whole() -> None:
    """Whole chunks take the fast path, a chunk cut by the end of a read the careful one: every
    split of one read into two gives the same bytes, and the end of the body is found."""
    pieces = [b'data: {"a": 1}\n\n', b"x" * 17, b"data: [DONE]\n\n"]
    raw = chunked(*pieces)
    raw = raw.replace(b"0\r\n\r\n", b"0\r\nx-trailer: 1\r\n\r\n")  # the end, with a trailer
    loop = asyncio.new_event_loop()
    try:
        for split in range(len(raw) + 1):
            conn = _Connection(loop, "test")
            response = UpstreamResponse(
                Http1Client(1), conn, 200, {"transfer-encoding": "chunked"}, None, None, keep_alive=True
            )
            got = b""
            for part in (raw[:split], raw[split:]):
                conn.buffer += part
                got += response._take_chunked(conn.buffer)
            assert got == b"".join(pieces), split
            assert response._done and not conn.buffer, split
    finally:
        loop.close()
