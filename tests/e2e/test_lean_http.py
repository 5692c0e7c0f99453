"""The lean HTTP/1.1 server (edge/lean_server.py) on raw sockets: what it serves itself, what it
hands to aiohttp, and that a connection moves between the two without losing a byte."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest
import uvloop

from onshore.edge.lean_server import LeanServer
from tests.e2e.conftest import World, running_world

CHAT = json.dumps({"model": "chat", "messages": [{"role": "user", "content": "Hello"}]}).encode()
STREAM = json.dumps({"model": "chat", "stream": True, "messages": [{"role": "user", "content": "Hello"}]}).encode()


def request(key: str, body: bytes = CHAT, path: str = "/v1/chat/completions", extra: str = "") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


@pytest.fixture(scope="module", params=["asyncio", "uvloop"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Every test on asyncio's loop and on uvloop (`onshore serve`'s): their transports differ, and
    handing a connection to aiohttp swaps the transport's protocol."""
    loop = uvloop.new_event_loop() if request.param == "uvloop" else None
    with running_world(tmp_path_factory.mktemp("lean"), loop) as world:
        yield world


class Reader:
    """Reads HTTP/1.1 responses off one socket: Content-Length, chunked, and bodyless 1xx."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buffer += data

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._fill()
        part, self.buffer = self.buffer.split(marker, 1)
        return part

    def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        part, self.buffer = self.buffer[:size], self.buffer[size:]
        return part

    def response(self) -> tuple[int, dict[str, str], bytes, list[bytes]]:
        """status, headers (lower-case names), body, and the body's chunks as they were framed."""
        lines = self._until(b"\r\n\r\n").decode().split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        if headers.get("transfer-encoding") == "chunked":
            chunks = []
            while (size := int(self._until(b"\r\n"), 16)) > 0:
                chunks.append(self._exactly(size))
                assert self._exactly(2) == b"\r\n"
            assert self._exactly(2) == b"\r\n"
            return status, headers, b"".join(chunks), chunks
        body = self._exactly(int(headers.get("content-length", "0")))
        return status, headers, body, []

    def closed(self, timeout: float = 5.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


@pytest.fixture
def conn(w: World) -> Iterator[tuple[socket.socket, Reader]]:
    sock = socket.create_connection(("127.0.0.1", w.gateway.port), timeout=10)
    try:
        yield sock, Reader(sock)
    finally:
        sock.close()


def lean(w: World) -> LeanServer:
    server = w.gateway.http_server
    assert isinstance(server, LeanServer)
    return server


def test_a_kept_alive_connection_serves_request_after_request_on_the_lean_path(
    w: World, conn: tuple[socket.socket, Reader]
) -> None:
    sock, reader = conn
    ids = set()
    for _ in range(3):
        sock.sendall(request(w.public_key))
        status, headers, body, _ = reader.response()
        assert status == 200, body
        assert json.loads(body)["choices"][0]["message"]["content"] == "Hello from upstream"
        assert headers["content-type"] == "application/json"
        assert headers["date"].endswith(" GMT")
        ids.add(headers["x-request-id"])
        assert len(lean(w).lean_connections) == 1  # this socket, still the lean protocol's
    assert len(ids) == 3


def test_pipelined_requests_are_answered_in_order(w: World, conn: tuple[socket.socket, Reader]) -> None:
    sock, reader = conn
    sock.sendall(request(w.public_key) + request(w.public_key, path="/v1/models/chat", body=b"") + request("sk-bad"))
    first = reader.response()
    assert first[0] == 200
    assert first[1]["content-type"] == "application/json"
    # The second is no model call: from it on, the connection is aiohttp's, bytes already sent included.
    second = reader.response()
    assert second[0] == 405  # POST to a GET route, in OpenAI's shape, as the router answers it
    assert json.loads(second[2])["error"]["code"] == "method_not_allowed"
    third = reader.response()
    assert third[0] == 401
    assert json.loads(third[2])["error"]["code"] == "invalid_api_key"


def test_a_long_pipelined_burst_is_answered_in_full_and_in_order(w: World, conn: tuple[socket.socket, Reader]) -> None:
    """More than the lean server buffers while it works (reading pauses, then resumes)."""
    sock, reader = conn
    padded = json.dumps(
        {"model": "chat", "messages": [{"role": "user", "content": "Hello"}], "user": "x" * 3000}
    ).encode()
    burst = b"".join(request(w.public_key, padded) for _ in range(120))  # ~370 KB
    sender = threading.Thread(target=sock.sendall, args=(burst,))
    sender.start()
    ids = [reader.response()[1]["x-request-id"] for _ in range(120)]
    sender.join(10)
    assert len(set(ids)) == 120
    assert ids == sorted(ids)  # time-ordered ids: answered in the order sent


def test_a_connection_moves_to_aiohttp_for_another_route_and_keeps_working(
    w: World, conn: tuple[socket.socket, Reader]
) -> None:
    sock, reader = conn
    sock.sendall(request(w.public_key))
    assert reader.response()[0] == 200
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
    status, _, body, _ = reader.response()
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert not lean(w).lean_connections  # now aiohttp's
    sock.sendall(request(w.public_key))
    assert reader.response()[0] == 200  # a model call on aiohttp's protocol, same answer


def test_a_body_that_arrives_in_pieces_is_waited_for(w: World, conn: tuple[socket.socket, Reader]) -> None:
    sock, reader = conn
    whole = request(w.public_key)
    cut = whole.index(b"\r\n\r\n") + 10
    for piece in (whole[:20], whole[20:cut], whole[cut:-5], whole[-5:]):
        sock.sendall(piece)
        time.sleep(0.05)
    assert reader.response()[0] == 200


@pytest.mark.parametrize(
    ("extra", "framing"),
    [
        ("Transfer-Encoding: chunked\r\n", "chunked"),
        ("Expect: 100-continue\r\n", "expect"),
    ],
)
def test_what_the_lean_path_does_not_read_is_served_by_aiohttp(
    w: World, conn: tuple[socket.socket, Reader], extra: str, framing: str
) -> None:
    sock, reader = conn
    if framing == "chunked":
        head = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {w.public_key}\r\n"
            f"Content-Type: application/json\r\n{extra}\r\n"
        ).encode()
        sock.sendall(head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(CHAT), CHAT))
    else:
        sock.sendall(request(w.public_key, extra=extra))
    status, _, body, _ = reader.response()
    if status == 100:
        status, _, body, _ = reader.response()
    assert status == 200, body
    assert json.loads(body)["object"] == "chat.completion"


