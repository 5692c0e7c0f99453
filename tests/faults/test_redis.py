"""Redis is SIGKILLed under traffic and restarted on the same port (empty, as a cache without
persistence comes back). Three gateways share it, each with a different fail mode, so one crash shows
every setting honoured: the kill switch fails closed (`kill_switch_when_unreachable: closed`, the
default) and open when told; limits fail open (the default) or closed (`limits_when_unreachable`);
circuit breakers are best effort (failover still works). Everything recovers by itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness import Deployment, Outcome, Traffic, chat, check_invariants, stream
from tests.support.gateway import backend, rules
from tests.support.services import PrivateRedis
from tests.support.upstream import Behaviour, FakeUpstream

pytestmark = pytest.mark.redis


@pytest.fixture
def upstreams() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    failing, good = FakeUpstream("redis-failing").start(), FakeUpstream("redis-good").start()
    failing.behaviour = Behaviour(status=500)
    yield failing, good
    failing.stop()
    good.stop()


def _deployment(
    base: Path, name: str, redis: PrivateRedis, upstreams: tuple[FakeUpstream, FakeUpstream], **fail: str
) -> Deployment:
    failing, good = upstreams
    raw = {
        "gateway": {
            "redis": {"url_env": "ONSHORE_REDIS_URL", "prefix": f"faults-{name}:", **fail},
            "audit": {"checkpoint_interval_seconds": 0.5},
        },
        "backends": {"failing": backend(failing.base_url), "good": backend(good.base_url)},
        "models": {
            "m": {"routes": [{"backend": "good", "model": "x"}]},
            # The first route always fails: the breaker counts it (in Redis), failover serves from the second.
            "flaky": {"routes": [{"backend": "failing", "model": "x"}, {"backend": "good", "model": "x"}]},
        },
        "tenants": {
            "free": rules(["JP"]),
            "limited": {**rules(["JP"]), "limits": {"per_tenant": {"requests_per_minute": 100000}}},
            "tight": {**rules(["JP"]), "limits": {"per_tenant": {"requests_per_minute": 3}}},
        },
    }
    return Deployment.write(base / name, raw, {"ONSHORE_REDIS_URL": redis.url}).start("free", "limited", "tight")


def _until(what: str, timeout: float, get: object, ok: object) -> Outcome:
    deadline = time.monotonic() + timeout
    while True:
        outcome = get()  # type: ignore[operator]
        if ok(outcome):  # type: ignore[operator]
            return outcome  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {outcome} after {timeout} s")
        time.sleep(0.05)


def test_redis_killed_and_restarted(
    tmp_path: Path, private_redis: PrivateRedis, upstreams: tuple[FakeUpstream, FakeUpstream]
) -> None:
    if 60 - time.time() % 60 < 15:  # keep the `tight` limit's checks inside one minute window
        time.sleep(60 - time.time() % 60 + 0.2)
    closed_switch = _deployment(tmp_path, "a", private_redis, upstreams)  # defaults: switch closed, limits open
    closed_limits = _deployment(
        tmp_path, "b", private_redis, upstreams, kill_switch_when_unreachable="open", limits_when_unreachable="closed"
    )
    open_all = _deployment(
        tmp_path, "c", private_redis, upstreams, kill_switch_when_unreachable="open", limits_when_unreachable="open"
    )
    gateways = (closed_switch, closed_limits, open_all)
    outcomes: dict[str, list[Outcome]] = {"a": [], "b": [], "c": []}

    def send(d: Deployment, tenant: str, model: str = "m") -> Outcome:
        with d.client(tenant) as client:
            outcome = chat(client, model)
        outcomes[d.path.stem].append(outcome)
        return outcome

    try:
        # Healthy: served, and the tight limit holds.
        for d in gateways:
            d.wait_readyz(200, 5)
            assert send(d, "limited").status == 200
        assert [send(open_all, "tight").status for _ in range(4)] == [200, 200, 200, 429]
        assert send(open_all, "free", "flaky").status == 200

        with Traffic(closed_switch, "free", threads=2) as traffic:
            traffic.wait_for(lambda o: o.status == 200, 6, 10, "served before the crash")
            private_redis.kill()
            # Kill switch unreadable and failing closed: every backend counts as disabled.
            traffic.wait_for(lambda o: o.code == "backends_disabled", 4, 10, "503 backends_disabled")
            assert "kill_switch" in closed_switch.readyz()[1]["problems"]
            # A kill switch set to fail open keeps serving on its last view, so it stays ready.
            assert open_all.readyz()[0] == 200, open_all.readyz()
            # Limits failing closed refuse tenants that have limits, and only those.
            assert send(closed_limits, "limited").code == "limits_unavailable"
            assert send(closed_limits, "free").status == 200
            # Limits failing open serve (the tight limit is not enforced without Redis) ...
            assert [send(open_all, "tight").status for _ in range(3)] == [200, 200, 200]
            # ... and breakers are best effort: failover still serves, the failure count is simply lost.
            assert send(open_all, "free", "flaky").status == 200
            streamed = stream(open_all.url, open_all.keys["limited"])
            outcomes["c"].append(streamed)
            assert streamed.completed, streamed
            time.sleep(0.3)
            private_redis.start()
            # Recovery, with no restart of any gateway.
            traffic.wait_for(lambda o: o.status == 200, 6, 15, "served after Redis came back")
        for d in gateways:
            d.wait_readyz(200, 10)
        _until("limits enforced again", 10, lambda: send(closed_limits, "limited"), lambda o: o.status == 200)
        statuses = [send(open_all, "tight").status for _ in range(4)]
        assert statuses == [200, 200, 200, 429], statuses  # Redis came back empty: a fresh window
    finally:
        for d in gateways:
            d.stop()
    seen = check_invariants(closed_switch, traffic.outcomes)
    assert {code for _k, _s, code in seen} <= {None, "backends_disabled"}, seen
    check_invariants(closed_limits, outcomes["b"])
    check_invariants(open_all, outcomes["c"])
