"""Every implementation is an instance of each port it is used as, structurally.

The annotated assignments are what mypy checks (method signatures, async or not, properties); the
isinstance checks (runtime_checkable) hold the same at run time for the names. The behaviour behind the
ports is the other contract suites' job (test_stores.py, test_redis_controls.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from onshore.app import Store
from onshore.edge.ports import KillSwitch, SwitchView
from onshore.identify.ports import KeyStore
from onshore.prove.ports import AuditStore
from onshore.route.ports import BreakerStore
from onshore.service.ports import Counters
from onshore.store.memory import MemoryControls, MemoryStore
from onshore.store.postgres import PostgresStore
from onshore.store.redis_controls import BackendSwitchWatcher, RedisControls
from onshore.store.sqlite import SqliteStore


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "onshore.db")
    yield store
    store.close()


@pytest.fixture
def postgres(pg_dsn: str) -> Iterator[PostgresStore]:
    store = PostgresStore(pg_dsn)
    yield store
    store.close()


@pytest.fixture
def memory() -> Iterator[MemoryStore]:
    store = MemoryStore()
    yield store
    store.close()


def test_stores_implement_key_store_audit_store_and_store(
    sqlite: SqliteStore, postgres: PostgresStore, memory: MemoryStore
) -> None:
    key_stores: list[KeyStore] = [sqlite, postgres, memory]
    audit_stores: list[AuditStore] = [sqlite, postgres, memory]
    stores: list[Store] = [sqlite, postgres, memory]
    for store in key_stores:
        assert isinstance(store, KeyStore)
    for audit in audit_stores:
        assert isinstance(audit, AuditStore)
    for full in stores:
        assert isinstance(full, Store)
    assert not isinstance(MemoryControls(), KeyStore | AuditStore)  # the checks can fail


def test_controls_implement_counters_breaker_store_and_kill_switch() -> None:
    async def build() -> None:
        redis = RedisControls("redis://127.0.0.1:1/0")  # never connects: only its shape is checked
        memory = MemoryControls()
        counters: list[Counters] = [redis, memory]
        breakers: list[BreakerStore] = [redis, memory]
        switches: list[KillSwitch] = [redis, memory]
        for c in counters:
            assert isinstance(c, Counters)
        for b in breakers:
            assert isinstance(b, BreakerStore)
        for s in switches:
            assert isinstance(s, KillSwitch)
        store = MemoryStore()
        assert not isinstance(store, Counters | BreakerStore | KillSwitch)  # the checks can fail
        store.close()
        await redis.aclose()

    asyncio.run(build())


def test_switch_views() -> None:
    async def build() -> None:
        redis = RedisControls("redis://127.0.0.1:1/0")
        views: list[SwitchView] = [BackendSwitchWatcher(redis), MemoryControls()]
        for view in views:
            assert isinstance(view, SwitchView)
        assert not isinstance(redis, SwitchView)  # Redis is read through its watcher
        await redis.aclose()

    asyncio.run(build())
