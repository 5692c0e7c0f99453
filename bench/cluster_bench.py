"""Requests per second with 1, 2 and 3 gateway replicas sharing PostgreSQL (and Redis), on this machine.

On a 2-core machine this shows the cost of coordination (PostgreSQL audit appends from several
processes, a shared chain lock), not scaling: every replica, the upstream, PostgreSQL and the load
generator share the same two cores. Run: .venv/bin/python bench/cluster_bench.py [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import yaml

PG = os.environ.get("ONSHORE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("ONSHORE_TEST_REDIS", "redis://127.0.0.1:6379/0")
BENCH = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load(urls: list[str], key: str, seconds: float, concurrency: int) -> tuple[int, int]:
    body = {"model": "bench", "messages": [{"role": "user", "content": "Hello, how are you?"}]}
    headers = {"Authorization": f"Bearer {key}"}
    ok = errors = 0
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker(n: int) -> None:
            nonlocal ok, errors
            i = n
            while time.monotonic() < deadline:
                async with session.post(
                    urls[i % len(urls)] + "/v1/chat/completions", json=body, headers=headers
                ) as response:
                    await response.read()
                    if response.status == 200:
                        ok += 1
                    else:
                        errors += 1
                i += 1

        await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return ok, errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="onshore-cluster-bench-"))
    database = f"onshore_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    dsn = PG.rsplit("/", 1)[0] + "/" + database
    env = {**os.environ, "ONSHORE_DATABASE_URL": dsn, "ONSHORE_REDIS_URL": REDIS}
    onshore = [sys.executable, "-m", "onshore"]
    upstream = subprocess.Popen(
        [sys.executable, str(BENCH / "upstream_server.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    replicas: list[subprocess.Popen[bytes]] = []
    try:
        assert upstream.stdout is not None
        upstream_port = int(upstream.stdout.readline().split()[1])
        config = tmp / "onshore.yaml"
        classes = {
            c: {"jurisdictions": ["JP"], "audit_content": "digest"}
            for c in ("public", "internal", "confidential", "personal", "special_care")
        }
        config.write_text(
            yaml.safe_dump(
                {
                    "gateway": {
                        "storage": "postgresql",
                        "storage_env": "ONSHORE_DATABASE_URL",
                        "data_dir": str(tmp / "cli"),
                        "redis": {"url_env": "ONSHORE_REDIS_URL", "prefix": f"onshore-bench-{uuid.uuid4().hex[:6]}:"},
                    },
                    "backends": {
                        "up": {
                            "kind": "openai",
                            "base_url": f"http://127.0.0.1:{upstream_port}/v1",
                            "jurisdiction": "JP",
                            "operator": "Bench KK",
                            "operator_jurisdiction": "JP",
                            "retention_days": 0,
                            "trains_on_inputs": False,
                        }
                    },
                    "models": {"bench": {"routes": [{"backend": "up", "model": "upstream-model"}]}},
                    "tenants": {"bench": {"classes": classes}},
                }
            )
        )
        subprocess.run([*onshore, "db", "upgrade", "--config", str(config)], env=env, check=True, capture_output=True)
        key = subprocess.run(
            [*onshore, "keys", "create", "--tenant", "bench", "--config", str(config)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        from onshore.store.keyfile import load_or_create_signing_key

        load_or_create_signing_key(tmp / "cli" / "signing-key.pem")
        ports: list[int] = []
        results = []
        for n in (1, 2, 3):
            while len(replicas) < n:
                data_dir = tmp / f"replica{len(replicas)}"
                data_dir.mkdir()
                shutil.copy(tmp / "cli" / "signing-key.pem", data_dir / "signing-key.pem")
                port = free_port()
                ports.append(port)
                replicas.append(
                    subprocess.Popen(
                        [*onshore, "serve", "--config", str(config), "--data-dir", str(data_dir), "--port", str(port)],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
            urls = [f"http://127.0.0.1:{p}" for p in ports[:n]]
            for url in urls:
                for _ in range(300):
                    try:
                        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=0.2):
                            break
                    except OSError:
                        time.sleep(0.1)
            asyncio.run(load(urls, key, 1.0, 4))  # warm-up
            ok, errors = asyncio.run(load(urls, key, args.seconds, args.concurrency))
            results.append((n, ok / args.seconds, errors))
        for process in replicas:  # a clean stop signs a final checkpoint
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)
        verify = subprocess.run(
            [*onshore, "audit", "verify", "--config", str(config)], env=env, capture_output=True, text=True
        )
    finally:
        everyone: list[subprocess.Popen[Any]] = [*replicas, upstream]  # bytes and text pipes alike
        for process in everyone:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in everyone:
            process.wait(20)
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    print(f"c={args.concurrency}, {args.seconds:.0f} s per row, PostgreSQL audit + Redis, {os.cpu_count()} cores total")
    print("| replicas | requests/s | errors |")
    print("|---:|---:|---:|")
    for n, rps, errors in results:
        print(f"| {n} | {rps:,.0f} | {errors} |")
    print("audit verify:", (verify.stdout or verify.stderr).strip())


if __name__ == "__main__":
    main()
