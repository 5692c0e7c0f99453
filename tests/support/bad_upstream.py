"""A misbehaving "OpenAI-compatible" backend on loopback, written on raw asyncio sockets so that it can
do what no HTTP framework would let it: hang, answer bytes that are not HTTP, cut a chunked stream in
the middle, stream forever, or send a 100 MB body. `mode` is read per request; counters say what it did.

Modes:
  hang            read the request, never answer (the socket stays open)
  hang_stream     200 text/event-stream, one chunk, then silence
  garbage         bytes that are not HTTP at all, then close
  garbage_json    HTTP 200 application/json whose body is not JSON
  garbage_stream  HTTP 200 text/event-stream whose events are not JSON
  endless         HTTP 200 chunked SSE: small valid chunks, forever (until the peer goes away)
  cut_stream      HTTP 200 chunked SSE: two chunks, then the connection is dropped mid-stream
  eof_stream      HTTP 200 SSE framed by the connection's end (no length, not chunked): two chunks,
                  then close, without finish_reason or [DONE]: a cut that HTTP framing cannot show
  huge            HTTP 200 application/json with Content-Length 100 MB, all of it sent
  huge_chunked    the same 100 MB without a length (chunked), so only counting can stop it
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time

HUGE_BYTES = 100 * 1024 * 1024
_PIECE = 1 << 16


def _chunk(content: str) -> bytes:
    doc = {
        "id": "chatcmpl-bad",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "x",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    return f"data: {json.dumps(doc)}\n\n".encode()


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
)


class BadUpstream:
    def __init__(self, mode: str = "hang") -> None:
        self.mode = mode
        self.requests = 0
        self.bytes_sent = 0
        self.peer_closed = 0  # responses the peer stopped reading before the end
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bad-upstream", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> BadUpstream:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("bad upstream did not start")
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            self.requests += 1
            await getattr(self, "_" + self.mode)(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.peer_closed += 1
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        await writer.drain()
        self.bytes_sent += len(data)

    async def _hang(self, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    async def _hang_stream(self, writer: asyncio.StreamWriter) -> None:
        await self._send(writer, _SSE_HEAD + _chunked(_chunk("first ")))
        await asyncio.sleep(3600)

    async def _garbage(self, writer: asyncio.StreamWriter) -> None:
        await self._send(writer, b"\x00\xff\xfeNOT HTTP AT ALL " + os.urandom(512))

    async def _garbage_json(self, writer: asyncio.StreamWriter) -> None:
        body = b"<html>\x00\xff definitely not json" + os.urandom(64)
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        await self._send(writer, head.encode() + body)

    async def _garbage_stream(self, writer: asyncio.StreamWriter) -> None:
        await self._send(writer, _SSE_HEAD + _chunked(_chunk("ok ")) + _chunked(b"data: {not json at all\n\n"))
        await self._send(writer, b"0\r\n\r\n")

    async def _endless(self, writer: asyncio.StreamWriter) -> None:
        await self._send(writer, _SSE_HEAD)
        i = 0
        while True:
            await self._send(writer, _chunked(_chunk(f"w{i} ")))
            i += 1
            if i % 20 == 0:
                await asyncio.sleep(0.001)

    async def _cut_stream(self, writer: asyncio.StreamWriter) -> None:
        await self._send(writer, _SSE_HEAD + _chunked(_chunk("Hello ")) + _chunked(_chunk("wor")))
        await asyncio.sleep(0.05)
        # No terminating zero-length chunk: the connection just drops.

    async def _eof_stream(self, writer: asyncio.StreamWriter) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        await self._send(writer, head + _chunk("Hello ") + _chunk("wor"))
        await asyncio.sleep(0.05)

    async def _huge(self, writer: asyncio.StreamWriter) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {HUGE_BYTES}\r\n\r\n"
        await self._send(writer, head.encode() + b'{"padding": "')
        await self._pad(writer, HUGE_BYTES - len('{"padding": "') - 2, chunked=False)
        await self._send(writer, b'"}')

    async def _huge_chunked(self, writer: asyncio.StreamWriter) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        await self._send(writer, head + _chunked(b'{"padding": "'))
        await self._pad(writer, HUGE_BYTES, chunked=True)
        await self._send(writer, _chunked(b'"}') + b"0\r\n\r\n")

    async def _pad(self, writer: asyncio.StreamWriter, size: int, chunked: bool) -> None:
        piece = b"x" * _PIECE
        sent = 0
        while sent < size:
            part = piece[: min(_PIECE, size - sent)]
            await self._send(writer, _chunked(part) if chunked else part)
            sent += len(part)
