"""Send a request to the first compliant backend that answers, failing over only within the decision.

Failover happens on a connect error, a timeout, 429 or 5xx, and only before anything has been sent to
the client. The list of candidates is exactly `decision.verdict.allowed`: nothing else is reachable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from onshore.decide.policy import Route
from onshore.refusal import Kind, Refusal
from onshore.route.backends.base import Adapter, Endpoint
from onshore.route.credentials import CredentialError, CredentialProvider
from onshore.route.http1 import BadResponse, ConnectFailed, UpstreamHttpError
from onshore.route.stream import UpstreamEvents
from onshore.route.transport import Transport, UpstreamAnswer

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
_URL = re.compile(r"(?i)\b(?:https?|wss?)://\S+")
_HOSTPORT = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b|\blocalhost(?::\d+)?\b|\[[0-9a-fA-F:]+\](?::\d+)?")


@dataclass(slots=True)
class Attempt:
    backend: str
    outcome: str  # "ok", "status_503", "timeout", "connect_error", "disabled", ...
    duration_ms: float


@dataclass(slots=True)
class Opened:
    """A backend that answered 2xx. For a stream `response` is open and unread; otherwise `document`
    holds the parsed body and the connection is already released."""

    route: Route
    adapter: Adapter
    response: UpstreamAnswer
    document: dict[str, Any] | None
    attempts: list[Attempt]
    started: float  # monotonic time the successful attempt began
    upstream_ms: float  # non-streaming: the whole exchange; streaming: until response headers

    def events(self) -> UpstreamEvents:
        """A stream's SSE events as they arrive (see route/stream.py for the failures it raises)."""
        return UpstreamEvents(self.response)

    def close(self) -> None:
        """Close the backend connection (a stream that did not finish is not left open)."""
        self.response.close()


@dataclass(slots=True)
class UpstreamFailure(Exception):
    error: Refusal
    attempts: list[Attempt] = field(default_factory=list)


