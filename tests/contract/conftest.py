"""Fixtures shared by the contract suites: a PostgreSQL database and schemas for the store tests.

PostgreSQL tests run in a database created per test module (`onshore_test_<random>`, dropped at
the end), each test in a fresh schema selected through the DSN's `options=-csearch_path=...`. Set
ONSHORE_TEST_PG_DSN to point them elsewhere; without a reachable server they are skipped (and fail
under CI, where .ci/run starts PostgreSQL).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from onshore.store import postgres

ADMIN_DSN = os.environ.get("ONSHORE_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL is not reachable at {ADMIN_DSN!r}: {exc}")
    name = f"onshore_test_{secrets.token_hex(4)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(ADMIN_DSN, dbname=name)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def pg_schema(pg_database: str) -> Iterator[str]:
    """A DSN whose search_path is a fresh, empty schema (not yet migrated)."""
    schema = f"t_{secrets.token_hex(4)}"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield make_conninfo(pg_database, options=f"-csearch_path={schema}")
    finally:
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def pg_dsn(pg_schema: str) -> str:
    """A migrated schema."""
    assert postgres.upgrade(pg_schema) == postgres.REQUIRED_REVISION
    return pg_schema
