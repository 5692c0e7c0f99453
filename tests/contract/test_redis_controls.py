"""The shared controls' contract (Counters, BreakerStore, KillSwitch and SwitchView), run over every
implementation: RedisControls against a real Redis (127.0.0.1:6379, started if it is down), and
MemoryControls. Then what only Redis has: TTLs, timeouts, and the BackendSwitchWatcher's propagation.

Each Redis test gets its own key prefix and deletes its keys afterwards. Two RedisControls on one Redis
stand for two gateway replicas; in memory there is one process, so its "replicas" share one
MemoryControls. Time for limits and breakers is injected (`now`); only the kill-switch propagation and
the watcher's staleness use the real clock, since that is what they are about.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from onshore.decide.limits import BreakerPolicy, Budget, LimitPolicy, RateLimit, counters_for
from onshore.edge.ports import SwitchView
from onshore.store.memory import MemoryControls
from onshore.store.redis_controls import BackendSwitchWatcher, ControlsUnavailable, RedisControls

Controls = RedisControls | MemoryControls

URL = "redis://127.0.0.1:6379/0"
CLOSED = "redis://127.0.0.1:1/0"
NOW = datetime(2026, 11, 22, 10, 15, 0, tzinfo=UTC).timestamp()  # the start of a minute
START_REDIS = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]


def _ping() -> bool:
    client = redis.Redis.from_url(URL, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@pytest.fixture(scope="module")
def redis_up() -> None:
    if _ping():
        return
    if shutil.which("redis-server") is None:
        pytest.fail("Redis is not running on 127.0.0.1:6379 and redis-server is not installed")
    subprocess.run(START_REDIS, check=True, capture_output=True)
    deadline = time.monotonic() + 5
    while not _ping():
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)


@pytest.fixture
def prefix(redis_up: None) -> Iterator[str]:
    prefix = f"onshore-test-{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


Scenario = Callable[[list[RedisControls]], Awaitable[None]]
ControlsScenario = Callable[[list[Controls]], Awaitable[None]]


@dataclass
class Rig:
    """One implementation of the controls, and how to run a scenario on `replicas` gateways' worth of it."""

    kind: str
    prefix: str = ""  # Redis only

    def run(self, scenario: ControlsScenario, replicas: int = 1, **kw: Any) -> None:
        async def main() -> None:
            if self.kind == "redis":
                controls: list[Controls] = [
                    RedisControls(URL, prefix=self.prefix, timeout=0.5, **kw) for _ in range(replicas)
                ]
            else:
                controls = [MemoryControls(**kw)] * replicas
            try:
                await scenario(controls)
            finally:
                for c in controls:
                    await c.aclose()

        asyncio.run(main())


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.redis), "memory"])
def controls(request: pytest.FixtureRequest) -> Rig:
    if request.param == "redis":
        return Rig("redis", request.getfixturevalue("prefix"))
    return Rig("memory")


def run(scenario: Scenario, prefix: str, replicas: int = 1, url: str = URL, **kw: object) -> None:
    """Run `scenario` with `replicas` separate RedisControls (separate connection pools) on one prefix."""

    async def main() -> None:
        controls = [RedisControls(url, prefix=prefix, timeout=0.5, **kw) for _ in range(replicas)]  # type: ignore[arg-type]
        try:
            await scenario(controls)
        finally:
            for c in controls:
                await c.aclose()

    asyncio.run(main())


# --- rate limits and budgets ---------------------------------------------------------------------------


def test_request_limit_per_key(controls: Rig) -> None:
    policy = LimitPolicy(per_key=RateLimit(requests_per_minute=3))

    async def scenario(cs: list[Controls]) -> None:
        (c,) = cs
        results = [await c.admit("k_1", "acme", policy, NOW + i) for i in range(5)]
        assert [r.allowed for r in results] == [True, True, True, False, False]
        refused = results[3]
        assert refused.rule == "tenants.acme.per_key.requests_per_minute"
        assert refused.retry_after == 57
        assert refused.message == (
            "rate limit tenants.acme.per_key.requests_per_minute (3) for key k_1 reached; retry in 57 s"
        )
        # Another key of the same tenant has its own allowance.
        assert (await c.admit("k_2", "acme", policy, NOW + 5)).allowed
        # Refused requests were not counted.
        assert await c.usage(counters_for("k_1", "acme", policy, NOW)) == [3]

    controls.run(scenario)


