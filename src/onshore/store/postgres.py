"""PostgreSQL store: API keys, the audit chain and its checkpoints, shared by several gateway replicas.

Same methods and semantics as SqliteStore, so either satisfies the AuditStore port and the key refresh.

One chain, serialised in the database. Every replica appends to the same chain rather than keeping a
chain of its own: verification stays what it is for SQLite (one sequence, one head, one set of
checkpoints) and no merge of per-replica chains is ever needed. `append_entries` runs one transaction
that locks the one-row `audit_head` table (`SELECT ... FOR UPDATE`), links the batch after that head,
inserts the records and moves the head. A concurrent append waits on the row lock, then sees the new
head: no forks, no gaps. The lock is held only for the insert (a few round trips; linking a batch is
microseconds of hashing), so batching (AuditWriter's group commit) is what makes replicas scale. A
process that dies mid-append leaves nothing: the server rolls its transaction back when the connection
drops. A row lock on a table in the store's own schema, unlike a database-wide advisory lock key, cannot
collide with another application or another Onshore schema in the same database. `seq` is also the
primary key, so even a bypassed lock could not store two records at one position.

Migrations: alembic (pinned in requirements/runtime.in). It is the maintained standard for Python
projects on PostgreSQL (releases every few months; yoyo-migrations, the SQL-file alternative, last
released in 2024), its only dependencies are SQLAlchemy and Mako (no ORM models are needed: revisions
are raw SQL through `op.execute`), it records the revision in the database, runs the whole upgrade in
one transaction, and offers downgrades and offline `--sql` scripts for DBAs who apply DDL themselves.
The revisions are Python modules in onshore.store.migrations, so they ship inside the installed
package. The gateway never migrates on start: `PostgresStore` refuses a schema that is absent or behind
REQUIRED_REVISION, and `upgrade()` (behind `onshore db upgrade`) applies the pending revisions, under
an advisory lock so that concurrent upgrades apply each revision once.

Connections: `_write` is used by the audit writer thread only, `_read` by the caller (event loop or CLI)
under a lock, as in SqliteStore. A connection that breaks (server restart, failover, terminated backend)
is replaced on its next use; the failed call raises, which fails that batch's requests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from onshore.identify.keys import KeyRecord, key_row
from onshore.prove.chain import ChainedRecord, ChainHead, Checkpoint, link
from onshore.store.sqlite import StoreError
from onshore.worker import Worker

REQUIRED_REVISION = "0003"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_PAGE = 5000  # records fetched per round trip by iter_records

# A replica that stops mid-append (SIGSTOP, a network partition) must not hold the chain lock forever:
# the server ends such a transaction, and a writer gives up waiting for the lock (its batch fails; the
# next one retries). Both are far above what a healthy append takes.
_SESSION_SETTINGS = (
    "SET lock_timeout = '10s'",
    "SET idle_in_transaction_session_timeout = '30s'",
)

_Connection = psycopg.Connection[tuple[Any, ...]]

# alembic keeps its running environment in module globals: one upgrade at a time per process (other
# processes are kept apart by the advisory lock in migrations/env.py).
_UPGRADE_LOCK = threading.Lock()


def _alembic_config(dsn: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.attributes["dsn"] = dsn
    return config


def _revision_of(conn: _Connection) -> str | None:
    row = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return None
    rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    if len(rows) != 1:
        return None if not rows else ",".join(sorted(str(r[0]) for r in rows))
    return str(rows[0][0])


def current_revision(dsn: str) -> str | None:
    """The schema revision the database is at, or None if it has never been migrated."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return _revision_of(conn)


def upgrade(dsn: str, revision: str = "head") -> str:
    """Apply the pending migrations (up to `revision`, normally all of them); return the new revision."""
    from alembic import command

    with _UPGRADE_LOCK:
        command.upgrade(_alembic_config(dsn), revision)
    current = current_revision(dsn)
    if current is None:
        raise StoreError("migration finished but the database records no schema revision")
    return current


