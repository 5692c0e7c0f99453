"""Stored Responses turns in the shared PostgreSQL database (table stored_responses, migration 0003),
so every replica finds a turn another one kept. The same semantics as SqliteResponses.

Every replica must hold the same responses key (gateway.responses.key_env): a turn sealed under another
key cannot be opened, and is answered as not found (and logged) rather than decrypted wrongly.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from onshore.store.responses_worker import WorkerResponses
from onshore.store.sqlite import StoreError
from onshore.worker import Worker

_Connection = psycopg.Connection[tuple[Any, ...]]
_OWNED = "id = %s AND tenant = %s AND owner = %s"


class PostgresResponses(WorkerResponses):
    """One connection, used on the store's worker thread; reopened on its next use if it broke."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn = self._connect()
        row = self._conn.execute("SELECT to_regclass('stored_responses') IS NOT NULL").fetchone()
        if row is None or not row[0]:
            self._conn.close()
            raise StoreError("the PostgreSQL schema has no stored_responses table; run `onshore db upgrade`")
        self._lock = threading.Lock()
        self.worker = Worker("onshore-responses")

    def _connect(self) -> _Connection:
        conn = psycopg.connect(self._dsn, autocommit=True)
        conn.execute("SET lock_timeout = '10s'")
        return conn

    def _connection(self) -> _Connection:  # call with self._lock held
        if self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def _close_connection(self) -> None:
        with self._lock:
            self._conn.close()

    def _put(self, row: tuple[str, str, str, float, float, bytes]) -> None:
        with self._lock:
            self._connection().execute(
                "INSERT INTO stored_responses (id, tenant, owner, created_at, expires_at, sealed) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                row,
            )

    def _get(self, response_id: str, tenant: str, owner: str, now: float) -> tuple[bytes, float] | None:
        with self._lock:
            conn = self._connection()
            conn.execute("DELETE FROM stored_responses WHERE id = %s AND expires_at <= %s", (response_id, now))
            row = conn.execute(
                f"SELECT sealed, expires_at FROM stored_responses WHERE {_OWNED}",  # noqa: S608 - a constant
                (response_id, tenant, owner),
            ).fetchone()
        return None if row is None else (bytes(row[0]), float(row[1]))

    def _delete(self, response_id: str, tenant: str, owner: str, now: float) -> bool:
        with self._lock:
            conn = self._connection()
            conn.execute("DELETE FROM stored_responses WHERE id = %s AND expires_at <= %s", (response_id, now))
            cursor = conn.execute(
                f"DELETE FROM stored_responses WHERE {_OWNED}",  # noqa: S608 - a constant
                (response_id, tenant, owner),
            )
        return cursor.rowcount == 1

    def _purge(self, now: float) -> int:
        with self._lock:
            return self._connection().execute("DELETE FROM stored_responses WHERE expires_at <= %s", (now,)).rowcount