def test_request_limit_per_tenant(controls: Rig) -> None:
    policy = LimitPolicy(per_key=RateLimit(requests_per_minute=10), per_tenant=RateLimit(requests_per_minute=4))

    async def scenario(cs: list[Controls]) -> None:
        (c,) = cs
        allowed = [(await c.admit(f"k_{i % 3}", "acme", policy, NOW)).allowed for i in range(6)]
        assert allowed == [True, True, True, True, False, False]
        verdict = await c.admit("k_9", "acme", policy, NOW + 30)
        assert verdict.rule == "tenants.acme.requests_per_minute"
        assert verdict.message == "rate limit tenants.acme.requests_per_minute (4) reached; retry in 30 s"
        # Another tenant is not affected.
        assert (await c.admit("k_0", "globex", policy, NOW)).allowed

    controls.run(scenario)


def test_limits_hold_for_the_sum_of_replicas(controls: Rig) -> None:
    policy = LimitPolicy(per_tenant=RateLimit(requests_per_minute=50))

    async def scenario(cs: list[Controls]) -> None:
        a, b = cs
        # 60 concurrent requests from two replicas: exactly 50 get through, whichever replica sent them.
        tasks = [(a if i % 2 else b).admit(f"k_{i}", "acme", policy, NOW + 1) for i in range(60)]
        results = await asyncio.gather(*tasks)
        assert sum(r.allowed for r in results) == 50
        assert not (await a.admit("k_x", "acme", policy, NOW + 2)).allowed
        assert not (await b.admit("k_x", "acme", policy, NOW + 2)).allowed

    controls.run(scenario, replicas=2)


def test_windows_roll_over(controls: Rig) -> None:
    policy = LimitPolicy(per_tenant=RateLimit(requests_per_minute=2))

    async def scenario(cs: list[Controls]) -> None:
        (c,) = cs
        assert (await c.admit("k", "acme", policy, NOW + 58)).allowed
        assert (await c.admit("k", "acme", policy, NOW + 59)).allowed
        refused = await c.admit("k", "acme", policy, NOW + 59.5)
        assert not refused.allowed and refused.retry_after == 1
        # The next minute is a new window.
        assert (await c.admit("k", "acme", policy, NOW + 60)).allowed
        assert (await c.admit("k", "acme", policy, NOW + 61)).allowed
        assert not (await c.admit("k", "acme", policy, NOW + 62)).allowed

    controls.run(scenario)


def test_token_limits_via_charge(controls: Rig) -> None:
    policy = LimitPolicy(per_key=RateLimit(tokens_per_minute=1_000), per_tenant=RateLimit(tokens_per_minute=1_500))

    async def scenario(cs: list[Controls]) -> None:
        a, b = cs
        assert (await a.admit("k_1", "acme", policy, NOW)).allowed
        await a.charge("k_1", "acme", policy, 600, NOW + 1)
        assert (await b.admit("k_1", "acme", policy, NOW + 2)).allowed
        await b.charge("k_1", "acme", policy, 400, NOW + 3)  # the key's 1,000 are used up
        verdict = await a.admit("k_1", "acme", policy, NOW + 4)
        assert not verdict.allowed and verdict.rule == "tenants.acme.per_key.tokens_per_minute"
        assert verdict.message == (
            "rate limit tenants.acme.per_key.tokens_per_minute (1,000 tokens) for key k_1 reached; retry in 56 s"
        )
        # Another key still has room, until the tenant's 1,500 are used.
        assert (await a.admit("k_2", "acme", policy, NOW + 5)).allowed
        await a.charge("k_2", "acme", policy, 500, NOW + 5)
        verdict = await a.admit("k_2", "acme", policy, NOW + 6)
        assert not verdict.allowed and verdict.rule == "tenants.acme.tokens_per_minute"
        # A new minute, new token windows.
        assert (await a.admit("k_1", "acme", policy, NOW + 60)).allowed
        # Charging nothing is a no-op.
        await a.charge("k_1", "acme", policy, 0, NOW + 61)

    controls.run(scenario, replicas=2)


