"""What the service needs from the edge and from the shared counters, as ports it is handed: it knows no
HTTP server, no wire format and no store.

The edge implements `Dialect` (edge/dialects.py) for each wire format a client may speak, and
supplies `OpenStream`; its write function raises `ClientGone` when the client has hung up.

`Counters` is what the admission step (service/limits.py) counts requests and tokens through:
implemented by the shared Redis controls (every replica counts together) and by the in-memory controls
(one process). Which counters exist and what they mean is decided in `onshore.decide.limits`; an
implementation only holds them. Both methods raise `ControlsUnavailable` when the store cannot be
reached in time; the caller chooses whether that fails open or closed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

import msgspec

from onshore.decide.limits import Admission, LimitPolicy, Quota
from onshore.refusal import Refusal


class Reply(msgspec.Struct, frozen=True):
    """A whole answer (or refusal) as it will be sent: the service records these exact bytes first."""

    status: int
    body: bytes
    headers: dict[str, str]


class ClientGone(Exception):
    """The client closed the connection: nothing more can be written to it."""


class Write(Protocol):
    """Send bytes of a streamed answer; raises ClientGone. `end`: these are the last, so the edge
    ends the answer in the same write (one system call and one packet fewer per stream)."""

    def __call__(self, data: bytes, *, end: bool = False) -> Awaitable[None]: ...


OpenStream = Callable[[dict[str, str]], Awaitable[Write]]  # send the stream's headers; raises ClientGone


class StreamEncoder(Protocol):
    """One streamed answer in a client's wire format; every method returns the bytes to send."""

    def start(self, request_id: str) -> bytes: ...

    def chunk(self, document: dict[str, Any]) -> bytes: ...

    def finish(self) -> bytes:
        """Bytes that end the answer, before the final receipt."""
        ...

    def receipt(self, receipt: str) -> bytes:
        """The final receipt (a comment clients ignore)."""
        ...

    def done(self) -> bytes:
        """Bytes after the final receipt."""
        ...

    def error(self, refusal: Refusal) -> bytes:
        """The event that ends a stream the gateway cannot finish."""
        ...


class Dialect(Protocol):
    """A wire format a client speaks (OpenAI's, Anthropic's): how answers and refusals are encoded."""

    def render_refusal(self, refusal: Refusal) -> Reply: ...

    def encode_response(self, document: dict[str, Any], model: str) -> bytes:
        """An OpenAI-shaped answer in this dialect."""
        ...

    def stream_encoder(self, model: str) -> StreamEncoder: ...

    def standard_headers(self, request_id: str, quota: Quota | None, now: float) -> dict[str, str]:
        """The request id and rate-limit headers this dialect's clients read."""
        ...


@runtime_checkable
class Counters(Protocol):
    async def admit(self, key_id: str, tenant: str, policy: LimitPolicy, now: float) -> Admission:
        """Check every limit and, if all pass, count the request, atomically; a refusal changes nothing."""
        ...

    async def charge(self, key_id: str, tenant: str, policy: LimitPolicy, tokens: int, now: float) -> None:
        """Add the tokens a request used to its token windows and its budget."""
        ...


@runtime_checkable
class ResponseStore(Protocol):
    """Responses API turns Onshore keeps for `previous_response_id` (service/conversations.py), sealed
    before they get here: a store holds ids, owners and times in the clear and the turn only as
    ciphertext. Implemented by store/responses_sqlite.py, responses_postgres.py and memory.py.

    A turn is found only by its id together with its owner (tenant and principal) and only before it
    expires: someone else's turn and an expired one look exactly like one that never existed.
    Expired turns are deleted when met, and by `purge`. A store that cannot be reached raises its
    own error; the service treats any as "unavailable" (503), never as "not found".
    """

    async def put(
        self, response_id: str, tenant: str, owner: str, created_at: float, expires_at: float, sealed: bytes
    ) -> None: ...

    async def get(self, response_id: str, tenant: str, owner: str, now: float) -> tuple[bytes, float] | None:
        """The sealed turn and its expiry time, or None."""
        ...

    async def delete(self, response_id: str, tenant: str, owner: str, now: float) -> bool:
        """True if the caller's live turn was there (and is now gone)."""
        ...

    async def purge(self, now: float) -> int:
        """Delete every turn expired by `now`; how many."""
        ...

    async def aclose(self) -> None: ...
