"""Reading an opened backend stream: its SSE payloads as they arrive, with the transport's failures
translated into the route's own exceptions (the service above knows no HTTP client)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from onshore.route.http1 import BadResponse, UpstreamHttpError
from onshore.route.sse import EventSplitter, EventTooLarge
from onshore.route.transport import UpstreamAnswer


class StreamFailed(Exception):
    """The backend's stream cannot be read any further."""


class StreamTimedOut(StreamFailed):
    """The backend stopped sending for longer than the read timeout."""


class StreamBroken(StreamFailed):
    """The connection broke off mid-stream."""


class StreamInvalid(StreamFailed):
    """The backend sent something that is not a stream of events (the message says what)."""


class UpstreamEvents:
    """One backend stream's events: `reads()` while the connection lasts, then `rest()`."""

    __slots__ = ("_response", "_splitter")

    def __init__(self, response: UpstreamAnswer) -> None:
        self._response = response
        self._splitter = EventSplitter()

    async def reads(self) -> AsyncGenerator[list[bytes], None]:
        """Each read's complete event payloads (possibly none), until the connection ends."""
        read, feed = self._response.read_some, self._splitter.feed
        try:
            while chunk := await read():
                yield feed(chunk)
        except TimeoutError:
            raise StreamTimedOut from None
        except (EventTooLarge, BadResponse) as exc:
            raise StreamInvalid(str(exc)) from None
        except UpstreamHttpError as exc:
            raise StreamBroken(type(exc).__name__) from None

    def rest(self) -> list[bytes]:
        """The last event, if the stream ended without its blank line (some servers end that way)."""
        return self._splitter.feed(b"\n\n") if self._splitter.pending().strip() else []
