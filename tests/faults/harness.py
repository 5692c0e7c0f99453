"""What every fault test shares: a real gateway built from a config file, concurrent client traffic
(the official openai SDK for plain requests, raw HTTP for streams, so that the end of a stream, its
receipt and its error events are seen exactly), and the invariants checked after each fault."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import yaml

from onshore.app import open_store
from onshore.settings import Settings, parse_settings
from tests.support.gateway import RunningGateway, add_key

MESSAGES = [{"role": "user", "content": "Hello"}]
REQUEST_ID = "Onshore-Request-Id"


@dataclass
class Outcome:
    kind: str  # "chat" or "stream"
    status: int  # 0: no HTTP answer (connection error, client timeout)
    request_id: str | None
    code: str | None = None  # the error code of a refusal, or of a stream's error event
    completed: bool = False  # stream: the final receipt and [DONE] arrived
    started: float = 0.0
    ended: float = 0.0


@dataclass
class Deployment:
    """A config file (for the CLI), its parsed settings and the gateway running it, in this process."""

    path: Path
    raw: dict[str, Any]
    environ: dict[str, str]
    settings: Settings
    gateway: RunningGateway | None = None
    keys: dict[str, str] = field(default_factory=dict)

    @classmethod
    def write(
        cls, data_dir: Path, raw: dict[str, Any], environ: dict[str, str] | None = None, config: Path | None = None
    ) -> Deployment:
        """`config`: where the file goes (default: next to `data_dir`; elsewhere when the data disk is
        the thing that fails)."""
        environ = environ or {}
        raw = {**raw, "gateway": {"data_dir": str(data_dir), "key_refresh_seconds": 0.1, **raw.get("gateway", {})}}
        data_dir.mkdir(parents=True, exist_ok=True)
        path = config or data_dir.parent / f"{data_dir.name}.yaml"
        path.write_text(yaml.safe_dump(raw))
        return cls(path, raw, environ, parse_settings(raw, str(path), environ))

    def start(self, *tenants: str) -> Deployment:
        for tenant in tenants:
            self.keys[tenant] = add_key(self.settings, tenant)
        self.gateway = RunningGateway(self.settings).start()
        return self

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()

    @property
    def url(self) -> str:
        assert self.gateway is not None
        return self.gateway.url

    def client(self, tenant: str, timeout: float = 30) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=self.keys[tenant], max_retries=0, timeout=timeout)

    def readyz(self) -> tuple[int, dict[str, Any]]:
        response = httpx.get(self.url + "/readyz", timeout=5)
        return response.status_code, response.json()

    def wait_readyz(self, status: int, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            got, body = self.readyz()
            if got == status:
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"/readyz stayed {got} {body} (waited {timeout} s for {status})")
            time.sleep(0.05)

    def verify(self) -> str:
        """`onshore audit verify`, as an operator runs it: a separate process on the same config."""
        result = subprocess.run(
            [sys.executable, "-m", "onshore", "audit", "verify", "--config", str(self.path)],
            env={**os.environ, **self.environ},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"audit verify failed: {result.stdout}{result.stderr}"
        return result.stdout

    def records(self) -> list[dict[str, Any]]:
        store = open_store(self.settings)
        try:
            return [json.loads(r.body) for r in store.iter_records()]
        finally:
            store.close()


# --- clients ---------------------------------------------------------------------------------------


def chat(client: openai.OpenAI, model: str = "m") -> Outcome:
    started = time.monotonic()
    try:
        raw = client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
        completion = raw.parse()
        assert completion.choices[0].message.content
        return Outcome("chat", 200, raw.headers.get(REQUEST_ID), None, True, started, time.monotonic())
    except openai.APIStatusError as exc:
        return Outcome(
            "chat", exc.status_code, exc.response.headers.get(REQUEST_ID), exc.code, False, started, time.monotonic()
        )
    except openai.APIConnectionError:
        return Outcome("chat", 0, None, "connection_error", False, started, time.monotonic())


def stream(url: str, key: str, model: str = "m", timeout: float = 30, max_bytes: int | None = None) -> Outcome:
    """A streamed chat over raw HTTP. `max_bytes`: hang up after reading that much (a client that
    gives up on an endless answer)."""
    started = time.monotonic()
    body = {"model": model, "messages": MESSAGES, "stream": True}
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.stream("POST", url + "/v1/chat/completions", json=body, headers=headers, timeout=timeout) as r:
            rid = r.headers.get(REQUEST_ID)
            if r.status_code != 200:
                r.read()
                return Outcome("stream", r.status_code, rid, _code(r.content), False, started, time.monotonic())
            received = 0
            receipt = done = False
            code = None
            for line in r.iter_lines():
                received += len(line) + 1
                if line.startswith(": onshore-receipt "):
                    receipt = True
                elif line == "data: [DONE]":
                    done = True
                elif line.startswith("data: {") and '"error"' in line:
                    code = code or _code(line[6:].encode())
                if max_bytes is not None and received > max_bytes:
                    return Outcome("stream", 200, rid, "client_gave_up", False, started, time.monotonic())
            return Outcome("stream", 200, rid, code, receipt and done and code is None, started, time.monotonic())
    except httpx.TransportError:
        return Outcome("stream", 0, None, "connection_error", False, started, time.monotonic())


def _code(raw: bytes) -> str | None:
    try:
        error = json.loads(raw).get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("code") if isinstance(error, dict) else None


class Traffic:
    """`threads` clients sending back to back (alternating plain and streamed requests) until stopped."""

    def __init__(self, deployment: Deployment, tenant: str, threads: int = 3, pause: float = 0.01) -> None:
        self._deployment = deployment
        self._tenant = tenant
        self._stop = threading.Event()
        self._pause = pause
        self._lock = threading.Lock()
        self.outcomes: list[Outcome] = []
        self._threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(threads)]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _loop(self, i: int) -> None:
        with self._deployment.client(self._tenant) as client:
            n = 0
            while not self._stop.is_set():
                if (n + i) % 2:
                    outcome = stream(self._deployment.url, self._deployment.keys[self._tenant])
                else:
                    outcome = chat(client)
                with self._lock:
                    self.outcomes.append(outcome)
                n += 1
                time.sleep(self._pause)

    def count(self, predicate: Callable[[Outcome], bool]) -> int:
        with self._lock:
            return sum(1 for o in self.outcomes if predicate(o))

    def wait_for(self, predicate: Callable[[Outcome], bool], n: int, timeout: float, what: str) -> None:
        """Wait until `n` outcomes seen from now on satisfy `predicate`."""
        with self._lock:
            start = len(self.outcomes)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                seen = sum(1 for o in self.outcomes[start:] if predicate(o))
            if seen >= n:
                return
            if time.monotonic() > deadline:
                with self._lock:
                    tail = Counter((o.kind, o.status, o.code) for o in self.outcomes[start:])
                raise AssertionError(f"waited {timeout} s for {n} x {what}; saw {dict(tail)}")
            time.sleep(0.02)


# --- invariants --------------------------------------------------------------------------------------


def check_invariants(deployment: Deployment, outcomes: list[Outcome]) -> Counter[tuple[str, int, str | None]]:
    """After a fault: every answer the clients got is backed by exactly one audit record, nothing was
    answered 200 without its record, every stream has at most one close (one, if it completed), and
    `onshore audit verify` passes. Returns what the clients saw, for the test's own assertions."""
    records = deployment.records()
    ids = Counter(r["id"] for r in records)
    duplicated = [i for i, n in ids.items() if n > 1]
    assert not duplicated, f"records stored more than once: {duplicated[:5]}"
    by_id = {r["id"]: r for r in records}
    closes: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r["kind"] == "stream_close":
            closes.setdefault(r["stream_of"], []).append(r)
    for stream_of, close in closes.items():
        assert len(close) == 1, f"stream {stream_of} closed {len(close)} times"
        assert by_id.get(stream_of, {}).get("kind") == "stream_open", f"close of unknown stream {stream_of}"
    for o in outcomes:
        if o.status == 200:
            assert o.request_id is not None, f"a 200 without {REQUEST_ID}: {o}"
            record = by_id.get(o.request_id)
            assert record is not None, f"answered 200 without an audit record: {o}"
            assert record["status"] == 200, (o, record)
            if o.kind == "chat":
                assert record["kind"] == "request" and record["outcome"] == "ok", (o, record)
            else:
                assert record["kind"] == "stream_open", (o, record)
                if o.completed:
                    ended = closes.get(o.request_id, [])
                    assert ended, f"a completed stream has no stream_close record: {o}"
                    assert ended[0]["outcome"] == "completed", (o, ended[0])
        elif o.status and o.code != "audit_unavailable":
            # A refusal that left is a refusal that was recorded.
            assert o.request_id is not None, f"a refusal without {REQUEST_ID}: {o}"
            record = by_id.get(o.request_id)
            assert record is not None, f"refused without an audit record: {o}"
            assert record["status"] == o.status and record["error_code"] == o.code, (o, record)
    deployment.verify()
    return Counter((o.kind, o.status, o.code) for o in outcomes)