def test_budget_exhaustion_and_refusals_consume_nothing(controls: Rig) -> None:
    policy = LimitPolicy(per_tenant=RateLimit(requests_per_minute=100), budget=Budget(1_000, "month"))
    counters = counters_for("k_1", "acme", policy, NOW)

    async def scenario(cs: list[Controls]) -> None:
        (c,) = cs
        assert (await c.admit("k_1", "acme", policy, NOW)).allowed
        await c.charge("k_1", "acme", policy, 999, NOW)
        assert (await c.admit("k_1", "acme", policy, NOW + 1)).allowed  # 1 token left: still admitted
        await c.charge("k_1", "acme", policy, 5, NOW + 1)  # one admitted request may overshoot
        assert await c.usage(counters) == [2, 1_004]
        for i in range(5):
            verdict = await c.admit("k_1", "acme", policy, NOW + 2 + i)
            assert not verdict.allowed
        assert verdict.rule == "tenants.acme.budget"
        assert verdict.message == (
            "budget tenants.acme.budget (1,000 tokens per month) exhausted; it resets at 2026-12-01 00:00 UTC"
        )
        assert verdict.retry_after == int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() - (NOW + 6))
        # The refused requests used neither the budget nor a request slot.
        assert await c.usage(counters) == [2, 1_004]
        # Next month the budget is fresh.
        december = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC).timestamp()
        assert (await c.admit("k_1", "acme", policy, december)).allowed

    controls.run(scenario)


@pytest.mark.redis
def test_counters_expire(prefix: str) -> None:
    policy = LimitPolicy(per_tenant=RateLimit(requests_per_minute=5), budget=Budget(10, "day"))

    async def scenario(cs: list[RedisControls]) -> None:
        (c,) = cs
        assert (await c.admit("k", "acme", policy, NOW)).allowed
        await c.charge("k", "acme", policy, 3, NOW)
        window, budget = counters_for("k", "acme", policy, NOW)
        assert 60 < await c.redis.ttl(prefix + window.key) <= 120
        assert await c.redis.ttl(prefix + budget.key) > 86_400

    run(scenario, prefix)


def test_memory_counters_expire_on_the_given_clock() -> None:
    """Memory holds a counter as long as Redis would (its TTL, renewed by every write), on the clock
    the caller passes in, and drops expired ones as that clock moves on."""
    policy = LimitPolicy(per_tenant=RateLimit(requests_per_minute=5), budget=Budget(10, "day"))
    window, budget = counters_for("k", "acme", policy, NOW)

    async def main() -> None:
        c = MemoryControls()
        assert (await c.admit("k", "acme", policy, NOW)).allowed
        await c.charge("k", "acme", policy, 3, NOW)
        assert await c.usage((window, budget)) == [1, 3] and c.counters_held == 2
        # Another tenant's requests move the clock on. Just before acme's window reaches its TTL: kept.
        assert (await c.admit("k", "globex", policy, NOW + window.ttl - 1)).allowed
        assert await c.usage((window, budget)) == [1, 3] and c.counters_held == 3
        # At its TTL it reads as gone, and lingers (held) only until the next sweep.
        assert (await c.admit("k", "globex", policy, NOW + window.ttl)).allowed
        assert await c.usage((window, budget)) == [0, 3] and c.counters_held == 4
        # Past the budget's TTL every earlier counter is dropped: only globex's newest window is left.
        assert (await c.admit("k", "globex", policy, NOW + budget.ttl)).allowed
        assert await c.usage((window, budget)) == [0, 0] and c.counters_held == 1

    asyncio.run(main())


