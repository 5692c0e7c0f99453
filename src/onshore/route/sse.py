"""Server-sent events from a backend: split its byte stream into whole events, incrementally."""

from __future__ import annotations

MAX_EVENT_BYTES = 4 * 1024 * 1024  # one event larger than this is not a chat chunk: refuse to buffer it
SEPARATOR = b"\n\ndata: "  # the end of one single-line event and the start of the next


class EventTooLarge(ValueError):
    pass


class EventSplitter:
    """Feed bytes as they arrive; get back each complete event's `data` payload (None for comments).

    Only complete events are returned, so a JSON payload is never cut in half, and nothing waits for
    more than the event it belongs to.
    """

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        data = self._buffer + chunk if self._buffer else chunk
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        end = data.rfind(b"\n\n")
        self._buffer = data if end < 0 else data[end + 2 :]  # the event still arriving
        if len(self._buffer) > MAX_EVENT_BYTES:
            raise EventTooLarge(f"a stream event exceeded {MAX_EVENT_BYTES} bytes")
        if end < 0:
            return []
        whole = data[:end]
        # The usual read: events of one `data: ` line each. Then every newline is in a separator and
        # one split yields the payloads (a third of the per-event cost of the general path below).
        if whole[:6] == b"data: " and whole.count(b"\n") == 2 * whole.count(SEPARATOR) and b"data:  " not in whole:
            return whole[6:].split(SEPARATOR)
        return [payload for event in whole.split(b"\n\n") if (payload := _data_of(event)) is not None]

    def pending(self) -> bytes:
        return self._buffer


def _data_of(event: bytes) -> bytes | None:
    if event[:5] == b"data:" and b"\n" not in event:  # the usual event: one data line
        return event[5:].lstrip(b" ")
    lines = [line[5:].lstrip(b" ") if line.startswith(b"data:") else None for line in event.split(b"\n")]
    data = [line for line in lines if line is not None]
    if not data:
        return None  # comment or keep-alive
    return b"\n".join(data)
