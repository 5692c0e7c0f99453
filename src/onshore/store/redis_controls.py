"""Cluster-wide controls in Redis: rate limits and budgets, the backend kill switch, shared circuit breakers.

Every replica of the gateway points at the same Redis, so limits hold for the sum of their traffic,
a backend disabled on one replica is disabled on all, and failures seen by any replica count together.
Which counters exist and what they mean is decided in `onshore.decide.limits` (pure); this module only
stores them, each operation in ONE round trip (a Lua script or a MULTI/EXEC pipeline).

Every call has a short timeout (`timeout`, 50 ms by default, connecting included; no retries). When
Redis cannot be reached in time a method raises `ControlsUnavailable`, and the CALLER chooses per feature:

- rate limits and budgets: fail open is the usual choice (serve the request unlimited and count the
  outage in a metric) since refusing all traffic because the limiter is down turns a limiter outage into
  a gateway outage; a deployment that must never overspend a budget can fail closed (answer 503);
- `charge` failing loses that request's token count (log it; the budget may be overshot by that much);
- circuit breakers: fail open (treat the breaker as closed), the router's own failover still applies;
- the kill switch: read through `BackendSwitchWatcher`, which fails CLOSED by default: a kill switch
  that cannot be read is treated as on for every backend (see there).

Keys (all under `prefix`): `{<tenant>}:rpm|tpm:k|t:<id>:<window>`, `{<tenant>}:budget:<period>:<date>`
(Redis Cluster hash tags keep one tenant's counters in one slot), `{backends}:disabled` (hash),
`{backends}:version`, `{breaker}:<backend>:failures` (sorted set), `{breaker}:<backend>:open_until`;
channel `<prefix>backends`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.maint_notifications import MaintNotificationsConfig

from onshore.decide.controls import ControlsUnavailable, DisabledBackend
from onshore.decide.limits import (
    ADMITTED,
    Admission,
    BreakerPolicy,
    Counter,
    LimitPolicy,
    admitted,
    charges_for,
    counters_for,
    refused,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


__all__ = ["BackendSwitchWatcher", "ControlsUnavailable", "DisabledBackend", "RedisControls"]


# KEYS: the counters. ARGV: limit, cost, ttl for each. Checks every counter first (value + 1 > limit
# refuses) and only then increments them, so a refused request changes nothing. Returns {0, 0} when
# admitted followed by every counter's value (read before this request, for the x-ratelimit-* headers),
# else {index (1-based), value} of the first counter that refused.
_ADMIT = """
local values = {}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[3 * i - 2])
  local value = tonumber(redis.call('GET', KEYS[i]) or '0')
  if value + 1 > limit then
    return {i, value}
  end
  values[i] = value
end
for i = 1, #KEYS do
  local cost = tonumber(ARGV[3 * i - 1])
  if cost > 0 then
    redis.call('INCRBY', KEYS[i], cost)
    redis.call('EXPIRE', KEYS[i], ARGV[3 * i])
  end
end
return {0, unpack(values)}
"""

# KEYS: the counters. ARGV: cost, ttl for each.
_CHARGE = """
for i = 1, #KEYS do
  redis.call('INCRBY', KEYS[i], ARGV[2 * i - 1])
  redis.call('EXPIRE', KEYS[i], ARGV[2 * i])
end
return #KEYS
"""

# KEYS: disabled hash, version. ARGV: channel, name, state JSON ('' to enable), actor, now.
# Changes the hash, bumps the version and publishes {op, name, state, actor, at, version}.
_SWITCH = """
local op
if ARGV[3] == '' then
  if redis.call('HDEL', KEYS[1], ARGV[2]) == 0 then
    return 0
  end
  op = 'enable'
else
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  op = 'disable'
end
local version = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], cjson.encode({op = op, name = ARGV[2], state = ARGV[3], actor = ARGV[4],
  at = tonumber(ARGV[5]), version = version}))
