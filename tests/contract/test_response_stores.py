"""Every ResponseStore (SQLite, PostgreSQL, memory) keeps Responses turns with the same semantics: found
by id and owner only, never after expiry, deleted once, purged when expired."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from onshore.service.ports import ResponseStore
from onshore.store import postgres
from onshore.store.memory import MemoryResponses
from onshore.store.responses_postgres import PostgresResponses
from onshore.store.responses_sqlite import SqliteResponses
from onshore.store.sqlite import StoreError

T0 = 1_800_000_000.0
SEALED = b"\x01sealed bytes, opaque to the store"


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ResponseStore]:
    made: ResponseStore
    if request.param == "sqlite":
        made = SqliteResponses(tmp_path / "responses.db")
    elif request.param == "postgres":
        made = PostgresResponses(request.getfixturevalue("pg_dsn"))
    else:
        made = MemoryResponses()
    yield made
    asyncio.run(made.aclose())


def test_every_store_is_a_response_store(store: ResponseStore) -> None:
    assert isinstance(store, ResponseStore)


def test_found_only_by_its_owner(store: ResponseStore) -> None:
    async def scenario() -> None:
        await store.put("resp_1", "acme", "key-a", T0, T0 + 60, SEALED)
        assert await store.get("resp_1", "acme", "key-a", T0 + 1) == (SEALED, T0 + 60)
        assert await store.get("resp_1", "acme", "key-b", T0 + 1) is None  # another principal
        assert await store.get("resp_1", "globex", "key-a", T0 + 1) is None  # the same id elsewhere
        assert await store.get("resp_2", "acme", "key-a", T0 + 1) is None
        assert not await store.delete("resp_1", "acme", "key-b", T0 + 1)  # nor deleted by them
        assert await store.get("resp_1", "acme", "key-a", T0 + 1) == (SEALED, T0 + 60)

    asyncio.run(scenario())


def test_expired_turns_are_unreadable_and_deleted_when_met(store: ResponseStore) -> None:
    async def scenario() -> None:
        await store.put("resp_1", "acme", "key-a", T0, T0 + 60, SEALED)
        assert await store.get("resp_1", "acme", "key-a", T0 + 60) is None  # expiry is exclusive
        assert await store.purge(T0 + 3600) == 0  # already gone: the read deleted it
        assert not await store.delete("resp_1", "acme", "key-a", T0 + 1)

    asyncio.run(scenario())


def test_delete_once(store: ResponseStore) -> None:
    async def scenario() -> None:
        await store.put("resp_1", "acme", "key-a", T0, T0 + 60, SEALED)
        assert await store.delete("resp_1", "acme", "key-a", T0 + 1)
        assert not await store.delete("resp_1", "acme", "key-a", T0 + 1)
        assert await store.get("resp_1", "acme", "key-a", T0 + 1) is None

    asyncio.run(scenario())


def test_purge_deletes_only_the_expired(store: ResponseStore) -> None:
    async def scenario() -> None:
        await store.put("resp_old", "acme", "key-a", T0, T0 + 10, SEALED)
        await store.put("resp_older", "globex", "key-c", T0, T0 + 5, SEALED)
        await store.put("resp_new", "acme", "key-a", T0, T0 + 100, SEALED)
        assert await store.purge(T0 + 50) == 2
        assert await store.get("resp_new", "acme", "key-a", T0 + 50) == (SEALED, T0 + 100)
        assert await store.purge(T0 + 50) == 0

    asyncio.run(scenario())


def test_an_id_is_stored_once(store: ResponseStore) -> None:
    async def scenario() -> None:
        await store.put("resp_1", "acme", "key-a", T0, T0 + 60, SEALED)
        with pytest.raises(Exception):  # noqa: B017 - each store raises its own integrity error
            await store.put("resp_1", "acme", "key-b", T0, T0 + 60, b"other")
        assert await store.get("resp_1", "acme", "key-a", T0 + 1) == (SEALED, T0 + 60)

    asyncio.run(scenario())


def test_postgres_needs_the_migration(pg_schema: str) -> None:
    assert postgres.upgrade(pg_schema, "0002") == "0002"
    with pytest.raises(StoreError, match="onshore db upgrade"):
        PostgresResponses(pg_schema)
    assert postgres.upgrade(pg_schema) == postgres.REQUIRED_REVISION == "0003"
    store = PostgresResponses(pg_schema)
    asyncio.run(store.aclose())


def test_postgres_reconnects_after_its_connection_is_killed(pg_dsn: str) -> None:
    store = PostgresResponses(pg_dsn)

    async def scenario() -> None:
        await store.put("resp_1", "acme", "key-a", T0, T0 + 60, SEALED)
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        with pytest.raises(psycopg.OperationalError):
            await store.get("resp_1", "acme", "key-a", T0 + 1)  # the broken call fails
        assert await store.get("resp_1", "acme", "key-a", T0 + 1) == (SEALED, T0 + 60)  # the next reconnects

    try:
        asyncio.run(scenario())
    finally:
        asyncio.run(store.aclose())
