"""PostgreSQL crashes (`pg_ctl stop -m immediate`) under concurrent traffic and comes back on the same
port: while it is down every request is refused 503 audit_unavailable (never served unrecorded) and
/readyz says why; once it is back the gateway recovers by itself, and the chain verifies."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness import Deployment, Traffic, check_invariants
from tests.support.gateway import backend, rules
from tests.support.services import PrivatePostgres
from tests.support.upstream import FakeUpstream

pytestmark = pytest.mark.postgres


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    up = FakeUpstream("pg-faults").start()
    yield up
    up.stop()


def test_postgres_crash_mid_traffic(
    tmp_path: Path, private_pg: PrivatePostgres, pg_database: str, upstream: FakeUpstream
) -> None:
    raw = {
        "gateway": {
            "storage": "postgresql",
            "storage_env": "ONSHORE_DATABASE_URL",
            "audit": {"checkpoint_interval_seconds": 0.5},
        },
        "backends": {"b1": backend(upstream.base_url)},
        "models": {"m": {"routes": [{"backend": "b1", "model": "x"}]}},
        "tenants": {"acme": rules(["JP"])},
    }
    deployment = Deployment.write(tmp_path / "gw", raw, {"ONSHORE_DATABASE_URL": pg_database}).start("acme")
    try:
        with Traffic(deployment, "acme", threads=3) as traffic:
            traffic.wait_for(lambda o: o.status == 200, 10, 20, "served requests")
            private_pg.stop("immediate")
            down = time.monotonic()
            traffic.wait_for(lambda o: o.code == "audit_unavailable", 5, 20, "503 audit_unavailable")
            status, body = deployment.readyz()
            assert status == 503 and "audit" in body["problems"], body
            time.sleep(0.5)
            up = time.monotonic()
            private_pg.start()
            traffic.wait_for(lambda o: o.status == 200 and o.started > up, 10, 30, "served after restart")
            deployment.wait_readyz(200, 10)
        # Nothing that started after the crash and ended before the restart was served.
        served_while_down = [o for o in traffic.outcomes if o.status == 200 and o.started > down and o.ended < up]
        assert not served_while_down, served_while_down[:3]
    finally:
        deployment.stop()
    seen = check_invariants(deployment, traffic.outcomes)
    statuses = {status for _kind, status, _code in seen}
    assert statuses <= {200, 503}, seen
    assert all(code in (None, "audit_unavailable") for _kind, _status, code in seen), seen
    assert seen[("chat", 200, None)] and seen[("stream", 200, None)] and seen[("chat", 503, "audit_unavailable")], seen
