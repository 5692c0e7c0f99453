"""Audit append throughput: records/s through the stores' `append_entries`, SQLite and PostgreSQL.

Each configuration appends realistic ~600-byte entries in batches of 1, 16 and 256 (AuditWriter's group
commit produces such batches under load) for `--seconds` and reports committed records per second and
the mean time per commit. SQLite runs in a temporary directory (durability normal and full);
PostgreSQL in a database created for the run and dropped at the end, with one writer and with
`--writers` concurrent writer processes (each its own PostgresStore, as separate gateway replicas),
all appending to one chain. Every chain is verified before its number is reported.

Run: .venv/bin/python bench/audit_bench.py [--seconds 3] [--writers 3] [--dsn "host=... dbname=..."]
"""

from __future__ import annotations

import argparse
import multiprocessing
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from onshore.prove.chain import ChainHead, canonical, link, verify
from onshore.store import postgres
from onshore.store.postgres import PostgresStore
from onshore.store.sqlite import SqliteStore

BATCHES = (1, 16, 256)


def entry(n: int, writer: str) -> dict[str, Any]:
    return {
        "id": f"req_{writer}_{n:010d}",
        "ts": time.time(),
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


def run_writer(store: Any, batch: int, seconds: float, writer: str) -> tuple[int, int, float]:
    """(records, commits, elapsed) appending batches of `batch` for `seconds`."""
    n = commits = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        store.append_entries([entry(n + i, writer) for i in range(batch)])
        n += batch
        commits += 1
    return n, commits, time.perf_counter() - start


def _process(dsn: str, batch: int, seconds: float, writer: str, go: Any, out: Any) -> None:
    store = PostgresStore(dsn)
    go.wait()
    out.put(run_writer(store, batch, seconds, writer))
    store.close()


def check(store: Any, expected: int) -> None:
    report = verify(store.iter_records(), store.checkpoints(), lambda _: True)
    if not report.ok or report.records != expected:
        sys.exit(f"chain check failed: {report}")


def row(name: str, batch: int, writers: int, records: int, commits: int, elapsed: float) -> None:
    rate = records / elapsed
    per_commit = elapsed / commits * 1000 * writers  # mean wall time one writer spends per commit
    print(f"| {name} | {batch} | {writers} | {rate:,.0f} | {commits / elapsed:,.0f} | {per_commit:.2f} |")


def bench_sqlite(seconds: float, durability: str) -> None:
    for batch in BATCHES:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "onshore.db", durability)
            records, commits, elapsed = run_writer(store, batch, seconds, "s")
            check(store, records)
            store.close()
        row(f"SQLite ({durability})", batch, 1, records, commits, elapsed)


def bench_postgres(fresh: Callable[[], str], seconds: float, writers: int) -> None:
    for batch in BATCHES:
        dsn = fresh()
        store = PostgresStore(dsn)
        records, commits, elapsed = run_writer(store, batch, seconds, "p")
        check(store, records)
        store.close()
        row("PostgreSQL", batch, 1, records, commits, elapsed)
    ctx = multiprocessing.get_context("spawn")
    for batch in BATCHES:
        dsn = fresh()
        go, out = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_process, args=(dsn, batch, seconds, f"w{i}", go, out)) for i in range(writers)]
        for p in procs:
            p.start()
        time.sleep(1.0)  # let every process connect before the clock starts
        go.set()
        results = [out.get(timeout=seconds + 60) for _ in procs]
        for p in procs:
            p.join()
        records = sum(r[0] for r in results)
        commits = sum(r[1] for r in results)
        elapsed = max(r[2] for r in results)
        store = PostgresStore(dsn)
        check(store, records)
        store.close()
        row("PostgreSQL", batch, writers, records, commits, elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--writers", type=int, default=3)
    parser.add_argument("--dsn", default="host=127.0.0.1 port=5432 user=postgres dbname=test")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    body = link([entry(0, "p")], ChainHead(0, "0" * 64))[0][0].body
    print(f"entry: {len(canonical(entry(0, 'p')))} bytes as given, {len(body)} bytes chained\n")
    print("| store | batch | writers | records/s | commits/s | ms per commit |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    bench_sqlite(args.seconds, "normal")
    bench_sqlite(args.seconds, "full")
    if args.no_postgres:
        return
    admin = psycopg.connect(args.dsn, autocommit=True)
    name = f"onshore_bench_{secrets.token_hex(4)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    database = make_conninfo(args.dsn, dbname=name)
    schemas = 0

    def fresh() -> str:
        nonlocal schemas
        schemas += 1
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA s{schemas}")
        dsn = make_conninfo(database, options=f"-csearch_path=s{schemas}")
        postgres.upgrade(dsn)
        return dsn

    try:
        sync = admin.execute("SHOW synchronous_commit").fetchone()
        print(f"| (PostgreSQL synchronous_commit={sync[0] if sync else '?'}) | | | | | |")
        bench_postgres(fresh, args.seconds, args.writers)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
