"""One contract suite for the stores: SqliteStore, PostgresStore and MemoryStore must behave the same.

The contract is the gateway's `Store` port (KeyStore + AuditStore, its worker, probes and closing).
PostgreSQL tests run in a database created for this module (see conftest.py), each test in a fresh
schema. Several stores opened by one test share one database (one file, one schema, one
MemoryDatabase): they stand for several replicas.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import multiprocessing
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from onshore.app import Store
from onshore.identify.keys import KeyRecord, generate_key
from onshore.prove.chain import (
    GENESIS_HASH,
    ChainedRecord,
    ChainHead,
    Checkpoint,
    checkpoint_message,
    link,
    verify,
)
from onshore.prove.signer import Signer, b64url_decode
from onshore.prove.writer import AuditWriter
from onshore.store import postgres
from onshore.store.memory import MemoryDatabase, MemoryStore
from onshore.store.postgres import PostgresStore
from onshore.store.sqlite import SqliteStore, StoreError


def plan(seed: int, batches: int, sizes: tuple[int, ...]) -> list[int]:
    rng = random.Random(seed)
    return [rng.choice(sizes) for _ in range(batches)]


def entry(n: int, ts: float | None = None, writer: str = "w") -> dict[str, Any]:
    """A realistic audit entry (~600 bytes of canonical JSON once chained)."""
    return {
        "id": f"req_{writer}_{n:08d}",
        "ts": time.time() if ts is None else ts,
        "type": "chat.completion",
        "tenant": "acme-legal",
        "key_id": "3f9a1c22b7e0",
        "model": "gpt-4o-mini",
        "backend": "azure-japaneast",
        "region": "japaneast",
        "data_class": "confidential",
        "decision": {"action": "allow", "rule": "tenant:acme-legal/confidential->jp-only", "floor": "internal"},
        "pii": {"detected": ["PERSON", "EMAIL"], "redacted": 2, "mode": "mask"},
        "usage": {"prompt_tokens": 412, "completion_tokens": 128, "total_tokens": 540},
        "latency_ms": {"total": 812.4, "upstream": 790.1, "policy": 1.9},
        "request_sha256": "9c1185a5c5e9fc54612808977ee8f548b2258d31ff4d3b1e3b7c3e1d2a5b9c0f",
        "status": 200,
    }


@dataclass
class Backend:
    kind: str
    open: Callable[[], Store]
    dsn: str = ""  # PostgreSQL only


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    opened: list[Store] = []

    def track(factory: Callable[[], Store]) -> Callable[[], Store]:
        def open_store() -> Store:
            store = factory()
            opened.append(store)
            return store

        return open_store

    if request.param == "sqlite":
        yield Backend("sqlite", track(lambda: SqliteStore(tmp_path / "onshore.db")))
    elif request.param == "memory":
        database = MemoryDatabase()
        yield Backend("memory", track(lambda: MemoryStore(database)))
    else:
        dsn: str = request.getfixturevalue("pg_dsn")
        yield Backend("postgres", track(lambda: PostgresStore(dsn)), dsn)
    for store in opened:
        store.close()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()


def key(name: str, created_at: float, models: tuple[str, ...] | None = None) -> KeyRecord:
    new = generate_key()
    return KeyRecord(new.key_id, name, "acme", "internal", models, created_at, None, new.hash)


def all_ok(_: Checkpoint) -> bool:
    return True


def check_chain(store: Store, expected: int) -> list[ChainedRecord]:
    records = list(store.iter_records())
    report = verify(records, store.checkpoints(), all_ok)
    assert report.ok, report.first_break
    assert report.records == expected
    assert [r.seq for r in records] == list(range(1, expected + 1))
    assert len({r.id for r in records}) == expected, "a record was stored twice"
    assert store.audit_head() == report.head
    return records


# --- the contract -----------------------------------------------------------------------------


def test_keys_add_list_revoke_and_revision(store: Store) -> None:
    assert store.list_keys() == []
    revision = store.keys_revision()
    first, second = key("first", 1000.0), key("second", 2000.0, ("gpt-4o", "llama"))
    store.add_key(second)
    store.add_key(first)
    assert store.keys_revision() == revision + 2
    assert store.list_keys() == [first, second]  # by creation time, models round-trip as a tuple

    assert store.revoke_key(first.key_id, 3000.5) is True
    assert store.keys_revision() == revision + 3
    listed = {k.key_id: k for k in store.list_keys()}
    assert listed[first.key_id].revoked_at == 3000.5
    assert listed[second.key_id].revoked_at is None
    assert store.revoke_key(first.key_id, 4000.0) is False  # already revoked: time unchanged
    assert store.revoke_key("no-such-key", 4000.0) is False
    assert {k.key_id: k.revoked_at for k in store.list_keys()}[first.key_id] == 3000.5


def test_duplicate_key_is_rejected_and_revision_unchanged(store: Store) -> None:
    record = key("dup", 1.0)
    store.add_key(record)
    revision = store.keys_revision()
    with pytest.raises(Exception) as excinfo:  # sqlite3.IntegrityError / psycopg.errors.UniqueViolation
        store.add_key(record)
    assert "unique" in str(excinfo.value).lower()
    assert store.keys_revision() == revision
    assert store.list_keys() == [record]


def test_append_chains_across_batches(store: Store) -> None:
    assert store.audit_head() == ChainHead(0, GENESIS_HASH)
    returned: list[ChainedRecord] = []
    n = 0
    for size in (1, 3, 16, 1, 40):
        batch = [entry(n + i) for i in range(size)]
        n += size
        records = store.append_entries(batch)
        assert [r.id for r in records] == [e["id"] for e in batch]
        assert store.audit_head() == ChainHead(records[-1].seq, records[-1].hash)
        returned += records
    assert store.append_entries([]) == []
    stored = check_chain(store, n)
    assert stored == returned  # bodies stored byte for byte as link() produced them


def test_two_instances_share_one_chain(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    a.append_entries([entry(0, writer="a")])
    b.append_entries([entry(0, writer="b"), entry(1, writer="b")])
    a.append_entries([entry(1, writer="a")])
    assert a.audit_head() == b.audit_head()
    assert [r.id for r in check_chain(a, 4)] == ["req_a_00000000", "req_b_00000000", "req_b_00000001", "req_a_00000001"]


def test_checkpoints_round_trip(store: Store) -> None:
    assert store.last_checkpoint_seq() == 0
    assert store.checkpoints() == []
    records = store.append_entries([entry(i) for i in range(5)])
    cp2 = Checkpoint(2, records[1].hash, 1700000000.125, "kid-1", "sig-a")
    cp5 = Checkpoint(5, records[4].hash, 1700000060.5, "kid-1", "sig-b")
    store.add_checkpoint(cp5)
    store.add_checkpoint(cp2)
    assert store.last_checkpoint_seq() == 5
    assert store.checkpoints() == [cp2, cp5]
    replaced = Checkpoint(5, records[4].hash, 1700000099.0, "kid-2", "sig-c")
    store.add_checkpoint(replaced)  # same seq: replaced, as SQLite's INSERT OR REPLACE does
    assert store.checkpoints() == [cp2, replaced]
    assert verify(store.iter_records(), store.checkpoints(), all_ok).ok


def test_iter_records_since_until(store: Store) -> None:
    store.append_entries([entry(i, ts=1000.0 + i) for i in range(10)])
    assert [r.ts for r in store.iter_records(since=1003.0)] == [1003.0 + i for i in range(7)]
    assert [r.ts for r in store.iter_records(until=1003.0)] == [1000.0, 1001.0, 1002.0]
    assert [r.seq for r in store.iter_records(1002.5, 1006.0)] == [4, 5, 6]
    assert list(store.iter_records(2000.0)) == []
    assert len(list(store.iter_records())) == 10
    # Newest first, the same window: what the console's Decisions page reads, stopping early.
    assert [r.seq for r in store.iter_records(1002.5, 1006.0, newest_first=True)] == [6, 5, 4]
    newest = store.iter_records(newest_first=True)
    assert [next(newest).seq, next(newest).seq] == [10, 9]
    assert store.keys_revision() == 0  # abandoning it leaves the store usable


def test_iter_records_pages_through_long_logs(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres, "_PAGE", 7)
    store = backend.open()
    store.append_entries([entry(i, ts=float(i)) for i in range(50)])
    check_chain(store, 50)
    assert [r.seq for r in store.iter_records(since=10.0, until=40.0)] == list(range(11, 41))
    assert [r.seq for r in store.iter_records(since=10.0, until=40.0, newest_first=True)] == list(range(40, 10, -1))
    # Abandoning the iterator part-way leaves the store usable.
    it = store.iter_records()
    next(it)
    store.ping()
    assert store.keys_revision() == 0


def test_ping(store: Store) -> None:
    store.ping()


def test_audit_writer_on_two_replicas_checkpoints_verify(backend: Backend) -> None:
    """The gateway's own writer, two replicas on one store, concurrent requests, signed checkpoints."""
    signer = Signer(Ed25519PrivateKey.generate())

    async def main() -> None:
        stores = [backend.open(), backend.open()]
        writers = [AuditWriter(s, signer, s.worker.run) for s in stores]
        for w in writers:
            await w.start()
        await asyncio.gather(*(writers[i % 2].append(entry(i, writer=f"r{i % 2}")) for i in range(300)))
        first = await writers[0].checkpoint(time.time())
        assert first is not None and first.seq == 300
        assert await writers[1].checkpoint(time.time()) is None  # the other replica already signed it
        for w, s in zip(writers, stores, strict=True):
            await w.close()
            await s.aclose()

    asyncio.run(main())
    store = backend.open()

    def signature_ok(cp: Checkpoint) -> bool:
        try:
            signer.public_key.verify(b64url_decode(cp.signature), checkpoint_message(cp.seq, cp.hash, cp.ts, cp.kid))
        except Exception:
            return False
        return True

    report = verify(store.iter_records(), store.checkpoints(), signature_ok)
    assert report.ok and report.records == 300 and report.checkpoints == 1


