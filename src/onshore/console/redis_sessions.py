"""Console sessions and pending sign-ins in Redis, so that every replica of the gateway knows a
session whichever one the load balancer sends the browser to.

Keys (under the gateway's Redis prefix): `console:session:<sha256 of the cookie token>` holding the
session as JSON, expiring after the idle time and renewed on every use (GETEX, one round trip);
`console:login:<sha256>` for a sign-in sent to the IdP, taken once (GETDEL). The absolute session
limit is checked against the creation time inside the value. A Redis that cannot be reached fails
closed: the console refuses (503) rather than treating anyone as signed in.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from onshore.console.sessions import (
    LOGIN_TTL_SECONDS,
    PendingLogin,
    Session,
    digest,
    new_login,
    new_session,
)


class SessionsUnavailable(Exception):
    """Redis, which holds the console's sessions, could not be reached."""


def _seconds(value: float) -> int:
    return max(1, int(value + 0.999))


class RedisSessions:
    """A `SessionStore` and a `LoginStore` shared by every replica."""

    def __init__(
        self,
        url: str,
        prefix: str,
        idle_seconds: float,
        max_seconds: float,
        now: Callable[[], float],
        timeout: float = 1.0,
    ) -> None:
        self.idle = idle_seconds
        self.maximum = max_seconds
        self._now = now
        self._prefix = prefix + "console:"
        self._redis = aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)

    async def create(self, actor: str, display: str, roles: frozenset[str]) -> tuple[str, Session]:
        token, session = new_session(actor, display, roles, self._now())
        value = json.dumps(
            {
                "actor": actor,
                "display": display,
                "roles": sorted(roles),
                "csrf": session.csrf,
                "created": session.created,
            }
        )
        try:
            await self._redis.set(f"{self._prefix}session:{digest(token)}", value, ex=_seconds(self.idle))
        except RedisError as exc:
            raise SessionsUnavailable(type(exc).__name__) from None
        return token, session

    async def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        key = f"{self._prefix}session:{digest(token)}"
        try:
            raw = await self._redis.getex(key, ex=_seconds(self.idle))  # use restarts the idle clock
            if raw is None:
                return None
            fields = json.loads(raw)
            now = self._now()
            if now - float(fields["created"]) > self.maximum:
                await self._redis.delete(key)
                return None
        except RedisError as exc:
            raise SessionsUnavailable(type(exc).__name__) from None
        roles = frozenset(str(r) for r in fields["roles"])
        return Session(str(fields["actor"]), str(fields["display"]), roles, str(fields["csrf"]), fields["created"], now)

    async def drop(self, token: str | None) -> None:
        if not token:
            return
        try:
            await self._redis.delete(f"{self._prefix}session:{digest(token)}")
        except RedisError as exc:
            raise SessionsUnavailable(type(exc).__name__) from None

    async def start(self, next_path: str) -> tuple[str, PendingLogin]:
        token, login = new_login(next_path, self._now())
        value = json.dumps(
            {
                "state": login.state,
                "nonce": login.nonce,
                "verifier": login.verifier,
                "created": login.created,
                "next": login.next_path,
            }
        )
        try:
            await self._redis.set(f"{self._prefix}login:{digest(token)}", value, ex=_seconds(LOGIN_TTL_SECONDS))
        except RedisError as exc:
            raise SessionsUnavailable(type(exc).__name__) from None
        return token, login

    async def take(self, token: str | None) -> PendingLogin | None:
        if not token:
            return None
        try:
            raw = await self._redis.getdel(f"{self._prefix}login:{digest(token)}")  # one use: a replay finds nothing
        except RedisError as exc:
            raise SessionsUnavailable(type(exc).__name__) from None
        if raw is None:
            return None
        fields = json.loads(raw)
        login = PendingLogin(
            str(fields["state"]),
            str(fields["nonce"]),
            str(fields["verifier"]),
            float(fields["created"]),
            fields["next"],
        )
        if self._now() - login.created > LOGIN_TTL_SECONDS:
            return None
        return login

    async def aclose(self) -> None:
        await self._redis.aclose()
