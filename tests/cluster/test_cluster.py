"""Three gateway replicas sharing PostgreSQL and Redis, on loopback, as separate processes.

Concurrent traffic to all three; a backend disabled through one replica's admin API is used by none
after 1 s; a replica killed mid-stream; then `onshore audit verify` passes on PostgreSQL and every
completed request appears exactly once. Rate limits and budgets hold for the sum across replicas.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import openai
import pytest
import yaml
from openai.types.chat import ChatCompletionMessageParam

from onshore.cli import main
from tests.support.gateway import backend, rules
from tests.support.upstream import FakeUpstream

PG = os.environ.get("ONSHORE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("ONSHORE_TEST_REDIS", "redis://127.0.0.1:6379/0")
ADMIN = "admin-" + uuid.uuid4().hex
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello"}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG, connect_timeout=3):
            return True
    except Exception:
        return False


@dataclass
class Cluster:
    config: Path
    env: dict[str, str]
    ports: list[int]
    processes: list[subprocess.Popen[bytes]]
    b1: FakeUpstream
    b2: FakeUpstream
    key: str
    limited_key: str
    budget_key: str
    refusals_seen: int = 0  # limit and budget refusals the clients got, in whichever tests ran

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def client(self, i: int, key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url(i) + "/v1", api_key=key or self.key, max_retries=0)

    def cli(self, *args: str) -> int:
        old = dict(os.environ)
        os.environ.update(self.env)
        try:
            return main([*args, "--config", str(self.config)])
        finally:
            os.environ.clear()
            os.environ.update(old)


def start_replica(config: Path, env: dict[str, str], data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "onshore",
            "serve",
            "--config",
            str(config),
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_ready(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not become ready")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not postgres_available():
        pytest.fail(f"PostgreSQL is not reachable at {PG} (.ci/run starts it)")
    import psycopg

    database = f"onshore_cluster_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    dsn = PG.rsplit("/", 1)[0] + "/" + database
    tmp = tmp_path_factory.mktemp("cluster")
    b1, b2 = FakeUpstream("b1").start(), FakeUpstream("b2").start()
    env = {
        "ONSHORE_DATABASE_URL": dsn,
        "ONSHORE_REDIS_URL": REDIS,
        "ONSHORE_ADMIN_KEY": ADMIN,
        "ONSHORE_RESPONSES_KEY": base64.b64encode(os.urandom(32)).decode(),  # one sealing key, as a Secret gives
    }
    config = tmp / "onshore.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "gateway": {
                    "storage": "postgresql",
                    "storage_env": "ONSHORE_DATABASE_URL",
                    "admin_key_env": "ONSHORE_ADMIN_KEY",
                    "key_refresh_seconds": 0.2,
                    "data_dir": str(tmp / "cli"),
                    "redis": {"url_env": "ONSHORE_REDIS_URL", "prefix": f"onshore-test-{uuid.uuid4().hex[:8]}:"},
                    "audit": {"checkpoint_interval_seconds": 0.5},
                    "responses": {"key_env": "ONSHORE_RESPONSES_KEY"},
                },
                "backends": {"b1": backend(b1.base_url), "b2": backend(b2.base_url)},
                "models": {"m": {"routes": [{"backend": "b1", "model": "x"}, {"backend": "b2", "model": "x"}]}},
                "tenants": {
                    "acme": rules(["JP"]),
                    "limited": {**rules(["JP"]), "limits": {"per_tenant": {"requests_per_minute": 30}}},
                    "metered": {**rules(["JP"]), "limits": {"budget": {"tokens": 40, "period": "day"}}},
                },
            }
        )
    )
    cluster = Cluster(config, env, [], [], b1, b2, "", "", "")
    assert cluster.cli("db", "upgrade") == 0
    keys = []
    for tenant in ("acme", "limited", "metered"):
        out = subprocess.run(
            [sys.executable, "-m", "onshore", "keys", "create", "--tenant", tenant, "--config", str(config)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        keys.append(out.stdout.strip())
    cluster.key, cluster.limited_key, cluster.budget_key = keys
    # One signing key for every replica, as a Secret would provide it.
    from onshore.store.keyfile import load_or_create_signing_key

    load_or_create_signing_key(tmp / "cli" / "signing-key.pem")
    for i in range(3):
        data_dir = tmp / f"replica{i}"
        data_dir.mkdir()
        shutil.copy(tmp / "cli" / "signing-key.pem", data_dir / "signing-key.pem")
        port = free_port()
        cluster.ports.append(port)
        cluster.processes.append(start_replica(config, env, data_dir, port))
    deadline = time.monotonic() + 90
    for i in range(3):
        wait_ready(cluster.url(i), deadline)
    try:
        yield cluster
    finally:
        for process in cluster.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in cluster.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        b1.stop()
        b2.stop()
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_a_responses_conversation_continues_on_another_replica(cluster: Cluster) -> None:
    # Kept turns live in the shared PostgreSQL, sealed under the key every replica reads from its
    # environment: a load balancer may send each turn to a different replica.
    first = cluster.client(0, cluster.key).responses.create(model="m", input="My favourite colour is teal.")
    second = cluster.client(1, cluster.key).responses.create(
        model="m", input="What is my favourite colour?", previous_response_id=first.id
    )
    assert second.id != first.id
    sent = (cluster.b1.received + cluster.b2.received)[-1]
    assert "My favourite colour is teal." in json.dumps(sent["messages"])  # the history came along
    fetched = cluster.client(2, cluster.key).responses.retrieve(second.id)
    assert fetched.id == second.id
    for replica in range(3):
        assert not (Path(cluster.config.parent) / f"replica{replica}" / "responses.key").exists()


def test_rate_limit_holds_for_the_sum_across_replicas(cluster: Cluster) -> None:
    if 60 - time.time() % 60 < 8:  # keep the burst inside one minute window
        time.sleep(60 - time.time() % 60 + 0.2)
    clients = [cluster.client(i, cluster.limited_key) for i in range(3)]
    outcomes: list[str] = []

    def one(n: int) -> None:
        try:
            clients[n % 3].chat.completions.create(model="m", messages=MESSAGES)
            outcomes.append("ok")
        except openai.RateLimitError as exc:
            assert exc.body["code"] == "rate_limit_exceeded"  # type: ignore[index]
            assert "tenants.limited" in exc.message and int(exc.response.headers["Retry-After"]) >= 1
            outcomes.append("limited")

    with ThreadPoolExecutor(9) as pool:
        list(pool.map(one, range(45)))
    cluster.refusals_seen += outcomes.count("limited")
    assert outcomes.count("ok") == 30  # 30 per minute for the tenant, whichever replica serves it
    assert outcomes.count("limited") == 15


def test_budget_holds_across_replicas(cluster: Cluster) -> None:
    served = refused = 0
    for n in range(16):  # 4 tokens a request against a 40-token daily budget
        try:
            cluster.client(n % 3, cluster.budget_key).chat.completions.create(model="m", messages=MESSAGES)
            served += 1
        except openai.RateLimitError as exc:
            assert exc.body["code"] == "budget_exceeded"  # type: ignore[index]
            refused += 1
        time.sleep(0.05)  # tokens are charged just after each answer
    cluster.refusals_seen += refused
    assert served == 10 and refused == 6


def test_cluster_traffic_kill_switch_replica_crash_and_audit(cluster: Cluster) -> None:
    completed: list[str] = []  # request ids of answers the clients got in full
    lock = threading.Lock()
    clients = [cluster.client(i) for i in range(3)]

    def one(n: int) -> None:
        client = clients[n % 3]
        if n % 4 == 0:
            stream = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES, stream=True)
            request_id = stream.headers["onshore-request-id"]
            text = "".join(c.choices[0].delta.content or "" for c in stream.parse() if c.choices)
            assert text
        else:
            raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
            request_id = raw.headers["onshore-request-id"]
            assert raw.parse().choices[0].message.content
        with lock:
            completed.append(request_id)

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(one, range(120)))
    assert cluster.b1.received and not cluster.b2.received  # b1 is first and healthy

    # Kill switch through replica 0's admin API: no replica uses b1 after 1 s.
    response = httpx.post(
        cluster.url(0) + "/admin/backends/b1/disable",
        json={"reason": "provider changed terms"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert response.status_code == 200, response.text
    time.sleep(1.0)
    before = len(cluster.b1.received)
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(one, range(60)))
    assert len(cluster.b1.received) == before
    assert len(cluster.b2.received) >= 60
    listing = httpx.get(cluster.url(2) + "/admin/backends", headers={"Authorization": f"Bearer {ADMIN}"}).json()
    assert {b["name"]: b["enabled"] for b in listing["backends"]} == {"b1": False, "b2": True}

    # A replica killed mid-stream leaves nothing that breaks verification.
    cluster.b2.behaviour.chunks = 200
    cluster.b2.behaviour.chunk_delay = 0.02
    body = {"model": "m", "messages": MESSAGES, "stream": True}
    with httpx.stream(
        "POST", cluster.url(2) + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {cluster.key}"}
    ) as streaming:
        chunks = streaming.iter_raw()
        assert next(chunks)
        cluster.processes[2].send_signal(signal.SIGKILL)
        cluster.processes[2].wait(10)
        with pytest.raises(httpx.HTTPError):
            for _ in chunks:
                pass
    cluster.b2.behaviour.chunks = 3
    cluster.b2.behaviour.chunk_delay = 0.0
    with ThreadPoolExecutor(6) as pool:  # the two survivors keep serving
        list(pool.map(lambda n: one(n * 3 + 1), range(20)))

    assert cluster.cli("backends", "enable", "b1") == 0
    for process in cluster.processes[:2]:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    assert cluster.cli("audit", "verify") == 0

    import psycopg

    dsn = cluster.env["ONSHORE_DATABASE_URL"]
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT body FROM audit_records ORDER BY seq").fetchall()
    records = [json.loads(bytes(r[0])) for r in rows]
    served = [r["id"] for r in records if r.get("kind") == "request" and r["status"] == 200]
    streamed = [r["stream_of"] for r in records if r.get("kind") == "stream_close" and r["outcome"] == "completed"]
    ids = served + streamed
    for request_id in completed:
        assert ids.count(request_id) == 1, request_id
    assert len(completed) == 200
    limited = [r for r in records if r.get("error_code") in ("rate_limit_exceeded", "budget_exceeded")]
    assert len(limited) == cluster.refusals_seen  # refusals are recorded too (21 when the file runs whole)
    admin = [r for r in records if r.get("kind") == "admin"]
    switched = [a for a in admin if "backend" in a]
    assert [(a["action"], a["backend"]) for a in switched] == [("disable", "b1"), ("enable", "b1")]
    assert switched[0]["reason"] == "provider changed terms"
    # The three keys the cluster was given from the CLI are in the chain too, with who made them.
    created = [a for a in admin if a["action"] == "key_create"]
    assert sorted(a["tenant"] for a in created) == ["acme", "limited", "metered"]
    assert all(a["actor"].startswith("cli") for a in created)


def test_shared_circuit_breaker_skips_a_failing_backend(tmp_path: Path) -> None:
    """Five failures of a backend (across replicas) open its breaker: requests go straight to the next."""
    from tests.support.gateway import RunningGateway, add_key, make_settings

    b1, b2 = FakeUpstream("b1").start(), FakeUpstream("b2").start()
    settings = make_settings(
        tmp_path,
        {"b1": backend(b1.base_url), "b2": backend(b2.base_url)},
        {"m": {"routes": [{"backend": "b1", "model": "x"}, {"backend": "b2", "model": "x"}]}},
        {"t": rules(["JP"])},
        gateway={"redis": {"url_env": "R", "prefix": f"onshore-test-{uuid.uuid4().hex[:8]}:"}},
        environ={"R": REDIS},
    )
    key = add_key(settings, "t")
    gateways = [RunningGateway(settings).start(), RunningGateway(settings).start()]  # two replicas, one Redis
    try:
        b1.behaviour.status = 503
        for n in range(6):
            with openai.OpenAI(base_url=gateways[n % 2].url + "/v1", api_key=key, max_retries=0) as client:
                client.chat.completions.create(model="m", messages=MESSAGES)  # b1 fails, b2 answers
        time.sleep(1.2)  # every replica re-reads the open breakers twice a second
        tried = len(b1.received)
        for n in range(6):
            with openai.OpenAI(base_url=gateways[n % 2].url + "/v1", api_key=key, max_retries=0) as client:
                client.chat.completions.create(model="m", messages=MESSAGES)
        assert tried >= 5 and len(b1.received) == tried  # the open breaker keeps traffic off b1
        assert len(b2.received) == 12
    finally:
        for gateway in gateways:
            gateway.stop()
        b1.stop()
        b2.stop()