def test_concurrent_writer_threads(backend: Backend) -> None:
    """One store per thread, as one per replica: every batch lands, in one unforked chain."""
    threads, batches = 4, 25
    stores = [backend.open() for _ in range(threads)]
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    plans = [plan(t, batches, (1, 2, 5, 16)) for t in range(threads)]

    def run(t: int) -> None:
        try:
            start.wait()
            n = 0
            for size in plans[t]:
                records = stores[t].append_entries([entry(n + i, writer=f"t{t}") for i in range(size)])
                assert [r.seq for r in records] == list(range(records[0].seq, records[0].seq + size))
                n += size
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert not errors, errors
    records = check_chain(stores[0], sum(map(sum, plans)))
    for t in range(threads):
        mine = [r.id for r in records if r.id.startswith(f"req_t{t}_")]
        assert mine == sorted(mine)  # each writer's own records are in its order


# --- PostgreSQL only: migrations, several processes, failures ---------------------------------


def test_migrations_ship_inside_the_package() -> None:
    folder = importlib.resources.files("onshore.store.migrations")
    assert folder.joinpath("env.py").is_file()
    assert Path(str(folder)) == postgres.MIGRATIONS_DIR
    assert postgres.known_revisions()[-1] == postgres.REQUIRED_REVISION