def test_memory_no_limits_holds_nothing() -> None:
    async def main() -> None:
        c = MemoryControls()
        assert (await c.admit("k", "acme", LimitPolicy(None, None, None), NOW)).allowed
        await c.charge("k", "acme", LimitPolicy(None, None, None), 100, NOW)
        assert c.counters_held == 0

    asyncio.run(main())


@pytest.mark.redis
def test_unreachable_redis_raises_controls_unavailable(prefix: str) -> None:
    policy = LimitPolicy(per_tenant=RateLimit(requests_per_minute=5, tokens_per_minute=100))

    async def scenario(cs: list[RedisControls]) -> None:
        (c,) = cs
        started = time.monotonic()
        with pytest.raises(ControlsUnavailable):
            await c.admit("k", "acme", policy, NOW)
        with pytest.raises(ControlsUnavailable):
            await c.charge("k", "acme", policy, 10, NOW)
        with pytest.raises(ControlsUnavailable):
            await c.disabled_backends()
        with pytest.raises(ControlsUnavailable):
            await c.record_failure("b", NOW)
        with pytest.raises(ControlsUnavailable):
            await c.disable_backend("b", "r", "a", NOW)
        assert time.monotonic() - started < 2.0  # short timeouts, no retries

    run(scenario, prefix, url=CLOSED)


@pytest.mark.redis
def test_no_limits_needs_no_redis(prefix: str) -> None:
    async def scenario(cs: list[RedisControls]) -> None:
        (c,) = cs
        assert (await c.admit("k", "acme", LimitPolicy(None, None, None), NOW)).allowed

    run(scenario, prefix, url=CLOSED)


# --- kill switch -----------------------------------------------------------------------------------------


async def _started(watcher: BackendSwitchWatcher) -> asyncio.Task[None]:
    task = asyncio.create_task(watcher.run())
    deadline = time.monotonic() + 2
    while not watcher.healthy:
        assert time.monotonic() < deadline, "watcher never became healthy"
        await asyncio.sleep(0.01)
    return task


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _until(condition: Callable[[], bool], limit: float = 2.0) -> float:
    """Seconds until `condition` holds (fails after `limit`)."""
    started = time.perf_counter()
    while not condition():
        elapsed = time.perf_counter() - started
        assert elapsed < limit, "condition not met in time"
        await asyncio.sleep(0.001)
    return time.perf_counter() - started


def test_kill_switch_state(controls: Rig) -> None:
    async def scenario(cs: list[Controls]) -> None:
        (c,) = cs
        assert await c.disabled_backends() == {}
        await c.disable_backend("us-cloud", "incident 42", "alice", NOW)
        assert await c.disabled_backends() == {"us-cloud": {"reason": "incident 42", "actor": "alice", "since": NOW}}
        assert await c.enable_backend("us-cloud", "bob", NOW + 60)
        assert not await c.enable_backend("us-cloud", "bob", NOW + 61)
        assert await c.disabled_backends() == {}

    controls.run(scenario)


def test_switch_view_follows_the_kill_switch(controls: Rig) -> None:
    """The hot path's view (SwitchView) follows what an operator sets (KillSwitch) on another replica:
    Redis through a BackendSwitchWatcher, memory at once (it is its own view)."""

    async def scenario(cs: list[Controls]) -> None:
        operator, replica = cs
        task = None
        if isinstance(replica, RedisControls):
            view: SwitchView = BackendSwitchWatcher(replica)
            task = await _started(view)  # type: ignore[arg-type]
            await asyncio.sleep(0.1)  # the subscription is in place
        else:
            view = replica
        try:
            assert view.healthy and view.fails_closed
            assert view.is_enabled("jp-primary")
            await operator.disable_backend("jp-primary", "leaking data", "alice", NOW)
            assert await _until(lambda: not view.is_enabled("jp-primary")) < 1.0
            assert view.is_enabled("jp-secondary")
            await operator.enable_backend("jp-primary", "bob", NOW + 1)
            assert await _until(lambda: view.is_enabled("jp-primary")) < 1.0
        finally:
            if task is not None:
                await _stop(task)

    controls.run(scenario, replicas=2)