@pytest.mark.parametrize(
    "raw",
    [
        b"POST /v1/chat/completions HTTP/1.1\r\nBad Header: x\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: -2\r\n\r\n{}",
        b"POST /v1/chat/completions HTTP/1.1\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\n{}",
    ],
    ids=["space-in-name", "two-lengths", "negative-length", "nul-in-value"],
)
def test_a_malformed_head_gets_aiohttps_400_and_reaches_no_backend(
    w: World, conn: tuple[socket.socket, Reader], raw: bytes
) -> None:
    sock, reader = conn
    sock.sendall(raw)
    status, _, _, _ = reader.response()
    assert status == 400
    assert not (w.us.received or w.jp1.received or w.jp2.received)


def test_connection_close_is_honoured(w: World, conn: tuple[socket.socket, Reader]) -> None:
    sock, reader = conn
    sock.sendall(request(w.public_key, extra="Connection: close\r\n"))
    assert reader.response()[0] == 200
    assert reader.closed()


def test_a_stream_leaves_event_by_event_in_chunks_and_the_connection_is_reused(
    w: World, conn: tuple[socket.socket, Reader]
) -> None:
    sock, reader = conn
    for upstream in (w.us, w.jp1):
        upstream.behaviour.chunks = 5
        upstream.behaviour.chunk_delay = 0.02  # events that arrive apart leave apart
    sock.sendall(request(w.public_key, STREAM))
    status, headers, body, chunks = reader.response()
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["x-request-id"]
    events = [e for e in body.split(b"\n\n") if e.startswith(b"data: ")]
    assert events[-1] == b"data: [DONE]"
    assert len(chunks) >= 5  # written as they came, not one buffered answer
    assert chunks[-1].startswith(b": onshore-receipt ") and chunks[-1].endswith(b"data: [DONE]\n\n")  # ends the body
    sock.sendall(request(w.public_key))
    assert reader.response()[0] == 200


