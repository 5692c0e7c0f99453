"""Stored Responses turns in SQLite: their own file under the data directory (responses.db), so their
writes never queue behind the audit chain's, and a deployment can back the two up on different terms.

Rows hold the id, the owner, the times and the sealed turn (AES-GCM ciphertext, made by the service):
nothing in this file is the conversation in the clear. `secure_delete` overwrites what a delete frees,
so a deleted or purged turn does not linger in free pages either.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from onshore.store.responses_worker import WorkerResponses
from onshore.worker import Worker

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stored_responses (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    owner TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    sealed BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS stored_responses_expiry ON stored_responses (expires_at);
"""
_OWNED = "id = ? AND tenant = ? AND owner = ?"


class SqliteResponses(WorkerResponses):
    """One connection, used only on the store's worker thread (every call goes through it)."""

    def __init__(self, path: Path, durability: str = "normal") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        self._conn.execute("PRAGMA secure_delete=ON")
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self.worker = Worker("onshore-responses")

    def _close_connection(self) -> None:
        with self._lock:
            self._conn.close()

    def _put(self, row: tuple[str, str, str, float, float, bytes]) -> None:
        with self._lock:
            self._conn.execute("INSERT INTO stored_responses VALUES (?, ?, ?, ?, ?, ?)", row)

    def _get(self, response_id: str, tenant: str, owner: str, now: float) -> tuple[bytes, float] | None:
        with self._lock:
            self._conn.execute("DELETE FROM stored_responses WHERE id = ? AND expires_at <= ?", (response_id, now))
            row = self._conn.execute(
                f"SELECT sealed, expires_at FROM stored_responses WHERE {_OWNED}",  # noqa: S608 - a constant
                (response_id, tenant, owner),
            ).fetchone()
        return None if row is None else (bytes(row[0]), float(row[1]))

    def _delete(self, response_id: str, tenant: str, owner: str, now: float) -> bool:
        with self._lock:
            self._conn.execute("DELETE FROM stored_responses WHERE id = ? AND expires_at <= ?", (response_id, now))
            cursor = self._conn.execute(
                f"DELETE FROM stored_responses WHERE {_OWNED}",  # noqa: S608 - a constant
                (response_id, tenant, owner),
            )
        return cursor.rowcount == 1

    def _purge(self, now: float) -> int:
        with self._lock:
            return self._conn.execute("DELETE FROM stored_responses WHERE expires_at <= ?", (now,)).rowcount