def test_memory_view_can_fail_open() -> None:
    """The setting is kept (readiness reads it), though a view in this process never goes stale."""
    assert MemoryControls(fail_closed=False).fails_closed is False
    assert MemoryControls().healthy


@pytest.mark.redis
def test_kill_switch_propagates_to_another_replica(prefix: str) -> None:
    timings: dict[str, float] = {}

    async def scenario(cs: list[RedisControls]) -> None:
        operator, replica = cs
        watcher = BackendSwitchWatcher(replica)
        task = await _started(watcher)
        try:
            await asyncio.sleep(0.1)  # the subscription is in place
            assert watcher.is_enabled("jp-primary")
            started = time.perf_counter()
            await operator.disable_backend("jp-primary", "leaking data", "alice", time.time())
            timings["disable"] = (time.perf_counter() - started) + await _until(
                lambda: not watcher.is_enabled("jp-primary")
            )
            assert watcher.is_enabled("jp-secondary")
            assert watcher.disabled["jp-primary"]["actor"] == "alice"
            started = time.perf_counter()
            await operator.enable_backend("jp-primary", "bob", time.time())
            timings["enable"] = (time.perf_counter() - started) + await _until(lambda: watcher.is_enabled("jp-primary"))
        finally:
            await _stop(task)

    run(scenario, prefix, replicas=2)
    print(
        f"kill switch propagation: disable {timings['disable'] * 1000:.1f} ms, enable {timings['enable'] * 1000:.1f} ms"
    )
    assert timings["disable"] < 1.0
    assert timings["enable"] < 1.0


@pytest.mark.redis
def test_watcher_sees_state_set_before_it_started(prefix: str) -> None:
    async def scenario(cs: list[RedisControls]) -> None:
        operator, replica = cs
        await operator.disable_backend("us-cloud", "contract ended", "alice", NOW)
        watcher = BackendSwitchWatcher(replica)
        task = await _started(watcher)
        try:
            assert not watcher.is_enabled("us-cloud")
            assert watcher.is_enabled("jp-primary")
        finally:
            await _stop(task)

    run(scenario, prefix, replicas=2)


@pytest.mark.redis
def test_watcher_refresh_catches_a_missed_message(prefix: str) -> None:
    async def scenario(cs: list[RedisControls]) -> None:
        (c,) = cs
        watcher = BackendSwitchWatcher(c)
        task = await _started(watcher)
        try:
            # Change the hash behind the channel's back: only the periodic re-read can see it.
            await c.redis.hset(f"{prefix}{{backends}}:disabled", "jp-primary", '{"reason":"r","actor":"a","since":1}')
            await c.redis.incr(f"{prefix}{{backends}}:version")
            assert await _until(lambda: not watcher.is_enabled("jp-primary")) < 1.0
        finally:
            await _stop(task)

    run(scenario, prefix)


@pytest.mark.redis
def test_watcher_fails_closed_when_redis_is_unreachable(prefix: str) -> None:
    async def scenario(cs: list[RedisControls]) -> None:
        (c,) = cs
        watcher = BackendSwitchWatcher(c, fail_closed=True)
        assert not watcher.is_enabled("jp-primary")  # nothing read yet: unknown counts as disabled
        task = asyncio.create_task(watcher.run())
        try:
            await asyncio.sleep(1.2)
            assert not watcher.healthy
            assert not watcher.is_enabled("jp-primary")
        finally:
            await _stop(task)

    run(scenario, prefix, url=CLOSED)