def known_revisions() -> list[str]:
    """Every revision this version of Onshore ships, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config(""))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _check_schema(conn: _Connection, dsn_hint: str) -> None:
    revision = _revision_of(conn)
    if revision == REQUIRED_REVISION:
        return
    if revision is None:
        raise StoreError(
            f"PostgreSQL database {dsn_hint} has no Onshore schema; run `onshore db upgrade` "
            f"(brings it to revision {REQUIRED_REVISION})"
        )
    if revision in known_revisions():
        raise StoreError(
            f"PostgreSQL database {dsn_hint} is at schema revision {revision}, behind the "
            f"{REQUIRED_REVISION} this gateway needs; run `onshore db upgrade`"
        )
    raise StoreError(
        f"PostgreSQL database {dsn_hint} is at schema revision {revision}, which this gateway does not "
        f"know (it needs {REQUIRED_REVISION}): the database is newer; upgrade Onshore"
    )


def _connect(dsn: str) -> _Connection:
    conn = psycopg.connect(dsn, autocommit=True)
    for statement in _SESSION_SETTINGS:
        conn.execute(statement)
    return conn


def _usable(conn: _Connection) -> bool:
    """Between calls an autocommit connection is idle. psycopg closes a connection whose break it
    noticed, but one that failed while sending (a terminated backend whose goodbye was not read yet)
    can stay open and ACTIVE: every later command would fail with "another command is already in
    progress". Either way it is replaced, so one broken connection fails one batch, not all that follow."""
    return not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


