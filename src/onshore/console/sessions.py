"""Server-side console sessions and pending OIDC sign-ins: the ports, and the in-memory stores.

The cookie holds only a random token; a store keys sessions by its SHA-256, so nothing stored can be
replayed as a cookie. In memory, a session lives in one process; with `gateway.redis` the console
keeps them in Redis instead (redis_sessions.py), so every replica behind a load balancer knows it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

MAX_SESSIONS = 10_000  # beyond this the oldest is dropped: memory stays bounded under a login flood
LOGIN_TTL_SECONDS = 600.0
MAX_PENDING = 1_000


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(slots=True)
class Session:
    actor: str  # how audit records name the user: "console:admin-key", an API key id, oidc:<iss>#<sub>
    display: str  # what the page shows as the user's name
    roles: frozenset[str]
    csrf: str  # synchronizer token: every change must carry it
    created: float
    seen: float


@dataclass(frozen=True, slots=True)
class PendingLogin:
    state: str
    nonce: str
    verifier: str  # the PKCE code verifier (RFC 7636): only its S256 challenge went to the IdP
    created: float
    next_path: str


class SessionStore(Protocol):
    idle: float
    maximum: float

    async def create(self, actor: str, display: str, roles: frozenset[str]) -> tuple[str, Session]:
        """A new session and its cookie token (a fresh token on every sign-in: no session fixation)."""
        ...

    async def get(self, token: str | None) -> Session | None:
        """The live session for `token`, its idle clock restarted; None if unknown or expired."""
        ...

    async def drop(self, token: str | None) -> None: ...


class LoginStore(Protocol):
    async def start(self, next_path: str) -> tuple[str, PendingLogin]: ...

    async def take(self, token: str | None) -> PendingLogin | None:
        """The pending sign-in for `token`, removed (a callback cannot be replayed); None if unknown or old."""
        ...


def new_session(actor: str, display: str, roles: frozenset[str], now: float) -> tuple[str, Session]:
    return secrets.token_urlsafe(32), Session(actor, display, roles, secrets.token_urlsafe(32), now, now)


def new_login(next_path: str, now: float) -> tuple[str, PendingLogin]:
    login = PendingLogin(
        secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64), now, next_path
    )
    return secrets.token_urlsafe(32), login


class Sessions:
    """Sessions in this process's memory, bounded (the oldest go first)."""

    def __init__(self, idle_seconds: float, max_seconds: float, now: Callable[[], float]) -> None:
        self.idle = idle_seconds
        self.maximum = max_seconds
        self._now = now
        self._by_digest: OrderedDict[str, Session] = OrderedDict()

    async def create(self, actor: str, display: str, roles: frozenset[str]) -> tuple[str, Session]:
        token, session = new_session(actor, display, roles, self._now())
        self._by_digest[digest(token)] = session
        while len(self._by_digest) > MAX_SESSIONS:
            self._by_digest.popitem(last=False)
        return token, session

    async def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        key = digest(token)
        session = self._by_digest.get(key)
        if session is None:
            return None
        now = self._now()
        if now - session.seen > self.idle or now - session.created > self.maximum:
            del self._by_digest[key]
            return None
        session.seen = now
        return session

    async def drop(self, token: str | None) -> None:
        if token:
            self._by_digest.pop(digest(token), None)

    def __len__(self) -> int:
        return len(self._by_digest)


class PendingLogins:
    """Sign-ins sent to the IdP and not yet back, keyed by a token in a short-lived browser cookie
    (so a callback only completes in the browser that started it: no login CSRF). One use each."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._pending: OrderedDict[str, PendingLogin] = OrderedDict()

    async def start(self, next_path: str) -> tuple[str, PendingLogin]:
        token, login = new_login(next_path, self._now())
        self._pending[digest(token)] = login
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
        return token, login

    async def take(self, token: str | None) -> PendingLogin | None:
        if not token:
            return None
        login = self._pending.pop(digest(token), None)
        if login is None or self._now() - login.created > LOGIN_TTL_SECONDS:
            return None
        return login