def test_refuses_database_without_schema(pg_schema: str) -> None:
    assert postgres.current_revision(pg_schema) is None
    with pytest.raises(StoreError, match="onshore db upgrade"):
        PostgresStore(pg_schema)


def test_refuses_schema_behind_then_upgrade_keeps_the_chain(pg_schema: str) -> None:
    assert postgres.upgrade(pg_schema, "0001") == "0001"
    assert postgres.current_revision(pg_schema) == "0001"
    # A database already holding records at the old revision.
    records, _ = link([entry(i) for i in range(3)], ChainHead(0, GENESIS_HASH))
    with psycopg.connect(pg_schema, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO audit_records (seq, id, ts, body, hash) VALUES (%s, %s, %s, %s, %s)",
            [(r.seq, r.id, r.ts, r.body, r.hash) for r in records],
        )
    with pytest.raises(StoreError, match=r"behind.*onshore db upgrade"):
        PostgresStore(pg_schema)

    assert postgres.upgrade(pg_schema) == postgres.REQUIRED_REVISION
    assert postgres.upgrade(pg_schema) == postgres.REQUIRED_REVISION  # idempotent
    store = PostgresStore(pg_schema)
    try:
        assert store.audit_head() == ChainHead(3, records[-1].hash)  # backfilled by the migration
        store.append_entries([entry(3)])
        check_chain(store, 4)
    finally:
        store.close()


def test_refuses_schema_newer_than_known(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError, match="upgrade Onshore"):
        PostgresStore(pg_dsn)


def _upgrade(dsn: str, go: Any, out: Any) -> None:
    go.wait()
    out.put(postgres.upgrade(dsn))


def test_concurrent_upgrades_apply_once(pg_schema: str) -> None:
    """Replicas (separate processes: alembic's context is process-global) upgrading at the same time."""
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_upgrade, args=(pg_schema, go, out)) for _ in range(3)]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert [out.get(timeout=5) for _ in procs] == [postgres.REQUIRED_REVISION] * 3
    assert postgres.current_revision(pg_schema) == postgres.REQUIRED_REVISION