return 1
"""

# KEYS: failures (sorted set), open_until. ARGV: now, member, window, threshold, cooldown.
# Returns 1 when this failure opened the breaker.
_FAILURE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  local cooldown = tonumber(ARGV[5])
  redis.call('SET', KEYS[2], tostring(now + cooldown), 'EX', math.ceil(cooldown) + 1)
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


class RedisControls:
    """Rate limits, budgets, the kill switch and circuit breakers, shared by every replica through Redis."""

    def __init__(
        self,
        url: str,
        prefix: str = "onshore:",
        timeout: float = 0.05,
        *,
        breaker: BreakerPolicy | None = None,
    ) -> None:
        self._prefix = prefix
        self._timeout = timeout
        self._breaker = breaker or BreakerPolicy()
        self._redis = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            # No socket_timeout: every call is bounded by asyncio.timeout in _call instead. redis-py applies
            # socket_timeout to writes with asyncio.wait_for, which on Python 3.11 can swallow a task's
            # cancellation (the watcher could then never be stopped).
            socket_timeout=None,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            # Not a managed cluster that migrates slots: skip the probe redis-py would send on every connect.
            maint_notifications_config=MaintNotificationsConfig(enabled=False),
        )
        self._admit = self._redis.register_script(_ADMIT)
        self._charge = self._redis.register_script(_CHARGE)
        self._switch = self._redis.register_script(_SWITCH)
        self._failure = self._redis.register_script(_FAILURE)
        self.channel = f"{prefix}backends"
        self._disabled_key = f"{prefix}{{backends}}:disabled"
        self._version_key = f"{prefix}{{backends}}:version"

    @property
    def redis(self) -> aioredis.Redis:
        return self._redis

    @property
    def timeout(self) -> float:
        return self._timeout

    async def aclose(self) -> None:
        await self._redis.aclose()

    async def _call(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                return await make()
        except (RedisError, OSError, TimeoutError) as exc:
            raise ControlsUnavailable(f"Redis did not answer {what}: {type(exc).__name__}: {exc}") from exc

    # --- rate limits and budgets -----------------------------------------------------------------

    async def admit(self, key_id: str, tenant: str, policy: LimitPolicy, now: float) -> Admission:
        """Check every limit and, if all pass, count the request, atomically (one script, one round trip).

        A refused request changes no counter. Raises ControlsUnavailable if Redis cannot be reached.
        """
        counters = counters_for(key_id, tenant, policy, now)
        if not counters:
            return ADMITTED
        keys = [self._prefix + c.key for c in counters]
        args: list[int] = []
        for c in counters:
            args += [c.limit, c.cost, c.ttl]
        result = await self._call("admit", lambda: self._admit(keys=keys, args=args))
        answer = cast(list[Any], result)
        index = int(answer[0])
        return admitted(counters, [int(v) for v in answer[1:]]) if index == 0 else refused(counters[index - 1], now)

    async def charge(self, key_id: str, tenant: str, policy: LimitPolicy, tokens: int, now: float) -> None:
        """Add the tokens a request used to its token windows and the budget (one round trip)."""
        counters = charges_for(key_id, tenant, policy, tokens, now)
        if not counters:
            return
        keys = [self._prefix + c.key for c in counters]
        args: list[int] = []
        for c in counters:
            args += [c.cost, c.ttl]
        await self._call("charge", lambda: self._charge(keys=keys, args=args))

    async def usage(self, counters: tuple[Counter, ...]) -> list[int]:
        """Current values of counters (for reports and tests); 0 for a counter not yet created."""
        keys = [self._prefix + c.key for c in counters]
        if not keys:
            return []
        values = await self._call("usage", lambda: cast(Awaitable[list[str | None]], self._redis.mget(keys)))
        return [int(v or 0) for v in values]

    # --- kill switch ---------------------------------------------------------------------------------

    async def disable_backend(self, name: str, reason: str, actor: str, now: float) -> None:
        """Disable a backend on every replica: stored in a hash, announced on the channel (one round trip)."""
        state = json.dumps({"reason": reason, "actor": actor, "since": now})
        await self._call(
            "disable_backend",
            lambda: self._switch(
                keys=[self._disabled_key, self._version_key], args=[self.channel, name, state, actor, now]
            ),
        )

    async def enable_backend(self, name: str, actor: str, now: float) -> bool:
        """Enable a backend again; False if it was not disabled."""
        result = await self._call(
            "enable_backend",
            lambda: self._switch(
                keys=[self._disabled_key, self._version_key], args=[self.channel, name, "", actor, now]
            ),
        )
        return bool(result)

    async def disabled_backends(self) -> dict[str, DisabledBackend]:
        """Disabled backends: name -> {reason, actor, since}."""
        _version, disabled = await self.switch_state()
        return disabled

    async def switch_state(self) -> tuple[int, dict[str, DisabledBackend]]:
        """The kill-switch version and the disabled backends, read together (one round trip)."""

        async def read() -> list[Any]:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.get(self._version_key)
                pipe.hgetall(self._disabled_key)
                return await pipe.execute()

        version, raw = await self._call("switch_state", read)
        return int(version or 0), {name: _state(text) for name, text in cast(dict[str, str], raw).items()}

    # --- circuit breakers ----------------------------------------------------------------------------

    def _breaker_keys(self, backend: str) -> list[str]:
        return [f"{self._prefix}{{breaker}}:{backend}:failures", f"{self._prefix}{{breaker}}:{backend}:open_until"]

    async def record_failure(self, backend: str, now: float) -> bool:
        """Count a failure of `backend`; True if it opened the breaker (see BreakerPolicy)."""
        policy = self._breaker
        member = f"{now:.6f}:{os.urandom(6).hex()}"
        args: list[str | float] = [now, member, policy.window, policy.threshold, policy.cooldown]
        result = await self._call("record_failure", lambda: self._failure(keys=self._breaker_keys(backend), args=args))
        return bool(result)

    async def record_success(self, backend: str) -> None:
        """A success clears the failure count; an open breaker stays open until its cool-down ends."""
        failures, _open = self._breaker_keys(backend)
        await self._call("record_success", lambda: self._redis.delete(failures))

    async def is_open(self, backend: str, now: float) -> bool:
        _failures, open_key = self._breaker_keys(backend)
        until = await self._call("is_open", lambda: cast(Awaitable[str | None], self._redis.get(open_key)))
        return until is not None and float(until) > now


def _state(text: str) -> DisabledBackend:
    try:
        data = json.loads(text)
        return DisabledBackend(reason=str(data["reason"]), actor=str(data["actor"]), since=float(data["since"]))
    except (ValueError, KeyError, TypeError):
        return DisabledBackend(reason=text, actor="?", since=0.0)


class BackendSwitchWatcher:
    """Keeps an in-memory view of the kill switch for the hot path (`is_enabled` is sync and instant).

    `run()` (a long-lived, cancellable task) subscribes to the channel and applies each change as it is
    published, and re-reads the whole hash every `refresh_every` seconds as a safety net (a message lost
    while the subscription reconnects is picked up by the next read). A version number bumped by every
    change keeps an older full read from undoing a newer change.

    `healthy` is False when no full read succeeded for more than `stale_after` seconds (or none yet).
    Then, with `fail_closed=True` (the default), every backend counts as disabled: a kill switch that
    cannot be read is treated as on. With `fail_closed=False` the last known view stays in force.
    """

    def __init__(
        self,
        controls: RedisControls,
        fail_closed: bool = True,
        *,
        refresh_every: float = 0.5,
        stale_after: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._controls = controls
        self._fail_closed = fail_closed
        self._refresh_every = refresh_every
        self._stale_after = stale_after
        self._monotonic = monotonic
        self._disabled: dict[str, DisabledBackend] = {}
        self._version = -1
        self._last_ok: float | None = None

    @property
    def healthy(self) -> bool:
        return self._last_ok is not None and self._monotonic() - self._last_ok <= self._stale_after

    @property
    def fails_closed(self) -> bool:
        return self._fail_closed

    @property
    def disabled(self) -> dict[str, DisabledBackend]:
        """The last known disabled backends (whatever `healthy` says)."""
        return dict(self._disabled)

    def is_enabled(self, name: str) -> bool:
        if self._fail_closed and not self.healthy:
            return False
        return name not in self._disabled

    async def refresh(self) -> bool:
        """Read the whole kill-switch state once; False if Redis could not be reached."""
        try:
            version, disabled = await self._controls.switch_state()
        except ControlsUnavailable as exc:
            log.debug("kill switch refresh failed: %s", exc)
            return False
        if version >= self._version:
            self._version, self._disabled = version, disabled
        self._last_ok = self._monotonic()
        return True

    def apply(self, message: str) -> None:
        """Apply one published change (ignoring one older than the view)."""
        try:
            change = json.loads(message)
            version, name, op = int(change["version"]), str(change["name"]), change["op"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed kill-switch message %r", message[:200])
            return
        if version <= self._version:
            return
        self._version = version
        if op == "disable":
            self._disabled[name] = _state(str(change.get("state", "")))
        else:
            self._disabled.pop(name, None)

    async def run(self) -> None:
        """Run until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._refresh_loop())
            group.create_task(self._subscribe_loop())

    async def _refresh_loop(self) -> None:
        while True:
            _still_wanted()
            ok = await self.refresh()
            # A failed read is retried sooner: one lost connection or a read that waited on a busy
            # event loop must not leave only one more chance before the view goes stale (fail closed).
            await asyncio.sleep(self._refresh_every if ok else min(self._refresh_every, _RETRY_SECONDS))

    async def _subscribe_loop(self) -> None:
        while True:
            _still_wanted()
            pubsub = self._controls.redis.pubsub(ignore_subscribe_messages=True)
            try:
                async with asyncio.timeout(self._controls.timeout * 4):
                    await pubsub.subscribe(self._controls.channel)
                await self.refresh()  # catch up on anything published before the subscription
                while True:
                    _still_wanted()
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self.apply(str(message["data"]))
            except (RedisError, OSError, TimeoutError) as exc:
                log.debug("kill switch subscription lost: %s", exc)
            finally:
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(self._refresh_every)


_RETRY_SECONDS = 0.1  # after a failed full read: five tries within the default one-second staleness


def _still_wanted() -> None:
    """Raise CancelledError if this task was cancelled but a library swallowed the CancelledError
    (possible on Python 3.11 inside asyncio.wait_for); the request to cancel is still counted."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