class CuttableProxy:
    """A TCP proxy to Redis that can be cut, to lose Redis after a watcher has read it."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 6379)
        self._writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()


def test_a_failed_full_read_is_retried_sooner_than_the_refresh_period(prefix: str) -> None:
    """One failed read must not leave only one more chance before the view goes stale: reads that
    fail (here: nothing listens) are retried every 0.1 s instead of every 0.5 s."""

    class Counting(BackendSwitchWatcher):
        reads = 0

        async def refresh(self) -> bool:
            Counting.reads += 1
            return await super().refresh()

    async def main() -> None:
        controls = RedisControls(CLOSED, prefix=prefix, timeout=0.05)
        watcher = Counting(controls, fail_closed=True)
        task = asyncio.create_task(watcher.run())
        try:
            await asyncio.sleep(1.0)
        finally:
            await _stop(task)
            await controls.aclose()
        assert not watcher.healthy
        assert Counting.reads >= 5  # every 0.5 s would be 2 or 3 in this second

    asyncio.run(main())


@pytest.mark.redis
@pytest.mark.parametrize("fail_closed", [True, False])
def test_watcher_after_losing_redis(prefix: str, fail_closed: bool) -> None:
    async def main() -> None:
        proxy = CuttableProxy()
        await proxy.start()
        operator = RedisControls(URL, prefix=prefix, timeout=0.5)
        replica = RedisControls(f"redis://127.0.0.1:{proxy.port}/0", prefix=prefix, timeout=0.05)
        try:
            await operator.disable_backend("us-cloud", "incident", "alice", NOW)
            watcher = BackendSwitchWatcher(replica, fail_closed=fail_closed)
            task = await _started(watcher)
            try:
                assert watcher.is_enabled("jp-primary") and not watcher.is_enabled("us-cloud")
                await proxy.cut()
                lost = time.perf_counter()
                await asyncio.sleep(0.8)
                assert watcher.is_enabled("jp-primary")  # not yet stale
                if fail_closed:
                    stale = await _until(lambda: not watcher.is_enabled("jp-primary"), limit=1.0) + 0.8
                    assert 0.8 <= time.perf_counter() - lost <= 1.8 and stale <= 1.8
                    assert not watcher.healthy
                else:
                    await asyncio.sleep(0.7)
                    assert not watcher.healthy
                    assert watcher.is_enabled("jp-primary") and not watcher.is_enabled("us-cloud")  # last view
            finally:
                await _stop(task)
        finally:
            await operator.aclose()
            await replica.aclose()

    asyncio.run(main())


# --- circuit breaker -------------------------------------------------------------------------------------


def test_circuit_breaker_opens_and_closes(controls: Rig) -> None:
    async def scenario(cs: list[Controls]) -> None:
        a, b = cs
        assert not await a.is_open("jp-primary", NOW)
        # Failures seen by two replicas count together: 5 within 30 s open the breaker.
        opened = [await (a if i % 2 else b).record_failure("jp-primary", NOW + i) for i in range(5)]
        assert opened == [False, False, False, False, True]
        assert await a.is_open("jp-primary", NOW + 5) and await b.is_open("jp-primary", NOW + 5)
        assert not await a.is_open("jp-secondary", NOW + 5)
        # A late success does not close it early; the cool-down does.
        await a.record_success("jp-primary")
        assert await b.is_open("jp-primary", NOW + 33)
        assert not await b.is_open("jp-primary", NOW + 34.5)
        # A fresh count after the cool-down.
        assert not await a.record_failure("jp-primary", NOW + 35)

    controls.run(scenario, replicas=2)


def test_circuit_breaker_forgets_old_failures_and_successes_reset(controls: Rig) -> None:
    async def scenario(cs: list[Controls]) -> None:
        (c,) = cs
        for i in range(4):
            await c.record_failure("b", NOW + i * 10)  # 4 failures over 30 s, never 3 within the window
        assert not await c.is_open("b", NOW + 40)
        for i in range(2):
            await c.record_failure("b", NOW + 100 + i)
        await c.record_success("b")
        assert not await c.record_failure("b", NOW + 103)
        assert not await c.record_failure("b", NOW + 104)
        assert await c.record_failure("b", NOW + 105)
        assert await c.is_open("b", NOW + 105)

    controls.run(scenario, breaker=BreakerPolicy(threshold=3, window=15.0, cooldown=30.0))