class PostgresStore:
    """Each connection is used by one thread at a time: `_write` by the audit writer, `_read` by the
    caller, guarded by a lock. Blocking calls from the event loop go through `worker`, which close()
    drains before the connections are closed: nothing runs inside a connection while it is freed."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._write = _connect(dsn)
        try:
            info = self._write.info
            hint = f"{info.dbname} on {info.host}:{info.port}"
            _check_schema(self._write, hint)
            self._read = _connect(dsn)
        except BaseException:
            self._write.close()
            raise
        self._lock = threading.Lock()
        self.worker = Worker("onshore-postgres")

    def close(self) -> None:
        self.worker.close()
        with self._lock:
            self._write.close()
            self._read.close()

    async def aclose(self) -> None:
        await self.worker.aclose()
        self.close()

    def _writer(self) -> _Connection:
        if not _usable(self._write):
            self._write.close()
            self._write = _connect(self._dsn)
        return self._write

    def _reader(self) -> _Connection:  # call with self._lock held
        if not _usable(self._read):
            self._read.close()
            self._read = _connect(self._dsn)
        return self._read

    # --- keys (identify) ---------------------------------------------------------------------
    def add_key(self, record: KeyRecord) -> None:
        with self._lock:
            conn = self._reader()
            with conn.transaction():
                conn.execute(
                    "INSERT INTO api_keys (key_id, name, tenant, floor, models, created_at, revoked_at, hash) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    key_row(record),
                )
                self._bump_keys_revision(conn)

    def revoke_key(self, key_id: str, now: float) -> bool:
        with self._lock:
            conn = self._reader()
            with conn.transaction():
                cur = conn.execute(
                    "UPDATE api_keys SET revoked_at = %s WHERE key_id = %s AND revoked_at IS NULL", (now, key_id)
                )
                self._bump_keys_revision(conn)
        return cur.rowcount == 1

    @staticmethod
    def _bump_keys_revision(conn: _Connection) -> None:
        conn.execute("UPDATE meta SET value = (value::bigint + 1)::text WHERE name = 'keys_revision'")

    def keys_revision(self) -> int:
        with self._lock:
            row = self._reader().execute("SELECT value FROM meta WHERE name = 'keys_revision'").fetchone()
        if row is None:
            raise StoreError("meta row keys_revision is missing")
        return int(row[0])

    def list_keys(self) -> list[KeyRecord]:
        with self._lock:
            rows = (
                self._reader()
                .execute(
                    "SELECT key_id, name, tenant, floor, models, created_at, revoked_at, hash "
                    "FROM api_keys ORDER BY created_at, key_id"
                )
                .fetchall()
            )
        return [
            KeyRecord(r[0], r[1], r[2], r[3], None if r[4] is None else tuple(json.loads(r[4])), r[5], r[6], r[7])
            for r in rows
        ]

    # --- audit (prove) -----------------------------------------------------------------------
    def audit_head(self) -> ChainHead:
        row = self._writer().execute("SELECT seq, hash FROM audit_head").fetchone()
        if row is None:
            raise StoreError("the audit_head row is missing: the schema was altered by hand")
        return ChainHead(int(row[0]), str(row[1]))

    def append_entries(self, entries: list[dict[str, Any]]) -> list[ChainedRecord]:
        conn = self._writer()
        with conn.transaction():
            # The chain lock: every replica's appends queue here, so the head cannot move under us.
            row = conn.execute("SELECT seq, hash FROM audit_head FOR UPDATE").fetchone()
            if row is None:
                raise StoreError("the audit_head row is missing: the schema was altered by hand")
            records, head = link(entries, ChainHead(int(row[0]), str(row[1])))
            if not records:
                return records
            with conn.cursor().copy("COPY audit_records (seq, id, ts, body, hash) FROM STDIN") as copy:
                for r in records:
                    copy.write_row((r.seq, r.id, r.ts, r.body, r.hash))
            conn.execute("UPDATE audit_head SET seq = %s, hash = %s", (head.seq, head.hash))
        return records

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._writer().execute(
            "INSERT INTO audit_checkpoints (seq, hash, ts, kid, signature) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (seq) DO UPDATE SET hash = EXCLUDED.hash, ts = EXCLUDED.ts, kid = EXCLUDED.kid, "
            "signature = EXCLUDED.signature",
            (checkpoint.seq, checkpoint.hash, checkpoint.ts, checkpoint.kid, checkpoint.signature),
        )

    def last_checkpoint_seq(self) -> int:
        row = self._writer().execute("SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints").fetchone()
        return 0 if row is None else int(row[0])

    def iter_records(
        self, since: float | None = None, until: float | None = None, *, newest_first: bool = False
    ) -> Iterator[ChainedRecord]:
        """Records in seq order (or newest first), fetched a page at a time (keyset on seq), the read
        lock held per page only: a long export or verification never blocks key refreshes, and
        abandoning the iterator leaves nothing open. Records appended meanwhile may be included in
        seq order (never newest first: that starts from the newest at the call); the chain is append-only."""
        clauses, args = ["seq < %s" if newest_first else "seq > %s"], []
        if since is not None:
            clauses.append("ts >= %s")
            args.append(since)
        if until is not None:
            clauses.append("ts < %s")
            args.append(until)
        query = (
            "SELECT seq, id, ts, body, hash FROM audit_records WHERE "  # noqa: S608 - fixed clauses only
            + " AND ".join(clauses)
            + f" ORDER BY seq {'DESC' if newest_first else 'ASC'} LIMIT {_PAGE}"
        )
        after = 2**63 - 1 if newest_first else 0
        while True:
            with self._lock:
                rows = self._reader().execute(query, [after, *args]).fetchall()
            for seq, rid, ts, body, digest in rows:
                # A row edited by hand may hold something other than bytea: verify it as bytes anyway.
                raw = bytes(body) if isinstance(body, bytes | bytearray | memoryview) else str(body).encode("utf-8")
                yield ChainedRecord(int(seq), str(rid), float(ts), raw, str(digest))
            if len(rows) < _PAGE:
                return
            after = int(rows[-1][0])

    def checkpoints(self) -> list[Checkpoint]:
        with self._lock:
            rows = (
                self._reader()
                .execute("SELECT seq, hash, ts, kid, signature FROM audit_checkpoints ORDER BY seq")
                .fetchall()
            )
        return [Checkpoint(int(r[0]), str(r[1]), float(r[2]), str(r[3]), str(r[4])) for r in rows]

    def ping(self) -> None:
        with self._lock:
            self._reader().execute("SELECT 1").fetchone()

    def probe_write(self, now: float) -> None:
        """Commit one small write outside the chain, on the audit writer's connection (reopened if it
        broke): raises while the database cannot take writes. Run on the store's worker thread."""
        self._writer().execute(
            "INSERT INTO meta (name, value) VALUES ('write_probe', %s) "
            "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            (repr(now),),
        )