def test_a_client_gone_mid_stream_leaves_the_server_serving(w: World) -> None:
    w.jp1.behaviour.chunks = w.us.behaviour.chunks = 50
    w.jp1.behaviour.chunk_delay = w.us.behaviour.chunk_delay = 0.01
    sock = socket.create_connection(("127.0.0.1", w.gateway.port), timeout=10)
    sock.sendall(request(w.public_key, STREAM))
    assert sock.recv(200).startswith(b"HTTP/1.1 200 OK")
    sock.close()
    time.sleep(0.3)
    w.reset()
    with socket.create_connection(("127.0.0.1", w.gateway.port), timeout=10) as again:
        again.sendall(request(w.public_key))
        assert Reader(again).response()[0] == 200


@pytest.fixture(scope="module")
def aiohttp_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_world(tmp_path_factory.mktemp("aiohttp-only"), http_server="aiohttp") as world:
        yield world


def test_http_server_aiohttp_serves_the_same_answers_without_the_lean_path(aiohttp_only: World) -> None:
    assert not isinstance(aiohttp_only.gateway.http_server, LeanServer)
    with socket.create_connection(("127.0.0.1", aiohttp_only.gateway.port), timeout=10) as sock:
        sock.sendall(request(aiohttp_only.public_key))
        status, headers, body, _ = Reader(sock).response()
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["choices"][0]["message"]["content"] == "Hello from upstream"


def test_http_server_aiohttp_ends_a_stream_with_its_receipt_and_keeps_the_connection(aiohttp_only: World) -> None:
    with socket.create_connection(("127.0.0.1", aiohttp_only.gateway.port), timeout=10) as sock:
        reader = Reader(sock)
        sock.sendall(request(aiohttp_only.public_key, STREAM))
        status, headers, _, chunks = reader.response()
        assert status == 200 and headers["content-type"].startswith("text/event-stream")
        assert chunks[-1].startswith(b": onshore-receipt ") and chunks[-1].endswith(b"data: [DONE]\n\n")
        sock.sendall(request(aiohttp_only.public_key))
        assert reader.response()[0] == 200


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_shutdown_lets_a_request_in_progress_finish_and_closes_idle_connections(
    tmp_path_factory: pytest.TempPathFactory, loop_kind: str
) -> None:
    loop = uvloop.new_event_loop() if loop_kind == "uvloop" else None
    with running_world(tmp_path_factory.mktemp("shutdown"), loop) as w:
        idle = socket.create_connection(("127.0.0.1", w.gateway.port), timeout=10)
        idle.sendall(request(w.public_key))
        assert Reader(idle).response()[0] == 200  # kept alive, now idle
        w.reset()
        for upstream in (w.us, w.jp1):
            upstream.behaviour.delay = 0.5
        busy = socket.create_connection(("127.0.0.1", w.gateway.port), timeout=10)
        busy.sendall(request(w.public_key))
        deadline = time.monotonic() + 5
        while not (w.us.received or w.jp1.received) and time.monotonic() < deadline:
            time.sleep(0.01)  # until the request is at the backend
        w.gateway.stop()
        status, headers, _, _ = Reader(busy).response()
        assert status == 200
        assert Reader(busy).closed()
        assert Reader(idle).closed()
        idle.close()
        busy.close()
    # ...and its audit record was written before the answer left.
    with sqlite3.connect(w.settings.data_dir / "onshore.db") as db:
        ids = {row[0] for row in db.execute("SELECT id FROM audit_records")}
    assert headers["x-request-id"] in ids