def scrub(message: str, secrets: tuple[str, ...]) -> str:
    """Remove credentials, URLs and internal addresses from a backend's error message."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    message = _URL.sub("[url]", message)
    message = _HOSTPORT.sub("[address]", message)
    return message[:500]


class Router:
    def __init__(
        self,
        transport: Transport,
        adapters: Mapping[str, Adapter],
        secrets: tuple[str, ...],
        connect_timeout: float,
        read_timeout: float,
        monotonic: Callable[[], float],
        enabled: Callable[[str], bool] = lambda _backend: True,
        why_disabled: Callable[[str], str] = lambda backend: f"'{backend}' is switched off",
        transports: Mapping[str, Transport] | None = None,
        credentials: Mapping[str, CredentialProvider] | None = None,
    ) -> None:
        self._transport = transport
        self._transports = dict(transports or {})  # per-backend transports (e.g. a Unix socket)
        self._credentials = dict(credentials or {})
        self._adapters = adapters
        self._secrets = secrets
        self._monotonic = monotonic
        self._enabled = enabled
        self._why_disabled = why_disabled  # for the refusal: which backend was skipped, and why
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout  # non-streaming: the whole exchange; streaming: each read

    def scrub(self, message: str) -> str:
        return scrub(message, self._secrets)

    def serves(self, route: Route, endpoint: Endpoint) -> bool:
        """Whether the route's backend has the endpoint at all (its kind's adapter says)."""
        return self._adapters[route.backend.name].serves(endpoint)

    def is_enabled(self, backend: str) -> bool:
        return self._enabled(backend)

    async def open(
        self,
        routes: Sequence[Route],
        endpoint: Endpoint,
        body_for: Callable[[Route], dict[str, Any]],
        stream: bool,
    ) -> Opened:
        """Try `routes` in order. The caller passes only routes the decision allowed."""
        attempts: list[Attempt] = []
        last_error: Refusal | None = None
        skipped: list[str] = []
        for route in routes:
            name = route.backend.name
            if not self._enabled(name):
                attempts.append(Attempt(name, "disabled", 0.0))
                skipped.append(self._why_disabled(name))
                continue
            adapter = self._adapters[name]
            try:
                request = adapter.build(endpoint, body_for(route), route.upstream_model)
            except ValueError as exc:  # this provider cannot express the request: try the next one
                attempts.append(Attempt(name, "unsupported_request", 0.0))
                last_error = last_error or Refusal(
                    Kind.UNSUPPORTED_BY_BACKEND, f"Backend '{name}' cannot serve this request: {exc}."
                )
                continue
            started = self._monotonic()
            headers = request.headers
            provider = self._credentials.get(name)
            try:
                if provider is not None:
                    headers = {**headers, **(await provider.headers())}
                response = await self._transports.get(name, self._transport).post(
                    request.url,
                    request.body,
                    headers,
                    connect_timeout=self._connect_timeout,
                    total_timeout=None if stream else self._read_timeout,
                    read_timeout=self._read_timeout if stream else None,
                )
            except TimeoutError:
                attempts.append(Attempt(name, "timeout", (self._monotonic() - started) * 1000))
                last_error = Refusal(Kind.UPSTREAM_TIMEOUT, f"Backend '{name}' did not answer in time.")
                continue
            except BadResponse:  # bytes that are not HTTP (bad status line, bad headers)
                attempts.append(Attempt(name, "bad_response", (self._monotonic() - started) * 1000))
                last_error = Refusal(
                    Kind.UPSTREAM_BAD_RESPONSE, f"Backend '{name}' sent a response that is not valid HTTP."
                )
                continue
            except CredentialError as exc:
                attempts.append(Attempt(name, "auth_error", (self._monotonic() - started) * 1000))
                last_error = Refusal(Kind.UPSTREAM_AUTH_FAILED, f"Backend '{name}': {exc}.")
                continue
            except ConnectFailed as exc:  # its message names no address: an errno's name or what happened
                attempts.append(Attempt(name, "connect_error", (self._monotonic() - started) * 1000))
                last_error = Refusal(Kind.UPSTREAM_UNAVAILABLE, f"Backend '{name}' could not be reached ({exc}).")
                continue
            if 200 <= response.status < 300:
                if stream:
                    elapsed = (self._monotonic() - started) * 1000
                    attempts.append(Attempt(name, "ok", elapsed))
                    return Opened(route, adapter, response, None, attempts, started, elapsed)
                try:
                    document = adapter.parse_response(endpoint, await response.read_all(MAX_RESPONSE_BYTES))
                except BadResponse as exc:
                    attempts.append(Attempt(name, "bad_response", (self._monotonic() - started) * 1000))
                    last_error = Refusal(
                        Kind.UPSTREAM_BAD_RESPONSE, f"Backend '{name}' sent a response that is not valid HTTP: {exc}."
                    )
                    continue
                except (TimeoutError, UpstreamHttpError):
                    attempts.append(Attempt(name, "read_failed", (self._monotonic() - started) * 1000))
                    last_error = Refusal(Kind.UPSTREAM_TIMEOUT, f"Backend '{name}' stopped answering mid-response.")
                    continue
                except ValueError as exc:
                    attempts.append(Attempt(name, "bad_response", (self._monotonic() - started) * 1000))
                    last_error = Refusal(
                        Kind.UPSTREAM_BAD_RESPONSE, f"Backend '{name}' sent an invalid response: {exc}."
                    )
                    continue
                finally:
                    response.release()
                elapsed = (self._monotonic() - started) * 1000
                attempts.append(Attempt(name, "ok", elapsed))
                return Opened(route, adapter, response, document, attempts, started, elapsed)
            error = await self._error_from(name, adapter, response)
            attempts.append(Attempt(name, f"status_{response.status}", (self._monotonic() - started) * 1000))
            if response.status not in RETRYABLE_STATUS:
                raise UpstreamFailure(error, attempts)
            last_error = error
        if last_error is None:
            why = "; ".join(dict.fromkeys(skipped)) or "none is switched on"
            last_error = Refusal(Kind.BACKENDS_DISABLED, f"No compliant backend for this model can be used now: {why}.")
        raise UpstreamFailure(last_error, attempts)

    async def _error_from(self, name: str, adapter: Adapter, response: UpstreamAnswer) -> Refusal:
        pieces: list[bytes] = []
        size = 0
        try:  # the start of the error body is enough for its message; the rest is not waited for
            while size < MAX_ERROR_BYTES and (data := await response.read_some()):
                pieces.append(data)
                size += len(data)
        except (UpstreamHttpError, TimeoutError):
            response.close()
        finally:
            response.release()
        raw = b"".join(pieces)[:MAX_ERROR_BYTES]
        detail = adapter.error_message(raw)
        said = f": {scrub(detail, self._secrets)}" if detail else ""
        status = response.status
        if status == 429:
            retry_after = response.headers.get("retry-after")
            seconds = retry_after.strip() if retry_after and retry_after.strip().isdigit() else None
            return Refusal(Kind.UPSTREAM_RATE_LIMITED, f"Backend '{name}' is rate limiting{said}", retry_after=seconds)
        if status in (400, 422):
            return Refusal(Kind.UPSTREAM_REJECTED_REQUEST, f"Backend '{name}' rejected the request{said}")
        if status == 413:
            return Refusal(Kind.UPSTREAM_REQUEST_TOO_LARGE, f"Backend '{name}' says the request is too large{said}")
        if status in (401, 403):
            return Refusal(Kind.UPSTREAM_AUTH_FAILED, f"Backend '{name}' refused the gateway's credentials.")
        return Refusal(Kind.UPSTREAM_ERROR, f"Backend '{name}' failed with HTTP {status}{said}")


MAX_RESPONSE_BYTES = 32 * 1024 * 1024  # larger than any chat or embeddings answer should be
MAX_ERROR_BYTES = 64 * 1024