def test_concurrent_upgrades_in_threads(pg_schema: str) -> None:
    results: list[str] = []
    workers = [threading.Thread(target=lambda: results.append(postgres.upgrade(pg_schema))) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert results == [postgres.REQUIRED_REVISION] * 3


def _process_writer(dsn: str, name: str, batches: int, seed: int, go: Any) -> None:
    store = PostgresStore(dsn)
    go.wait()
    n = 0
    for size in plan(seed, batches, (1, 4, 16, 64)):
        store.append_entries([entry(n + i, writer=name) for i in range(size)])
        n += size
    store.close()


def test_concurrent_writer_processes(pg_dsn: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    names, batches = ["p0", "p1", "p2"], 40
    procs = [ctx.Process(target=_process_writer, args=(pg_dsn, n, batches, i, go)) for i, n in enumerate(names)]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    sizes = {n: sum(plan(i, batches, (1, 4, 16, 64))) for i, n in enumerate(names)}
    store = PostgresStore(pg_dsn)
    try:
        records = check_chain(store, sum(sizes.values()))
    finally:
        store.close()
    for n in names:
        mine = [r.id for r in records if r.id.startswith(f"req_{n}_")]
        assert mine == [f"req_{n}_{i:08d}" for i in range(sizes[n])]  # none lost, none twice, in order


def test_backend_terminated_while_holding_the_chain_lock(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    victim, other = PostgresStore(pg_dsn), PostgresStore(pg_dsn)
    try:
        victim.append_entries([entry(i, writer="v") for i in range(3)])
        locked, resume = threading.Event(), threading.Event()
        real_link = link  # the chain function the store links with (patched in postgres below)

        def pausing_link(entries: Any, head: ChainHead) -> Any:
            if threading.current_thread().name == "victim":
                locked.set()  # the head row is locked by now; linking happens under the lock
                resume.wait(30)
            return real_link(entries, head)

        monkeypatch.setattr(postgres, "link", pausing_link)
        outcome: list[BaseException | list[ChainedRecord]] = []

        def victim_append() -> None:
            try:
                outcome.append(victim.append_entries([entry(100 + i, writer="v") for i in range(5)]))
            except BaseException as exc:
                outcome.append(exc)

        vt = threading.Thread(target=victim_append, name="victim")
        vt.start()
        assert locked.wait(10)
        done: list[list[ChainedRecord]] = []
        ot = threading.Thread(target=lambda: done.append(other.append_entries([entry(0, writer="o")])))
        ot.start()
        time.sleep(0.3)
        assert not done, "the other writer must wait for the chain lock"

        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            row = admin.execute("SELECT pg_terminate_backend(%s)", (victim._write.info.backend_pid,)).fetchone()
            assert row is not None and row[0] is True
        ot.join(10)
        assert done and done[0][0].seq == 4  # took the lock once the victim's transaction was gone
        resume.set()
        vt.join(10)
        assert isinstance(outcome[0], psycopg.OperationalError)

        check_chain(other, 4)
        # The victim reconnects on its next append and continues the one chain.
        victim.append_entries([entry(200, writer="v")])
        assert [r.id for r in check_chain(victim, 5)][-2:] == ["req_o_00000000", "req_v_00000200"]
    finally:
        victim.close()
        other.close()


def test_a_connection_left_mid_command_is_replaced_not_reused(pg_dsn: str) -> None:
    """A backend killed while the client is sending can leave psycopg's connection open but ACTIVE
    (its goodbye unread): reused, every later append would fail with "another command is already in
    progress". The store replaces it on the next call, writer and reader alike."""
    store = PostgresStore(pg_dsn)
    try:
        store.append_entries([entry(1)])
        for conn in (store._write, store._read):
            conn.pgconn.send_query(b"SELECT 1")  # a command whose result nobody reads
            assert not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.ACTIVE
        stale_writer = store._write
        store.append_entries([entry(2)])
        assert store._write is not stale_writer and stale_writer.closed
        assert store.keys_revision() >= 0
        check_chain(store, 2)
    finally:
        store.close()


def _endless_writer(dsn: str, name: str, started: Any) -> None:
    store = PostgresStore(dsn)
    n = 0
    while True:
        store.append_entries([entry(n + i, writer=name) for i in range(256)])
        n += 256
        started.set()


def test_process_killed_mid_append_leaves_a_valid_chain(pg_dsn: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    for round_ in range(3):
        started = ctx.Event()
        proc = ctx.Process(target=_endless_writer, args=(pg_dsn, f"k{round_}", started))
        proc.start()
        assert started.wait(30)
        time.sleep(random.uniform(0.05, 0.3))  # the writer spends nearly all its time inside a transaction
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        assert proc.exitcode == -signal.SIGKILL
        # The server rolls the dead client's transaction back; give it a moment to notice the socket.
        store = PostgresStore(pg_dsn)
        try:
            store.append_entries([entry(round_, writer="after")])
            head = store.audit_head()
            records = check_chain(store, head.seq)
            assert records[-1].id == f"req_after_{round_:08d}"
            killed = [r for r in records if r.id.startswith(f"req_k{round_}_")]
            assert killed and len(killed) % 256 == 0  # whole batches only: the cut-off one left nothing
        finally:
            store.close()
