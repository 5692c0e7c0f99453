"""What the lean HTTP/1.1 server reads itself, and what it leaves to aiohttp (None), by the head alone;
and the heads it writes."""

from __future__ import annotations

import pytest

from onshore.edge.lean_server import _head, _parse
from onshore.edge.model_routes import MODEL_ROUTES

LIMIT = 1000


def parse(head: bytes, limit: int = LIMIT) -> object:
    buffer = bytearray(head + b"\r\n\r\n{}")
    return _parse(buffer, buffer.find(b"\r\n\r\n"), limit)


def test_a_plain_model_request_is_read_here() -> None:
    request = parse(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: g\r\nAUTHORIZATION:  Bearer k \r\n"
        b"Content-Length: 2\r\nOnshore-Data-Class: personal"
    )
    assert request is not None
    assert request.route is MODEL_ROUTES["/v1/chat/completions"]  # type: ignore[attr-defined]
    assert request.headers == {  # type: ignore[attr-defined]
        "host": "g",
        "authorization": "Bearer k",
        "content-length": "2",
        "onshore-data-class": "personal",
    }
    assert request.length == 2  # type: ignore[attr-defined]
    assert request.close is False  # type: ignore[attr-defined]


def test_every_model_path_is_read_here_and_connection_close_is_kept() -> None:
    for path in MODEL_ROUTES:
        request = parse(b"POST %s HTTP/1.1\r\nContent-Length: 0\r\nConnection: Close" % path.encode())
        assert request is not None
        assert request.close is True  # type: ignore[attr-defined]


def test_a_non_utf8_value_survives_as_surrogates_like_aiohttps() -> None:
    request = parse(b"POST /v1/embeddings HTTP/1.1\r\nContent-Length: 0\r\nX-Name: \xff")
    assert request is not None
    assert request.headers["x-name"] == "\udcff"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "head",
    [
        b"GET /v1/chat/completions HTTP/1.1\r\nContent-Length: 0",  # another method: the router's
        b"POST /v1/chat/completions HTTP/1.0\r\nContent-Length: 0",  # HTTP/1.0 keep-alive rules
        b"POST /v1/chat/completions?x=1 HTTP/1.1\r\nContent-Length: 0",  # a query: aiohttp's URL parsing
        b"POST /v1/chat/completions/ HTTP/1.1\r\nContent-Length: 0",  # no such route
        b"POST /v1//chat/completions HTTP/1.1\r\nContent-Length: 0",
        b"POST  /v1/chat/completions HTTP/1.1\r\nContent-Length: 0",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: g",  # no length: the body's end is not known here
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: +2",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2 2",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: \xd9\xa2",  # an Arabic-Indic digit
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 1001",  # over the limit: aiohttp's 413
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nUpgrade: h2c\r\nConnection: Upgrade",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nConnection: keep-alive, TE",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nBad Name: x",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nX: a\x00b",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nX: a\rb",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\n folded",  # obsolete line folding
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\n: no name",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nno-colon",
        b"POST /v1/chat/completions HTTP/1.1\nContent-Length: 2",  # a bare LF
        b"POST /v1/chat/completions HTTP/1.1",  # no header at all
    ],
)
def test_anything_else_is_left_to_aiohttp(head: bytes) -> None:
    assert parse(head) is None


@pytest.mark.parametrize("headers", [{"X-A": "a\r\nX-Injected: 1"}, {"X-A": "a\nb"}, {"X-\rA": "a"}])
def test_an_answer_header_with_a_line_break_is_never_written(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="line break"):
        _head(200, headers, b"Content-Length: 0\r\n")


def test_an_answer_head_carries_its_framing_and_a_date() -> None:
    head = _head(404, {"Content-Type": "application/json", "x-request-id": "r1"}, b"Content-Length: 2\r\n")
    lines = head.split(b"\r\n")
    assert lines[:4] == [
        b"HTTP/1.1 404 Not Found",
        b"Content-Type: application/json",
        b"x-request-id: r1",
        b"Content-Length: 2",
    ]
    assert lines[4].startswith(b"Date: ") and lines[4].endswith(b" GMT")
    assert head.endswith(b"\r\n\r\n")
