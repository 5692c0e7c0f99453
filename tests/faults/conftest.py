"""Private PostgreSQL and Redis for the fault suite (session-scoped, always torn down), never the
machine's own: these get stopped, crashed and restarted on purpose."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.support.services import PrivatePostgres, PrivateRedis, ServiceUnavailable


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "root_mount: needs root and mount(8) (tmpfs) on this machine")


@pytest.fixture(scope="session")
def private_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePostgres]:
    try:
        pg = PrivatePostgres(tmp_path_factory.mktemp("private-pg"))
    except ServiceUnavailable as exc:
        pytest.skip(f"no private PostgreSQL: {exc}")
    try:
        pg.init().start()
        yield pg
    finally:
        pg.close()


@pytest.fixture
def pg_database(private_pg: PrivatePostgres) -> Iterator[str]:
    """A fresh database on the private cluster, at the schema the gateway needs (`onshore db upgrade`)."""
    import psycopg

    from onshore.store.postgres import upgrade

    if not private_pg.running():
        private_pg.start()  # a previous test failed while it was stopped
    name = f"faults_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(private_pg.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = private_pg.dsn.rsplit("/", 1)[0] + "/" + name
    upgrade(dsn)
    yield dsn
    if private_pg.running():
        with psycopg.connect(private_pg.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    try:
        server = PrivateRedis(tmp_path_factory.mktemp("private-redis"))
    except ServiceUnavailable as exc:
        pytest.skip(f"no private Redis: {exc}")
    try:
        server.start()
        yield server
    finally:
        server.close()


def can_mount() -> bool:
    return os.geteuid() == 0 and os.path.exists("/bin/mount")
