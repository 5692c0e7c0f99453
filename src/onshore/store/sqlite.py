"""SQLite store: API keys, the audit chain and its checkpoints, in one file under the data directory.

WAL mode lets readers (key refresh, `audit verify`) run while the gateway writes. Durability is a
setting: "normal" survives a crash of the gateway process, "full" also a power loss (fsync per commit).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from onshore.identify.keys import KeyRecord, key_row
from onshore.prove.chain import GENESIS_HASH, ChainedRecord, ChainHead, Checkpoint, link
from onshore.store.wal_checkpoint import WAL_SIZE_LIMIT, WalCheckpointer
from onshore.worker import Worker

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    tenant TEXT NOT NULL,
    floor TEXT NOT NULL,
    models TEXT,
    created_at REAL NOT NULL,
    revoked_at REAL,
    hash TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS audit_records (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    ts REAL NOT NULL,
    body BLOB NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_records_ts ON audit_records (ts);
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    seq INTEGER PRIMARY KEY,
    hash TEXT NOT NULL,
    ts REAL NOT NULL,
    kid TEXT NOT NULL,
    signature TEXT NOT NULL
);
INSERT OR IGNORE INTO meta (name, value) VALUES ('keys_revision', '0');
"""


class StoreError(Exception):
    pass


def _connect(path: Path, durability: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class SqliteStore:
    """Each connection is used by one thread at a time: `_write` by the audit writer, `_read` by the
    caller, guarded by a lock. Blocking calls from the event loop go through `worker`, which close()
    drains before the connections are closed: nothing runs inside a connection while it is freed."""

    def __init__(self, path: Path, durability: str = "normal") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._write = _connect(path, durability)
        self._read = _connect(path, durability)
        self._lock = threading.Lock()
        self.worker = Worker("onshore-sqlite")
        version = self._write.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"database {path} has schema version {version}, newer than this gateway understands "
                f"({SCHEMA_VERSION}); upgrade Onshore"
            )
        self._write.executescript(_SCHEMA)
        self._write.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        # The audit writer commits on the event loop: its commits never checkpoint (two fsyncs), a
        # thread of the store's own does (store/wal_checkpoint.py).
        self._write.execute("PRAGMA wal_autocheckpoint=0")
        self._write.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        self.wal = WalCheckpointer(lambda: _connect(path, durability), path)

    def close(self) -> None:
        self.worker.close()
        self.wal.close()
        with self._lock:
            self._write.close()
            self._read.close()

    async def aclose(self) -> None:
        await self.worker.aclose()
        self.close()

    # --- keys (identify) ---------------------------------------------------------------------
    def add_key(self, record: KeyRecord) -> None:
        with self._lock:
            self._read.execute("BEGIN IMMEDIATE")
            try:
                self._read.execute(
                    "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    key_row(record),
                )
                self._bump_keys_revision()
                self._read.execute("COMMIT")
            except BaseException:
                self._read.execute("ROLLBACK")
                raise

    def revoke_key(self, key_id: str, now: float) -> bool:
        with self._lock:
            self._read.execute("BEGIN IMMEDIATE")
            try:
                cur = self._read.execute(
                    "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", (now, key_id)
                )
                self._bump_keys_revision()
                self._read.execute("COMMIT")
            except BaseException:
                self._read.execute("ROLLBACK")
                raise
        return cur.rowcount == 1

    def _bump_keys_revision(self) -> None:
        self._read.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'keys_revision'")

    def keys_revision(self) -> int:
        with self._lock:
            row = self._read.execute("SELECT value FROM meta WHERE name = 'keys_revision'").fetchone()
        return int(row[0])

    def list_keys(self) -> list[KeyRecord]:
        with self._lock:
            rows = self._read.execute(
                "SELECT key_id, name, tenant, floor, models, created_at, revoked_at, hash "
                "FROM api_keys ORDER BY created_at"
            ).fetchall()
        return [
            KeyRecord(r[0], r[1], r[2], r[3], None if r[4] is None else tuple(json.loads(r[4])), r[5], r[6], r[7])
            for r in rows
        ]

    # --- audit (prove) -----------------------------------------------------------------------
    def audit_head(self) -> ChainHead:
        row = self._write.execute("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").fetchone()
        return ChainHead(0, GENESIS_HASH) if row is None else ChainHead(int(row[0]), str(row[1]))

    def append_entries(self, entries: list[dict[str, Any]]) -> list[ChainedRecord]:
        conn = self._write
        with self.wal.lock:
            conn.execute("BEGIN IMMEDIATE")  # the write lock: the head cannot move under us
            try:
                row = conn.execute("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").fetchone()
                head = ChainHead(0, GENESIS_HASH) if row is None else ChainHead(int(row[0]), str(row[1]))
                records, _ = link(entries, head)
                conn.executemany(
                    "INSERT INTO audit_records (seq, id, ts, body, hash) VALUES (?, ?, ?, ?, ?)",
                    [(r.seq, r.id, r.ts, r.body, r.hash) for r in records],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self.wal.committed()
        return records

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._write.execute(
            "INSERT OR REPLACE INTO audit_checkpoints VALUES (?, ?, ?, ?, ?)",
            (checkpoint.seq, checkpoint.hash, checkpoint.ts, checkpoint.kid, checkpoint.signature),
        )
        self.wal.committed()

    def last_checkpoint_seq(self) -> int:
        row = self._write.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints").fetchone()
        return int(row[0])

    def iter_records(
        self, since: float | None = None, until: float | None = None, *, newest_first: bool = False
    ) -> Iterator[ChainedRecord]:
        query = "SELECT seq, id, ts, body, hash FROM audit_records"
        clauses, args = [], []
        if since is not None:
            clauses.append("ts >= ?")
            args.append(since)
        if until is not None:
            clauses.append("ts < ?")
            args.append(until)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        cursor = self._read.execute(query + (" ORDER BY seq DESC" if newest_first else " ORDER BY seq"), args)
        for seq, rid, ts, body, digest in cursor:
            # A row edited by hand may hold TEXT where the gateway wrote a BLOB: verify it as bytes anyway.
            raw = body if isinstance(body, bytes) else str(body).encode("utf-8")
            yield ChainedRecord(int(seq), str(rid), float(ts), raw, str(digest))

    def checkpoints(self) -> list[Checkpoint]:
        rows = self._read.execute("SELECT seq, hash, ts, kid, signature FROM audit_checkpoints ORDER BY seq").fetchall()
        return [Checkpoint(int(r[0]), str(r[1]), float(r[2]), str(r[3]), str(r[4])) for r in rows]

    def ping(self) -> None:
        self._read.execute("SELECT 1").fetchone()

    def probe_write(self, now: float) -> None:
        """Commit one small write outside the chain: raises while the database cannot take writes
        (disk full, read-only), so readiness can turn green again without waiting for a request."""
        with self._lock:
            self._read.execute(
                "INSERT INTO meta (name, value) VALUES ('write_probe', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (repr(now),),
            )
