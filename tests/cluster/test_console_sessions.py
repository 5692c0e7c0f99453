"""Console sessions in real Redis: what one replica creates another reads, expiry by idle time and by
the absolute limit, a sign-in taken once, the cookie token never stored, and Redis down fails closed."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest
import redis

from onshore.console.redis_sessions import RedisSessions, SessionsUnavailable
from onshore.console.sessions import LOGIN_TTL_SECONDS

URL = "redis://127.0.0.1:6379/0"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(URL, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


pytestmark = pytest.mark.skipif(not _redis_up(), reason="needs Redis on 127.0.0.1:6379 (.ci/run starts it)")


def _pair(clock: Clock, idle: float = 60, maximum: float = 150) -> tuple[RedisSessions, RedisSessions, str]:
    prefix = f"onshore-test-{uuid.uuid4().hex[:8]}:"
    return RedisSessions(URL, prefix, idle, maximum, clock), RedisSessions(URL, prefix, idle, maximum, clock), prefix


def test_a_session_made_on_one_replica_is_known_on_another_until_dropped() -> None:
    async def run() -> None:
        clock = Clock()
        one, two, prefix = _pair(clock)
        token, made = await one.create("console:admin-key", "admin key", frozenset({"admin", "auditor"}))
        seen = await two.get(token)
        assert seen is not None
        assert (seen.actor, seen.display, seen.roles, seen.csrf) == (made.actor, made.display, made.roles, made.csrf)
        stored = redis.Redis.from_url(URL).keys(prefix + "*")
        assert stored and all(token.encode() not in key for key in stored)  # keyed by digest, not the token
        assert all(token.encode() not in (redis.Redis.from_url(URL).get(k) or b"") for k in stored)
        await two.drop(token)  # sign out on one replica: signed out everywhere
        assert await one.get(token) is None
        assert await one.get("made-up") is None and await one.get(None) is None
        await one.aclose()
        await two.aclose()

    asyncio.run(run())


def test_idle_and_absolute_expiry() -> None:
    async def run() -> None:
        clock = Clock()
        one, _, _ = _pair(clock, idle=1, maximum=150)
        token, _ = await one.create("a", "a", frozenset({"admin"}))
        await asyncio.sleep(0.6)
        assert await one.get(token) is not None  # use restarts the idle clock (the key's expiry)
        await asyncio.sleep(0.6)
        assert await one.get(token) is not None
        await asyncio.sleep(2.1)
        assert await one.get(token) is None  # idle past its limit: Redis let it expire
        token, _ = await one.create("a", "a", frozenset({"admin"}))
        clock.t += 151  # in use all along, but past the absolute limit
        assert await one.get(token) is None
        await one.aclose()

    asyncio.run(run())


def test_a_pending_sign_in_is_taken_once_by_any_replica_and_expires() -> None:
    async def run() -> None:
        clock = Clock()
        one, two, _ = _pair(clock)
        token, login = await one.start("/audit")
        assert await two.take(token) == login  # the IdP's callback may reach another replica
        assert await one.take(token) is None  # and cannot be replayed on any
        token, _ = await one.start("/")
        clock.t += LOGIN_TTL_SECONDS + 1
        assert await two.take(token) is None
        await one.aclose()
        await two.aclose()

    asyncio.run(run())


def test_redis_down_fails_closed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes

    async def run() -> None:
        down = RedisSessions(f"redis://127.0.0.1:{port}/0", "x:", 60, 150, Clock(), timeout=0.2)
        with pytest.raises(SessionsUnavailable):
            await down.get("some-token")
        with pytest.raises(SessionsUnavailable):
            await down.create("a", "a", frozenset({"admin"}))
        with pytest.raises(SessionsUnavailable):
            await down.take("some-token")
        await down.aclose()

    asyncio.run(run())
