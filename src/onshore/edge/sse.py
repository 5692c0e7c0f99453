"""Server-sent events framing for what the gateway sends (splitting a backend's stream is route/sse.py)."""

from __future__ import annotations

DONE = b"[DONE]"


def frame(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


def comment(text: str) -> bytes:
    return b": " + text.encode("ascii") + b"\n\n"
