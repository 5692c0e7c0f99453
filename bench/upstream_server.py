"""A deliberately cheap OpenAI-compatible upstream for gateway benchmarks.

Usage: python bench/upstream_server.py [--host 127.0.0.1] [--port 0]

Answers POST /v1/chat/completions with a fixed chat.completion (with usage), or, when the body
asks for `"stream": true`, with 5 SSE chunks (`--chunks N` for N; a model named `...-c<N>`, e.g.
`upstream-model-c20`, gets N whatever the default), a usage-only chunk if
`stream_options.include_usage`, then `data: [DONE]`. GET /healthz answers 200.

It is a raw asyncio.Protocol on uvloop with every response prebuilt: an aiohttp server would
cost several times more CPU per request, and this process shares a core with the load
generator, so it must not be what limits the direct path. Prints `READY <port>` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import cast

_COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "upstream-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "I am fine, thank you. How can I help you today?"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 13, "completion_tokens": 12, "total_tokens": 25},
    },
    separators=(",", ":"),
).encode()

_PIECES = ("I am", " fine,", " thank", " you.", " Hello!")


def _chunk(delta: dict[str, str], finish: str | None) -> bytes:
    doc = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "upstream-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"


def _chunked(payload: bytes) -> bytes:
    """One HTTP/1.1 chunk (Transfer-Encoding: chunked framing)."""
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def _stream_body(include_usage: bool, chunks: int = len(_PIECES)) -> bytes:
    pieces = [_PIECES[i % len(_PIECES)] for i in range(max(2, chunks))]
    events = [_chunk({"role": "assistant", "content": pieces[0]}, None)]
    events += [_chunk({"content": p}, None) for p in pieces[1:-1]]
    events.append(_chunk({"content": pieces[-1]}, "stop"))
    if include_usage:
        usage = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "upstream-model",
            "choices": [],
            "usage": {"prompt_tokens": 13, "completion_tokens": len(pieces), "total_tokens": 13 + len(pieces)},
        }
        events.append(b"data: " + json.dumps(usage, separators=(",", ":")).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    # Each SSE event is its own HTTP chunk, as real servers flush per token.
    return b"".join(_chunked(e) for e in events) + b"0\r\n\r\n"


def _response(status: str, content_type: str, body: bytes) -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
RESP_COMPLETION = _response("200 OK", "application/json", _COMPLETION)
RESP_STREAM = _STREAM_HEAD + _stream_body(include_usage=False)
RESP_STREAM_USAGE = _STREAM_HEAD + _stream_body(include_usage=True)


def set_chunks(chunks: int) -> None:
    """Answer streams with `chunks` content chunks instead of 5."""
    global RESP_STREAM, RESP_STREAM_USAGE
    RESP_STREAM = _STREAM_HEAD + _stream_body(include_usage=False, chunks=chunks)
    RESP_STREAM_USAGE = _STREAM_HEAD + _stream_body(include_usage=True, chunks=chunks)


MAX_CHUNKS = 1000  # a model's "-c<N>" is honoured up to this, so the cache below stays bounded
_BY_CHUNKS: dict[tuple[int, bool], bytes] = {}


def stream_response(model: object, include_usage: bool) -> bytes:
    """The prebuilt stream for this model: N chunks for a name ending in "-c<N>", else the default."""
    if isinstance(model, str):
        _, sep, tail = model.rpartition("-c")
        if sep and tail.isdigit() and 2 <= int(tail) <= MAX_CHUNKS:
            key = (int(tail), include_usage)
            resp = _BY_CHUNKS.get(key)
            if resp is None:  # built once per (N, usage), then served from memory
                resp = _BY_CHUNKS[key] = _STREAM_HEAD + _stream_body(include_usage=include_usage, chunks=key[0])
            return resp
    return RESP_STREAM_USAGE if include_usage else RESP_STREAM


RESP_HEALTH = _response("200 OK", "text/plain", b"ok")
RESP_NOT_FOUND = _response("404 Not Found", "application/json", b'{"error":{"message":"not found"}}')
RESP_BAD = _response("400 Bad Request", "application/json", b'{"error":{"message":"bad request"}}')


def answer(method: bytes, path: bytes, body: bytes) -> bytes:
    if method == b"POST" and path == b"/v1/chat/completions":
        # Cheap pre-check: only parse JSON when the body might ask for a stream.
        if b'"stream"' not in body:
            return RESP_COMPLETION
        try:
            doc = json.loads(body)
        except ValueError:
            return RESP_BAD
        if not doc.get("stream"):
            return RESP_COMPLETION
        options = doc.get("stream_options") or {}
        return stream_response(doc.get("model"), bool(options.get("include_usage")))
    if method == b"GET" and path == b"/healthz":
        return RESP_HEALTH
    return RESP_NOT_FOUND


class UpstreamProtocol(asyncio.Protocol):
    """Minimal HTTP/1.1 keep-alive server: Content-Length or chunked request bodies, pipelining-safe."""

    __slots__ = ("_buffer", "_transport")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, so cast rather than isinstance.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._transport is not None and self._handle_one():
            pass

    def _handle_one(self) -> bool:
        """Serve one complete request from the buffer; False if more bytes are needed."""
        buf = self._buffer
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(buf[:end]).split(b"\r\n")
        parts = head[0].split(b" ")
        if len(parts) != 3:
            self._close_with(RESP_BAD)
            return False
        method, path = parts[0], parts[1]
        length = 0
        chunked = close = False
        for line in head[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = value.strip().lower() == b"close"
        start = end + 4
        if chunked:
            decoded = self._dechunk(start)
            if decoded is None:
                return False
            body, consumed = decoded
        else:
            if len(buf) < start + length:
                return False
            body, consumed = bytes(buf[start : start + length]), start + length
        del buf[:consumed]
        assert self._transport is not None
        self._transport.write(answer(method, path, body))
        if close:
            self._transport.close()
            return False
        return True

    def _dechunk(self, pos: int) -> tuple[bytes, int] | None:
        buf = self._buffer
        body = bytearray()
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
            if size == 0:
                trailer_end = buf.find(b"\r\n\r\n", eol)  # trailers (normally none) end with a blank line
                if trailer_end < 0:
                    return None
                return bytes(body), trailer_end + 4
            if len(buf) < eol + 2 + size + 2:
                return None
            body += buf[eol + 2 : eol + 2 + size]
            pos = eol + 2 + size + 2

    def _close_with(self, response: bytes) -> None:
        if self._transport is not None:
            self._transport.write(response)
            self._transport.close()


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(UpstreamProtocol, host, port, backlog=1024, reuse_address=True)
    bound = server.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed as READY <port>)")
    parser.add_argument("--chunks", type=int, default=len(_PIECES), help="content chunks per streamed answer")
    args = parser.parse_args(argv)
    set_chunks(args.chunks)
    try:
        import uvloop

        uvloop.run(serve(args.host, args.port))
    except ImportError:
        print("uvloop not installed; using the default event loop", file=sys.stderr)
        asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
