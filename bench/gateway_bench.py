"""End-to-end gateway benchmark: what Onshore adds on top of a direct call to the same upstream.

Usage: python bench/gateway_bench.py [--quick] [--json results.json] [--wrk] [--py-spy PATH]
       python bench/gateway_bench.py --memory [N]   # gateway RSS at 0, N/4, N/2, N requests (default 40,000)

One run starts a cheap OpenAI-compatible upstream (bench/upstream_server.py) and the real gateway
(`onshore serve`, full pipeline: auth, validation, decision, SQLite audit, signed receipt), then
drives both with the same load generator and prints a Markdown table:

- added latency at concurrency 1 (non-streaming), p50/p99, direct vs through the gateway;
- throughput at concurrency 32 over a fixed duration, with error counts, for JSON answers and for
  streamed answers of 20 chunks, with the gateway's CPU time per request for each;
- streaming time to the first SSE data event at concurrency 1;
- latency at an open-loop 300 req/s (requests sent on a fixed schedule, timed from the scheduled
  send, so queueing is not hidden by coordinated omission), p50/p99.

CPU layout: the gateway (one process) is pinned to one core with taskset; the upstream and this
load generator share the other, so the gateway's core is never contended by the measurement.
All traffic goes to 127.0.0.1; every loop is bounded in count and time; child processes are
killed on every exit path.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import http.client
import http.server
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, cast

BENCH_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"
GATEWAY_MODEL = "bench"
UPSTREAM_MODEL = "upstream-model"
# Streaming throughput uses answers of STREAM_CHUNKS content chunks: the upstream answers a model named
# "...-c<N>" with N chunks, and the gateway routes GATEWAY_MODEL_CHUNKS to it.
STREAM_CHUNKS = 20
GATEWAY_MODEL_CHUNKS = f"bench-c{STREAM_CHUNKS}"
UPSTREAM_MODEL_CHUNKS = f"{UPSTREAM_MODEL}-c{STREAM_CHUNKS}"
MESSAGES = [{"role": "user", "content": "Hello, how are you?"}]
# --prompt personal: a Japanese prompt with a name, a phone number and an address, so the protect
# stage runs the name analyser, pseudonymises and restores on every request.
PERSONAL = "山田太郎様（電話 090-1234-5678、東京都千代田区丸の内1-2-3）への返信文を書いてください。"
RECEIPT_HEADER = b"onshore-receipt"  # lower-cased: header names are compared case-insensitively

# Full and --quick sizes. Requests counts are per path (direct, gateway).
FULL = {"latency_n": 2000, "latency_warmup": 300, "stream_n": 1000, "duration": 10.0, "tp_warmup": 1.0, "rounds": 3,
        "open_duration": 10.0, "open_rounds": 2}  # fmt: skip
QUICK = {"latency_n": 400, "latency_warmup": 100, "stream_n": 200, "duration": 3.0, "tp_warmup": 0.5, "rounds": 1,
         "open_duration": 3.0, "open_rounds": 1}  # fmt: skip
OPEN_LOOP_RATE = 300.0  # req/s, the issue's open-loop measure
OPEN_LOOP_MAX_CONNECTIONS = 512  # past this, scheduled requests wait for a connection (and that wait counts)
MAX_REQUESTS_PER_PHASE = 5_000_000  # hard cap on a throughput phase, whatever the duration
PHASE_TIMEOUT = 300.0  # no single phase may run longer than this (a hung server ends the run)


# --- HTTP/1.1 load generator ---------------------------------------------------------------------
# A raw asyncio.Protocol with the request prebuilt as bytes: an aiohttp ClientSession costs several
# times more client CPU per request, and the client shares a core with the upstream. Whatever the
# client costs, it costs the same on both paths, so it cancels out of the differences.


@dataclass(slots=True)
class Reply:
    status: int
    head: bytes
    body: bytes
    started: float  # perf_counter() when the request was written
    first_data: float  # when the first complete body chunk holding "data:" arrived (0.0 if none)
    done: float  # when the last byte of the response arrived

    @property
    def latency(self) -> float:
        return self.done - self.started

    @property
    def ttfb(self) -> float:
        return (self.first_data or self.done) - self.started


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time. Parses Content-Length and
    chunked responses incrementally and timestamps them in data_received, not after the awaiting
    coroutine is scheduled, so event-loop queueing in the client is not counted as server time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Reply] | None = None
        self.closed = False
        self._head = b""
        self._status = 0
        self._length = -1
        self._chunked = False
        self._body = bytearray()
        self._started = 0.0
        self._first = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"connection lost: {exc!r}"))
            self._waiter.exception()  # mark retrieved: no "never retrieved" noise if a cancelled run drops it
        self._waiter = None

    def request(self, raw: bytes) -> asyncio.Future[Reply]:
        if self._transport is None or self.closed:
            raise ConnectionError("connection closed")
        self._head, self._status, self._length, self._chunked = b"", 0, -1, False
        self._body = bytearray()
        self._first = 0.0
        self._waiter = self._loop.create_future()
        self._started = time.perf_counter()
        self._transport.write(raw)
        return self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self._buffer += data
        if self._waiter is not None:
            try:
                self._parse(now)
            except ValueError as exc:  # malformed response: fail this request, drop the connection
                self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        self._waiter = None
        self.close()

    def _parse(self, now: float) -> None:
        buf = self._buffer
        if not self._head:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self._head = bytes(buf[:end])
            del buf[: end + 4]
            lines = self._head.split(b"\r\n")
            self._status = int(lines[0].split(b" ", 2)[1])
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    self._length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    self._chunked = True
                elif name == b"connection" and value.strip().lower() == b"close":
                    self.closed = True  # served, then the server closes: reconnect next time
            if not self._chunked and self._length < 0:
                raise ValueError("response without Content-Length or chunked encoding")
        if self._chunked:
            while True:
                eol = buf.find(b"\r\n")
                if eol < 0:
                    return
                size = int(bytes(buf[:eol]).split(b";")[0], 16)
                if size == 0:
                    if len(buf) < eol + 4:  # "0\r\n\r\n" (the servers here send no trailers)
                        return
                    del buf[: eol + 4]
                    self._finish(now)
                    return
                if len(buf) < eol + 4 + size:
                    return
                chunk = buf[eol + 2 : eol + 2 + size]
                if not self._first and b"data:" in chunk:
                    self._first = now
                self._body += chunk
                del buf[: eol + 4 + size]
        elif len(buf) >= self._length:
            self._body += buf[: self._length]
            del buf[: self._length]
            self._finish(now)

    def _finish(self, now: float) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(Reply(self._status, self._head, bytes(self._body), self._started, self._first, now))


class Endpoint:
    """A target (host, port) and one prebuilt request; opens connections to it."""

    def __init__(self, name: str, port: int, raw_request: bytes) -> None:
        self.name = name
        self.port = port
        self.raw = raw_request
        self.answered = 0  # 200 replies over the whole run, to compare with the audit record count

    async def connect(self) -> HttpConnection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(lambda: HttpConnection(loop), HOST, self.port)
        return protocol


def build_request(
    port: int,
    body: dict[str, Any],
    api_key: str | None,
    path: str = "/v1/chat/completions",
    headers: dict[str, str] | None = None,
) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    auth = f"Authorization: Bearer {api_key}\r\n" if api_key else ""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: */*\r\n{auth}{extra}Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


@dataclass
class PhaseResult:
    """Outcome of one phase against one endpoint."""

    replies: list[Reply] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(message)


async def _one(conn: HttpConnection | None, endpoint: Endpoint, result: PhaseResult) -> HttpConnection | None:
    """Send one request; record the reply or the error. Returns the connection to reuse (None: reconnect)."""
    return (await _one_reply(conn, endpoint, result))[0]


async def _one_reply(
    conn: HttpConnection | None, endpoint: Endpoint, result: PhaseResult
) -> tuple[HttpConnection | None, Reply | None]:
    """As _one, also returning the 200 reply (None on an error)."""
    try:
        if conn is None or conn.closed:
            if conn is not None:
                conn.close()
            conn = await endpoint.connect()
        reply = await conn.request(endpoint.raw)
    except (OSError, ValueError) as exc:
        result.error(f"{type(exc).__name__}: {exc}")
        if conn is not None:
            conn.close()
        return None, None
    if reply.status != 200:
        result.error(f"HTTP {reply.status}: {reply.body[:300]!r}")
        return conn, None
    result.replies.append(reply)
    endpoint.answered += 1
    return conn, reply


async def sequential(endpoint: Endpoint, n: int, result: PhaseResult | None = None) -> PhaseResult:
    """n requests one after the other on one keep-alive connection (concurrency 1)."""
    result = result or PhaseResult()
    conn: HttpConnection | None = None
    started = time.perf_counter()
    try:
        for _ in range(n):
            conn = await _one(conn, endpoint, result)
    finally:
        if conn is not None:
            conn.close()
    result.elapsed += time.perf_counter() - started
    return result


async def interleaved(
    first: Endpoint,
    second: Endpoint,
    total: int,
    blocks: int,
    bounded: Callable[[Awaitable[PhaseResult]], Awaitable[PhaseResult]],
) -> dict[str, PhaseResult]:
    """`total` sequential requests per endpoint in `blocks` alternating blocks (ABBA...), so drift
    on the machine lands on both sides alike. Results by endpoint name."""
    results = {first.name: PhaseResult(), second.name: PhaseResult()}
    for b in range(blocks):
        n = total // blocks + (1 if b < total % blocks else 0)
        for ep in (first, second) if b % 2 == 0 else (second, first):
            await bounded(sequential(ep, n, results[ep.name]))
    return results


async def closed_loop(endpoint: Endpoint, concurrency: int, duration: float) -> PhaseResult:
    """`concurrency` connections, each sending its next request as soon as the last one answers,
    until `duration` seconds have passed (or MAX_REQUESTS_PER_PHASE requests were sent)."""
    result = PhaseResult()
    sent = 0
    started = time.perf_counter()
    deadline = started + duration

    async def worker() -> None:
        nonlocal sent
        conn: HttpConnection | None = None
        try:
            while time.perf_counter() < deadline and sent < MAX_REQUESTS_PER_PHASE:
                sent += 1
                conn = await _one(conn, endpoint, result)
        finally:
            if conn is not None:
                conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result


@dataclass
class OpenLoopResult:
    """An open-loop phase: latencies measured from each request's scheduled send time."""

    phase: PhaseResult
    from_schedule: list[float] = field(default_factory=list)  # seconds, one per 200 reply
    scheduled: int = 0
    lag_max: float = 0.0  # how late the scheduler sent a request, at worst
    connections: int = 0  # connections opened (about the most requests in flight at once)


async def open_loop(endpoint: Endpoint, rate: float, duration: float) -> OpenLoopResult:
    """Requests sent on a fixed schedule (request i due at start + i/rate), each on its own task, never
    waiting for earlier answers. Latency runs from the due time, not from the write, so queueing in
    the gateway (or a late client) is counted rather than hidden (no coordinated omission)."""
    out = OpenLoopResult(PhaseResult(), scheduled=max(1, round(rate * duration)))
    idle: list[HttpConnection] = []
    slots = asyncio.Semaphore(OPEN_LOOP_MAX_CONNECTIONS)
    tasks: set[asyncio.Task[None]] = set()

    async def send(due: float) -> None:
        async with slots:
            conn = idle.pop() if idle else None
            if conn is None:
                out.connections += 1
            conn, reply = await _one_reply(conn, endpoint, out.phase)
            if reply is not None:
                # The loop's timers may wake a little early: then time from the actual write instead.
                out.from_schedule.append(reply.done - min(due, reply.started))
            if conn is not None and not conn.closed:
                idle.append(conn)

    started = time.perf_counter() + 0.005
    try:
        for i in range(out.scheduled):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            out.lag_max = max(out.lag_max, time.perf_counter() - due)
            task = asyncio.create_task(send(due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    finally:
        for task in list(tasks):
            task.cancel()
        for conn in idle:
            conn.close()
    out.phase.elapsed = time.perf_counter() - started
    return out


async def count_loop(endpoint: Endpoint, concurrency: int, total: int) -> PhaseResult:
    """`concurrency` connections sending requests back to back until `total` were sent."""
    result = PhaseResult()
    sent = 0
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal sent
        conn: HttpConnection | None = None
        try:
            while sent < total:
                sent += 1
                conn = await _one(conn, endpoint, result)
        finally:
            if conn is not None:
                conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result


def rss_mib(pid: int) -> float:
    """Resident set size of a process (Linux /proc), in MiB; 0.0 where unavailable."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def memory_run(json_ep: Endpoint, stream_ep: Endpoint, pid: int, total: int, concurrency: int,
                     log: Callable[[str], None]) -> dict[str, Any]:  # fmt: skip
    """RSS of the gateway after 0, N/4, N/2 and N requests (every fifth one streamed), to show it is flat."""
    await count_loop(json_ep, 1, 200)  # warm-up: imports, caches and pools settle before the first reading
    readings = [{"requests": 0, "rss_mib": rss_mib(pid)}]
    done, errors = 0, 0
    for mark in (total // 4, total // 2, total):
        todo = mark - done
        streams = todo // 5
        for ep, n in ((json_ep, todo - streams), (stream_ep, streams)):
            result = await asyncio.wait_for(count_loop(ep, concurrency, n), max(PHASE_TIMEOUT, n / 50))
            errors += result.errors
        done = mark
        readings.append({"requests": done, "rss_mib": rss_mib(pid)})
        log(f"memory: {done:,} requests, gateway RSS {readings[-1]['rss_mib']:.1f} MiB, {errors} errors")
    return {"readings": readings, "errors": errors}


# --- statistics ------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summary_ms(values_s: Sequence[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values_s)
    if not ms:
        return {"n": 0}
    return {
        "n": len(ms),
        "min": ms[0],
        "mean": sum(ms) / len(ms),
        "p50": percentile(ms, 0.50),
        "p90": percentile(ms, 0.90),
        "p99": percentile(ms, 0.99),
        "p99.9": percentile(ms, 0.999),
        "max": ms[-1],
    }


# --- child processes -------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """preexec_fn: ask Linux to SIGKILL the child if this benchmark dies without cleaning up."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1


class Child:
    """A child in its own process group (so the whole group can be killed), output to files."""

    def __init__(self, name: str, argv: list[str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.stdout_path = log_dir / f"{name}.stdout"
        self.stderr_path = log_dir / f"{name}.stderr"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM the group (graceful shutdown), then SIGKILL whatever is left."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers in the group, if any
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        return self.proc.returncode


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc (Linux); 0.0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_times() -> dict[str, tuple[float, float, float]]:
    """Per-CPU (busy, idle, steal) seconds from /proc/stat, to spot other load on the machine
    (another test run, a noisy VM neighbour) that would skew a phase; {} where unavailable."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, tuple[float, float, float]] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/stat").read_text().splitlines():
            name, *values = line.split()
            if not name.startswith("cpu") or name == "cpu":
                continue
            v = [int(x) for x in values[:8]] + [0] * max(0, 8 - len(values))
            user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
            out[name] = ((user + nice + system + irq + softirq) / tick, (idle + iowait) / tick, steal / tick)
    return out


def cpu_busy_between(before: dict[str, tuple[float, float, float]], seconds: float) -> dict[str, dict[str, float]]:
    after = cpu_times()
    return {
        name: {"busy": (after[name][0] - b[0]) / seconds, "steal": (after[name][2] - b[2]) / seconds}
        for name, b in before.items()
        if name in after and seconds > 0
    }


class CpuMeter:
    """CPU used by the gateway, the upstream and this client over a phase, plus what the whole
    machine did: busy time not accounted to those three means something else was running."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._started = time.perf_counter()
        self._procs = {k: cpu_seconds(p) for k, p in pids.items()}
        self._client = time.process_time()
        self._machine = cpu_times()

    def read(self) -> dict[str, Any]:
        elapsed = time.perf_counter() - self._started
        cpu = {k: cpu_seconds(p) - self._procs[k] for k, p in self._pids.items()}
        cpu["client"] = time.process_time() - self._client
        machine = cpu_busy_between(self._machine, elapsed)
        other = sum(m["busy"] for m in machine.values()) - sum(cpu.values()) / elapsed if machine else None
        return {"seconds": elapsed, "cpu_seconds": cpu, "machine_cpu": machine, "unaccounted_busy_cores": other}


def disturbed(usage: dict[str, Any]) -> bool:
    """More than a quarter core busy outside our processes, or the hypervisor stealing >5%."""
    other = usage.get("unaccounted_busy_cores") or 0.0
    return other > 0.25 or any(v["steal"] > 0.05 for v in usage.get("machine_cpu", {}).values())


def wait_for_quiet(max_wait: float, log: Callable[[str], None]) -> float:
    """Wait (bounded) until the machine is idle, so another program's load does not skew the run.
    Returns the busy fraction of the last 2 s window."""
    deadline = time.monotonic() + max_wait
    while True:
        before = cpu_times()
        time.sleep(2.0)
        busy = sum(m["busy"] for m in cpu_busy_between(before, 2.0).values())
        if busy < 0.10 or time.monotonic() >= deadline:
            return busy
        log(f"machine busy ({100 * busy:.0f}% of a core outside this run); waiting for it to go quiet")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str, child: Child) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise BenchError(f"{child.name} exited with code {child.proc.returncode} while {what}", child)
        if check():
            return
        time.sleep(0.05)
    raise BenchError(f"timed out after {timeout:.0f} s {what}", child)


class BenchError(Exception):
    def __init__(self, message: str, child: Child | None = None) -> None:
        super().__init__(message)
        self.child = child


def onshore_command() -> list[str]:
    """The `onshore` script next to this interpreter (same venv), else `python -m onshore`."""
    script = Path(sys.executable).parent / "onshore"
    return [str(script)] if script.exists() else [sys.executable, "-m", "onshore"]


def pin(cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu)] if cpu is not None else []


def write_config(
    path: Path, data_dir: Path, port: int, upstream_port: int, durability: str, jwks_port: int | None = None
) -> None:
    q = json.dumps  # JSON strings are valid YAML double-quoted scalars
    classes = "\n".join(
        f"      {name}: {{jurisdictions: [JP]{', audit_content: digest' if digest else ''}}}"
        for name, digest in (
            ("public", True),
            ("internal", True),
            ("confidential", True),
            ("personal", False),
            ("special_care", False),
        )
    )
    path.write_text(
        f"gateway: {{host: {HOST}, port: {port}, data_dir: {q(str(data_dir))}, audit: {{durability: {durability}}}}}\n"
        "backends:\n"
        f"  local: {{kind: openai, base_url: {q(f'http://{HOST}:{upstream_port}/v1')}, jurisdiction: JP, "
        "region: bench, operator: Bench KK, operator_jurisdiction: JP, retention_days: 0, trains_on_inputs: false}\n"
        "models:\n"
        f"  {GATEWAY_MODEL}: {{routes: [{{backend: local, model: {UPSTREAM_MODEL}}}]}}\n"
        f"  {GATEWAY_MODEL_CHUNKS}: {{routes: [{{backend: local, model: {UPSTREAM_MODEL_CHUNKS}}}]}}\n"
        "tenants:\n"
        "  bench:\n"
        "    classes:\n"
        f"{classes}\n" + ("" if jwks_port is None else jwt_identity(jwks_port)),
        encoding="utf-8",
    )


# --- bearer JWTs: an issuer of our own, its JWKS served from this process (one fetch at start-up) -----
JWT_ISSUER = "https://idp.bench.example/"
JWT_AUDIENCE = "api://onshore-bench"


def jwt_identity(jwks_port: int) -> str:
    return (
        "identity:\n"
        "  oidc:\n"
        f"    bench-idp: {{issuer: {json.dumps(JWT_ISSUER)}, audience: {json.dumps(JWT_AUDIENCE)}, "
        f"jwks_url: {json.dumps(f'http://{HOST}:{jwks_port}/jwks.json')}, algorithms: [RS256], "
        "tenant: {fixed: bench}}\n"
    )


class JwtIssuer:
    """An RS256 key, a token signed with it (valid for the whole run), and its JWKS on a loopback port."""

    def __init__(self) -> None:
        from joserfc import jws
        from joserfc.jwk import RSAKey

        key = RSAKey.generate_key(2048, parameters={"kid": "bench-1", "use": "sig", "alg": "RS256"})
        now = int(time.time())
        claims = {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": "bench-app", "iat": now, "exp": now + 6 * 3600}
        self.token = jws.serialize_compact({"alg": "RS256", "kid": "bench-1"}, json.dumps(claims), key)
        body = json.dumps({"keys": [key.as_dict(private=False)]}).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def http_get_ok(port: int, path: str) -> bool:
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=1.0)
        try:
            conn.request("GET", path)
            return conn.getresponse().status == 200
        finally:
            conn.close()
    except OSError:
        return False


# --- optional tools: wrk and py-spy ------------------------------------------------------------------


def run_wrk(
    wrk: str, port: int, body: dict[str, Any], api_key: str | None, conc: int, dur: float, cpu: int | None, tmp: Path
) -> dict[str, Any]:
    script = tmp / f"wrk-{port}.lua"
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = {json.dumps(json.dumps(body, separators=(',', ':')))}",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    if api_key:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {api_key}"')
    script.write_text("\n".join(lines) + "\n")
    argv = [
        *pin(cpu),
        wrk,
        "-t1",
        f"-c{conc}",
        f"-d{max(1, round(dur))}s",
        "--latency",
        "-s",
        str(script),
        f"http://{HOST}:{port}/v1/chat/completions",
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=dur + 60, check=False).stdout
    result: dict[str, Any] = {"raw": out}
    for line in out.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            result["rps"] = float(words[1])
        elif "Non-2xx" in line:
            result["non_2xx"] = int(words[-1])
        elif line.strip().startswith("Socket errors"):
            result["socket_errors"] = line.strip()
        elif len(words) == 2 and words[0] in ("50%", "99%"):
            result[f"p{words[0][:-1]}"] = words[1]
    return result


def summarise_profile(raw_path: Path, top: int = 15) -> dict[str, Any]:
    """Collapsed stacks from `py-spy record --format raw` -> where the gateway's CPU goes: self time
    per component, per function, and inclusive time per function.

    Coroutine stacks start at the outermost coroutine (uvloop calls task steps from C), so inclusive
    time is meaningful for handlers and pipeline stages, not for `run_app`; `run_app`'s own samples
    are the event loop's C code (uvloop, socket syscalls)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    components: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack.strip() or not count_text.isdigit():
            continue
        count = int(count_text)
        raw_frames = [f for f in stack.split(";") if f]
        frames = [_frame_name(f) for f in raw_frames]
        total += count
        worker = raw_frames[0].startswith("Thread._bootstrap")
        threads["audit writer thread (SQLite)" if worker else "event loop thread"] += count
        own[frames[-1]] += count
        components[_component(frames[-1], worker)] += count
        for name in set(frames):
            inclusive[name] += count

    def table(counter: Counter[str], n: int = top) -> list[dict[str, Any]]:
        return [{"frame": k, "samples": v, "pct": 100 * v / total} for k, v in counter.most_common(n)]

    return {
        "samples": total,
        "threads": table(threads),
        "components": table(components, 25),
        "self": table(own),
        "inclusive": table(inclusive),
    }


def _component(frame: str, worker_thread: bool) -> str:
    """Bucket a leaf frame 'func (path)' into a coarse component."""
    func, _, path = frame.partition(" (")
    path = path.rstrip(")")
    if worker_thread:
        return "audit thread: " + ("SQLite write" if "store/" in path else "thread pool")
    if func == "run_app":
        return "event loop C code (uvloop, syscalls)"
    if path.startswith("aiohttp/"):
        name = path.removeprefix("aiohttp/")
        if name.startswith(("client", "connector")):
            return "aiohttp client (to upstream)"
        if name.startswith(("web", "http", "base_protocol", "streams", "helpers")):
            return "aiohttp server / HTTP"
        return "aiohttp other"
    if path.startswith("onshore/"):
        parts = path.removeprefix("onshore/").removesuffix(".py").split("/")
        return "onshore " + "/".join(parts[:2])
    if path.startswith("asyncio/"):
        return "asyncio (Python parts)"
    return path.split("/", 1)[0].removesuffix(".py") or "?"


def _frame_name(frame: str) -> str:
    """'handle (aiohttp/web_protocol.py:123)' -> 'handle (aiohttp/web_protocol.py)': merge lines of a function."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({_short(path)})" if path else name


def _short(path: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            tail = path.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker == "/lib/python3" and "/" in tail else tail
    return path


# --- the run -------------------------------------------------------------------------------------------


@dataclass
class Options:
    quick: bool
    json_path: Path | None
    concurrency: int
    latency_n: int
    latency_warmup: int
    stream_n: int
    duration: float
    tp_warmup: float
    gateway_cpu: int | None
    client_cpu: int | None
    durability: str
    wrk: bool
    py_spy: str | None
    profile_seconds: float
    profile_concurrency: int
    quiet_wait: float
    rounds: int
    keep: bool
    prompt: str
    jwt: bool = True
    memory: int = 0  # > 0: only the memory check, over this many requests
    open_rate: float = OPEN_LOOP_RATE  # open-loop phase: requests per second
    open_duration: float = 10.0  # seconds per open-loop round and path
    open_rounds: int = 2  # open-loop rounds per path, alternating (latencies pooled)
    server_ab: bool = True  # measure Onshore again with gateway.http_server: aiohttp
    client_ab: bool = False  # measure Onshore again with gateway.upstream.client: aiohttp
    litellm: Path | None = None  # LiteLLM's venv (default: the installer's, if present)
    portkey: Path | None = None  # the dir holding Portkey's node_modules (same)


def source_revision() -> str:
    """The commit measured, and whether src/ had uncommitted changes (read-only git queries)."""
    repo = BENCH_DIR.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "src"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + (" + uncommitted changes in src/" if dirty.stdout.strip() else "")


def machine_facts() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions: dict[str, str] = {}
    for module in ("onshore", "aiohttp", "uvloop", "msgspec"):
        try:
            versions[module] = str(__import__(module).__version__)
        except (ImportError, AttributeError):
            versions[module] = "?"
    return {
        "source": source_revision(),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        **{f"{k}_version": v for k, v in versions.items()},
    }


async def measure(opts: Options, direct: Endpoint, gateway: Endpoint, sdirect: Endpoint, sgateway: Endpoint,
                  pids: dict[str, int], log: Callable[[str], None], jwt: Endpoint | None = None,
                  chunked: tuple[Endpoint, Endpoint] | None = None) -> dict[str, Any]:  # fmt: skip
    """`chunked`: (direct, gateway) streaming endpoints answering STREAM_CHUNKS chunks, for the
    streaming throughput phase (skipped without)."""
    res: dict[str, Any] = {}

    async def bounded(coro: Any) -> Any:
        return await asyncio.wait_for(coro, PHASE_TIMEOUT)

    # Sanity: the gateway path really runs the pipeline (a receipt comes back) before measuring.
    check = await bounded(sequential(gateway, 1))
    if check.errors or RECEIPT_HEADER not in check.replies[0].head.lower():
        raise BenchError(f"gateway sanity request failed: {check.error_samples or check.replies[0].head!r}")
    scheck = await bounded(sequential(sgateway, 1))
    if (
        scheck.errors
        or b"data: [DONE]" not in scheck.replies[0].body
        or b"onshore-receipt" not in scheck.replies[0].body
    ):
        raise BenchError(f"gateway streaming sanity request failed: {scheck.error_samples or scheck.replies}")
    for ep in (direct, sdirect):
        c = await bounded(sequential(ep, 1))
        if c.errors:
            raise BenchError(f"direct sanity request failed: {c.error_samples}")
    for ep in chunked or ():
        c = await bounded(sequential(ep, 1))
        # Every content chunk plus [DONE] (the gateway adds its receipt event on top).
        body = c.replies[0].body if c.replies else b""
        if c.errors or b"data: [DONE]" not in body or body.count(b"data:") < STREAM_CHUNKS + 1:
            raise BenchError(f"{ep.name} {STREAM_CHUNKS}-chunk streaming sanity request failed: "
                             f"{c.error_samples or body[:600]!r}")  # fmt: skip

    # 1. Non-streaming latency at concurrency 1. The two paths alternate in blocks (A B B A ...)
    #    so drift over the run (frequency, neighbours) lands on both equally.
    log(f"latency c=1: {opts.latency_n} requests per path (+{opts.latency_warmup} warm-up)")
    for ep in (direct, gateway):
        await bounded(sequential(ep, opts.latency_warmup))
    lat = {"direct": PhaseResult(), "gateway": PhaseResult()}
    meter = CpuMeter(pids)  # the gateway idles while the direct blocks run
    blocks = 4
    for b in range(blocks):
        n = opts.latency_n // blocks + (1 if b < opts.latency_n % blocks else 0)
        order = (direct, gateway) if b % 2 == 0 else (gateway, direct)
        for ep in order:
            await bounded(sequential(ep, n, lat[ep.name]))
    usage = meter.read()
    res["latency_c1"] = {
        k: {"ms": summary_ms([r.latency for r in v.replies]), "errors": v.errors, "error_samples": v.error_samples}
        for k, v in lat.items()
    }
    answered = len(lat["gateway"].replies)
    gateway_cpu = usage["cpu_seconds"]["gateway"]
    res["latency_c1"]["gateway"]["gateway_cpu_us_per_request"] = 1e6 * gateway_cpu / answered if answered else None
    res["latency_c1"]["usage"] = usage

    # 1b. The same request with a bearer JWT (RS256, key cached) instead of the API key, alternating
    #     with the API-key path in blocks: what token verification adds.
    if jwt is not None:
        check = await bounded(sequential(jwt, 1))
        if check.errors or RECEIPT_HEADER not in check.replies[0].head.lower():
            raise BenchError(f"gateway JWT sanity request failed: {check.error_samples or check.replies[0].head!r}")
        log(f"latency c=1, API key vs bearer JWT: {opts.latency_n} requests per credential")
        await bounded(sequential(jwt, opts.latency_warmup))
        by_credential = {"api_key": PhaseResult(), "jwt": PhaseResult()}
        for b in range(blocks):
            n = opts.latency_n // blocks + (1 if b < opts.latency_n % blocks else 0)
            pair = ((gateway, "api_key"), (jwt, "jwt"))
            for ep, name in pair if b % 2 == 0 else pair[::-1]:
                await bounded(sequential(ep, n, by_credential[name]))
        res["latency_c1_jwt"] = {
            k: {"ms": summary_ms([r.latency for r in v.replies]), "errors": v.errors, "error_samples": v.error_samples}
            for k, v in by_credential.items()
        }

    # 2. Streaming: time to the first SSE data event, and to the end of the stream, concurrency 1.
    log(f"streaming c=1: {opts.stream_n} streams per path")
    for ep in (sdirect, sgateway):
        await bounded(sequential(ep, max(20, opts.latency_warmup // 4)))
    st = {"direct": PhaseResult(), "gateway": PhaseResult()}
    meter = CpuMeter(pids)
    for b in range(blocks):
        n = opts.stream_n // blocks + (1 if b < opts.stream_n % blocks else 0)
        for ep in (sdirect, sgateway) if b % 2 == 0 else (sgateway, sdirect):
            await bounded(sequential(ep, n, st["direct" if ep is sdirect else "gateway"]))
    res["stream_c1"] = {
        k: {
            "ttfb_ms": summary_ms([r.ttfb for r in v.replies]),
            "complete_ms": summary_ms([r.latency for r in v.replies]),
            "missing_first_data": sum(1 for r in v.replies if not r.first_data),
            "errors": v.errors,
            "error_samples": v.error_samples,
        }
        for k, v in st.items()
    }
    res["stream_c1"]["usage"] = meter.read()

    # 3. Throughput at concurrency N over a fixed duration, with CPU time per request per process.
    #    Several rounds, paths alternating, reporting the median round: one round on a shared VM
    #    can be off by tens of percent.
    res["throughput"] = await _throughput_rounds(opts, direct, gateway, pids, log, "throughput")

    # 3b. The same with streamed answers of STREAM_CHUNKS chunks: per-event relay cost at load.
    if chunked is not None:
        res["throughput_stream"] = await _throughput_rounds(
            opts, *chunked, pids, log, f"streaming throughput ({STREAM_CHUNKS} chunks)"
        )
        res["throughput_stream"]["chunks"] = STREAM_CHUNKS

    # 4. Open loop: non-streaming requests on a fixed schedule, so queueing shows in the tail.
    res["open_loop"] = await _open_loop_rounds(opts, direct, gateway, pids, log)
    return res


async def _throughput_rounds(opts: Options, direct: Endpoint, gateway: Endpoint, pids: dict[str, int],
                             log: Callable[[str], None], label: str) -> dict[str, Any]:  # fmt: skip
    """Closed loop at concurrency N, several rounds with the paths alternating; median round."""
    rounds: dict[str, list[tuple[PhaseResult, dict[str, Any]]]] = {"direct": [], "gateway": []}
    for r in range(opts.rounds):
        for ep in (direct, gateway) if r % 2 == 0 else (gateway, direct):
            log(
                f"{label} {ep.name} round {r + 1}/{opts.rounds}: c={opts.concurrency} for {opts.duration:g} s "
                f"(+{opts.tp_warmup:g} s warm-up)"
            )
            await asyncio.wait_for(closed_loop(ep, opts.concurrency, opts.tp_warmup), PHASE_TIMEOUT)
            meter = CpuMeter(pids)
            tp = await asyncio.wait_for(closed_loop(ep, opts.concurrency, opts.duration), PHASE_TIMEOUT)
            rounds[ep.name].append((tp, meter.read()))
    return {name: _throughput_summary(runs) for name, runs in rounds.items()}


async def _open_loop_rounds(opts: Options, direct: Endpoint, gateway: Endpoint, pids: dict[str, int],
                            log: Callable[[str], None]) -> dict[str, Any]:  # fmt: skip
    """Open loop at opts.open_rate, rounds alternating the paths (A B B A ...), latencies pooled."""
    runs: dict[str, list[tuple[OpenLoopResult, dict[str, Any]]]] = {"direct": [], "gateway": []}
    warmup = max(0.5, opts.tp_warmup)
    for r in range(opts.open_rounds):
        for ep in (direct, gateway) if r % 2 == 0 else (gateway, direct):
            log(
                f"open loop {ep.name} round {r + 1}/{opts.open_rounds}: {opts.open_rate:g} req/s for "
                f"{opts.open_duration:g} s (+{warmup:g} s warm-up)"
            )
            await asyncio.wait_for(open_loop(ep, opts.open_rate, warmup), PHASE_TIMEOUT)
            meter = CpuMeter(pids)
            ol = await asyncio.wait_for(open_loop(ep, opts.open_rate, opts.open_duration), PHASE_TIMEOUT)
            runs[ep.name].append((ol, meter.read()))
    out: dict[str, Any] = {"rate": opts.open_rate, "seconds": opts.open_duration, "rounds": opts.open_rounds}
    for name, results in runs.items():
        ok = sum(len(ol.from_schedule) for ol, _ in results)
        cpu: Counter[str] = Counter()
        for _, usage in results:
            cpu.update(usage["cpu_seconds"])
        out[name] = {
            "ms": summary_ms([v for ol, _ in results for v in ol.from_schedule]),  # from the scheduled send time
            "p99_rounds_ms": [summary_ms(ol.from_schedule).get("p99") for ol, _ in results],
            "scheduled": sum(ol.scheduled for ol, _ in results),
            "requests_ok": ok,
            "achieved_rps": [ol.scheduled / ol.phase.elapsed if ol.phase.elapsed else 0.0 for ol, _ in results],
            "send_lag_max_ms": 1000 * max(ol.lag_max for ol, _ in results),
            "connections_opened": max(ol.connections for ol, _ in results),
            "errors": sum(ol.phase.errors for ol, _ in results),
            "error_samples": [e for ol, _ in results for e in ol.phase.error_samples][:5],
            "cpu_us_per_request": {k: 1e6 * v / ok if ok else None for k, v in cpu.items()},
            "usage": [usage for _, usage in results],
        }
    return out


def _throughput_summary(runs: list[tuple[PhaseResult, dict[str, Any]]]) -> dict[str, Any]:
    rps = [len(tp.replies) / tp.elapsed for tp, _ in runs if tp.elapsed]
    ok = sum(len(tp.replies) for tp, _ in runs)
    seconds = sum(usage["seconds"] for _, usage in runs)
    cpu: Counter[str] = Counter()
    for _, usage in runs:
        cpu.update(usage["cpu_seconds"])
    samples = [e for tp, _ in runs for e in tp.error_samples][:5]
    return {
        "rps": sorted(rps)[len(rps) // 2] if rps else 0.0,  # median round (upper median if even)
        "rps_rounds": rps,
        "requests_ok": ok,
        "errors": sum(tp.errors for tp, _ in runs),
        "error_samples": samples,
        "latency_ms": summary_ms([r.latency for tp, _ in runs for r in tp.replies]),
        "cpu_us_per_request": {k: 1e6 * v / ok if ok else None for k, v in cpu.items()},
        "cpu_utilisation": {k: v / seconds if seconds else None for k, v in cpu.items()},
        "usage": [usage for _, usage in runs],
    }


async def profile_gateway(opts: Options, gateway: Endpoint, gateway_pid: int, tmp: Path,
                          log: Callable[[str], None]) -> dict[str, Any]:  # fmt: skip
    """A separate, extra load phase under py-spy, so the sampler never touches the reported numbers."""
    assert opts.py_spy is not None
    raw = tmp / "gateway-profile.txt"
    argv = [
        *pin(opts.client_cpu),
        opts.py_spy,
        "record",
        "--pid",
        str(gateway_pid),
        "--duration",
        str(max(1, round(opts.profile_seconds))),
        "--rate",
        "500",
        "--nonblocking",  # sample without pausing the gateway
        "--format",
        "raw",
        "--output",
        str(raw),
    ]
    log(f"profiling the gateway with py-spy for {opts.profile_seconds:g} s at c={opts.profile_concurrency}")
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await asyncio.sleep(0.5)  # let py-spy attach before the load starts
        load = await asyncio.wait_for(closed_loop(gateway, opts.concurrency, opts.profile_seconds + 1.0), PHASE_TIMEOUT)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if proc.returncode != 0 or not raw.exists():
        return {"error": f"py-spy exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}"}
    summary = summarise_profile(raw)
    summary["rps_under_profiler"] = len(load.replies) / load.elapsed if load.elapsed else 0.0
    summary["errors"] = load.errors
    summary["concurrency"] = opts.profile_concurrency
    if opts.keep:
        summary["raw_file"] = str(raw)
    return summary


def fmt_ms(v: float) -> str:
    return f"{v:.3f} ms" if v < 10 else f"{v:.1f} ms"


def fmt_delta(v: float) -> str:
    return ("+" if v >= 0 else "−") + fmt_ms(abs(v))


def markdown(results: dict[str, Any], opts: Options) -> str:
    lat = results["latency_c1"]
    st = results["stream_c1"]
    tp = results["throughput"]
    d, g = lat["direct"]["ms"], lat["gateway"]["ms"]
    rows: list[tuple[str, str, str, str]] = []
    for q in ("p50", "p99"):
        rows.append((f"Non-streaming latency, c=1, {q}", fmt_ms(d[q]), fmt_ms(g[q]), fmt_delta(g[q] - d[q])))
    for q in ("p50", "p99"):
        a, b = st["direct"]["ttfb_ms"][q], st["gateway"]["ttfb_ms"][q]
        rows.append((f"Streaming first data event, c=1, {q}", fmt_ms(a), fmt_ms(b), fmt_delta(b - a)))
    a, b = st["direct"]["complete_ms"]["p50"], st["gateway"]["complete_ms"]["p50"]
    rows.append(("Streaming whole answer (5 chunks), c=1, p50", fmt_ms(a), fmt_ms(b), fmt_delta(b - a)))
    c = opts.concurrency
    td, tg = tp["direct"], tp["gateway"]
    ratio = f"{100 * tg['rps'] / td['rps']:.0f}% of direct" if td["rps"] else "-"
    rows.append(
        (
            f"Throughput, c={c}, median of {opts.rounds} × {opts.duration:g} s",
            f"{td['rps']:,.0f} req/s",
            f"{tg['rps']:,.0f} req/s",
            ratio,
        )
    )
    for q in ("p50", "p99"):
        a, b = td["latency_ms"][q], tg["latency_ms"][q]
        rows.append((f"Latency under load, c={c}, {q}", fmt_ms(a), fmt_ms(b), fmt_delta(b - a)))
    ts = results.get("throughput_stream")
    if ts is not None:
        sd, sg = ts["direct"], ts["gateway"]
        rows.append(
            (
                f"Throughput, c={c}, streaming ({ts['chunks']} chunks), median of {opts.rounds} × {opts.duration:g} s",
                f"{sd['rps']:,.0f} req/s",
                f"{sg['rps']:,.0f} req/s",
                f"{100 * sg['rps'] / sd['rps']:.0f}% of direct" if sd["rps"] else "-",
            )
        )
    c1_cpu = lat["gateway"].get("gateway_cpu_us_per_request")
    if c1_cpu is not None:
        rows.append(("Gateway CPU per request, c=1", "-", f"{c1_cpu:,.0f} µs", ""))
    gw_cpu = tg["cpu_us_per_request"].get("gateway")
    gw_util = tg["cpu_utilisation"].get("gateway")
    if gw_cpu is not None:
        rows.append(
            (
                f"Gateway CPU per request, c={c}",
                "-",
                f"{gw_cpu:,.0f} µs",
                f"gateway core {100 * (gw_util or 0):.0f}% busy",
            )
        )
    if ts is not None:
        s_cpu = ts["gateway"]["cpu_us_per_request"].get("gateway")
        s_util = ts["gateway"]["cpu_utilisation"].get("gateway")
        if s_cpu is not None:
            rows.append(
                (
                    f"Gateway CPU per request, c={c}, streaming ({ts['chunks']} chunks)",
                    "-",
                    f"{s_cpu:,.0f} µs",
                    f"gateway core {100 * (s_util or 0):.0f}% busy",
                )
            )
    # Last, as in the issue's table: what queueing adds in the tail at a fixed offered load.
    ol = results.get("open_loop")
    if ol is not None:
        for q in ("p50", "p99"):
            a, b = ol["direct"]["ms"].get(q, float("nan")), ol["gateway"]["ms"].get(q, float("nan"))
            rows.append(
                (
                    f"Latency at an open-loop {ol['rate']:g} req/s (from scheduled send), {q}",
                    fmt_ms(a),
                    fmt_ms(b),
                    fmt_delta(b - a),
                )
            )
    errors_d = lat["direct"]["errors"] + st["direct"]["errors"] + td["errors"]
    errors_g = lat["gateway"]["errors"] + st["gateway"]["errors"] + tg["errors"]
    for extra in (ts, ol):
        if extra is not None:
            errors_d += extra["direct"]["errors"]
            errors_g += extra["gateway"]["errors"]
    rows.append(("Errors (all phases)", str(errors_d), str(errors_g), ""))
    if "wrk" in results:
        w = results["wrk"]
        wd, wg = w.get("direct", {}), w.get("gateway", {})
        if "rps" in wd and "rps" in wg:
            rows.append((f"Throughput by wrk, c={c}", f"{wd['rps']:,.0f} req/s", f"{wg['rps']:,.0f} req/s", ""))
    header = ("Measure", "Direct to upstream", "Through Onshore", "Onshore adds")
    lines = ["| " + " | ".join(header) + " |", "|---|---:|---:|---:|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def profile_text(profile: dict[str, Any]) -> str:
    if "error" in profile:
        return f"py-spy failed: {profile['error']}"
    out = [
        f"Gateway profile (py-spy, c={profile['concurrency']}, {profile['samples']} samples, "
        f"{profile['rps_under_profiler']:,.0f} req/s "
        f"while sampled, {profile['errors']} errors); % of on-CPU samples:"
    ]
    for title, key in (("by thread", "threads"), ("self time by component", "components"),
                       ("self time by function", "self"), ("inclusive time by function", "inclusive")):  # fmt: skip
        out.append(f"  {title}:")
        out += [f"    {row['pct']:5.1f}%  {row['frame']}" for row in profile[key]]
    return "\n".join(out)


# --- other gateways (optional): LiteLLM's proxy and Portkey's gateway, for comparison ------------------
# Installed by bench/others/install.sh into their own venv / node_modules outside the repo; never
# project dependencies. Each runs alone on the gateway's core against the same upstream, after Onshore.
OTHERS_ENV = "ONSHORE_BENCH_OTHERS"
OTHER_LABELS = {
    "onshore-aiohttp-server": "Onshore, aiohttp server",
    "onshore-aiohttp": "Onshore, aiohttp client",
    "litellm": "LiteLLM",
    "portkey": "Portkey",
}
AIOHTTP_SERVER = "onshore-aiohttp-server"  # Onshore again, model routes on aiohttp's server (issue 14's A/B)
AIOHTTP_CLIENT = "onshore-aiohttp"  # Onshore again, its backend calls on aiohttp's client (issue 14's A/B)
PORTKEY_START = Path("node_modules/@portkey-ai/gateway/build/start-server.js")
OTHERS_HINT = "LiteLLM / Portkey not installed: `make bench-others` installs them to compare (outside the repo)"


def others_home() -> Path:
    return Path(os.environ.get(OTHERS_ENV) or Path.home() / ".cache" / "onshore-bench-others")


def find_others(litellm: Path | None, portkey: Path | None, log: Callable[[str], None]) -> dict[str, Path]:
    """The installs present: the --litellm venv / --portkey dir if given, else the installer's defaults."""
    home = others_home()
    candidates = {
        "litellm": (litellm or home / "litellm", Path("bin/litellm"), litellm is not None),
        "portkey": (portkey or home / "portkey", PORTKEY_START, portkey is not None),
    }
    found: dict[str, Path] = {}
    for name, (root, entry, explicit) in candidates.items():
        usable = (root / entry).exists() and (name != "portkey" or shutil.which("node") is not None)
        if usable:
            found[name] = root
        elif explicit:  # asked for by flag: say why it is skipped rather than silently dropping it
            log(f"--{name} {root}: no {entry} there (or no node for Portkey); skipped")
    return found


def start_other(
    name: str, root: Path, tmp: Path, children: list[Child], cpu: int | None, upstream_port: int
) -> tuple[Child, int, dict[str, str]]:
    """Start one other gateway on a free port, pinned like Onshore; returns it, its port and the
    headers its requests need."""
    port = free_port()
    base = f"http://{HOST}:{upstream_port}/v1"
    headers: dict[str, str] = {}
    if name == "litellm":
        cfg = tmp / "litellm.yaml"
        q = json.dumps
        cfg.write_text(
            "model_list:\n"
            f"  - model_name: {UPSTREAM_MODEL}\n"
            f"    litellm_params: {{model: {q('openai/' + UPSTREAM_MODEL)}, api_base: {q(base)}, api_key: x}}\n"
            # No telemetry, no verbose logging, no spend logs: only the proxying is measured.
            "litellm_settings: {telemetry: false, set_verbose: false, drop_params: true}\n"
            "general_settings: {disable_spend_logs: true}\n",
            encoding="utf-8",
        )
        # `env` execs in place, so the pid measured is the proxy's; no DATABASE_URL = no database,
        # the local cost map = no fetch from the internet at start-up.
        env = ["env", "-u", "DATABASE_URL", "LITELLM_TELEMETRY=False", "LITELLM_LOCAL_MODEL_COST_MAP=True",
               "LITELLM_LOG=ERROR"]  # fmt: skip
        argv = [*env, str(root / "bin" / "litellm"), "--config", str(cfg), "--host", HOST, "--port", str(port),
                "--num_workers", "1"]  # fmt: skip
        health = "/health/liveliness"
    else:
        argv = ["node", str(root / PORTKEY_START), f"--port={port}", "--headless"]
        headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": base}
        health = "/"
    child = Child(name, [*pin(cpu), *argv], tmp)
    children.append(child)
    wait_until(lambda: http_get_ok(port, health), 120, f"waiting for {OTHER_LABELS[name]} on :{port}", child)
    return child, port, headers


async def measure_other(opts: Options, direct: Endpoint, sdirect: Endpoint, other: Endpoint, sother: Endpoint,
                        pids: dict[str, int], log: Callable[[str], None],
                        chunked: tuple[Endpoint, Endpoint] | None = None) -> dict[str, Any]:  # fmt: skip
    """Onshore's c=1 latency, c=1 streaming and c=N throughput phases, for one other gateway against
    direct calls measured alongside it (alternating blocks), so its "adds" is against its own direct."""
    res: dict[str, Any] = {}

    async def bounded(coro: Any) -> Any:
        return await asyncio.wait_for(coro, PHASE_TIMEOUT)

    check = await bounded(sequential(other, 1))
    if check.errors:
        raise BenchError(f"{other.name} sanity request failed: {check.error_samples}")
    scheck = await bounded(sequential(sother, 1))
    stream_ok = not scheck.errors and b"data: [DONE]" in scheck.replies[0].body
    if not stream_ok:  # a gateway whose streaming fails here still gets its other numbers
        log(f"{other.name}: streaming sanity request failed, streaming skipped: {scheck.error_samples}")
        res["stream_error"] = (scheck.error_samples or ["no [DONE]"])[0][:300]
    blocks = 4
    log(f"{other.name} latency c=1: {opts.latency_n} requests per path (+{opts.latency_warmup} warm-up)")
    for ep in (direct, other):
        await bounded(sequential(ep, opts.latency_warmup))
    lat = await interleaved(direct, other, opts.latency_n, blocks, bounded)
    res["latency_c1"] = {k: {"ms": summary_ms([r.latency for r in v.replies]), "errors": v.errors,
                             "error_samples": v.error_samples} for k, v in lat.items()}  # fmt: skip
    if stream_ok:
        log(f"{other.name} streaming c=1: {opts.stream_n} streams per path")
        for ep in (sdirect, sother):
            await bounded(sequential(ep, max(20, opts.latency_warmup // 4)))
        st = await interleaved(sdirect, sother, opts.stream_n, blocks, bounded)
        res["stream_c1"] = {k: {"ttfb_ms": summary_ms([r.ttfb for r in v.replies]), "errors": v.errors,
                                "error_samples": v.error_samples} for k, v in st.items()}  # fmt: skip
    # _throughput_rounds names its paths "direct" and "gateway"; the other gateway plays "gateway".
    as_gateway = Endpoint("gateway", other.port, other.raw)
    res["throughput"] = await _throughput_rounds(opts, direct, as_gateway, pids, log, f"{other.name} throughput")
    if chunked is not None:  # streams of STREAM_CHUNKS chunks at load, as Onshore's own phase 3b
        res["throughput_stream"] = await _throughput_rounds(
            opts, chunked[0], Endpoint("gateway", other.port, chunked[1].raw), pids, log, f"{other.name} streaming"
        )
    return res


def others_markdown(results: dict[str, Any], others: dict[str, Any], opts: Options) -> str:
    """Onshore's and the other gateways' overhead side by side; each "adds" is against the direct
    calls measured in alternating blocks with that gateway."""
    names = list(others)
    header = ["Measure", "Onshore adds"] + [c for n in names for c in (OTHER_LABELS[n], f"{OTHER_LABELS[n]} adds")]
    c = opts.concurrency

    def latency(res: dict[str, Any], phase: str, key: str, who: str, q: str) -> tuple[float, float] | None:
        p = res.get(phase)
        if p is None:
            return None
        return p[who][key][q], p["direct"][key][q]

    rows: list[list[str]] = []
    specs = [(f"Non-streaming latency, c=1, {q}", "latency_c1", "ms", q) for q in ("p50", "p99")]
    specs += [(f"Streaming first data event, c=1, {q}", "stream_c1", "ttfb_ms", q) for q in ("p50", "p99")]
    for title, phase, key, q in specs:
        own = latency(results, phase, key, "gateway", q)
        row = [title, fmt_delta(own[0] - own[1]) if own else "-"]
        for n in names:
            v = latency(others[n], phase, key, n, q)
            row += [fmt_ms(v[0]), fmt_delta(v[0] - v[1])] if v else ["failed", "-"]
        rows.append(row)

    def share(tp: dict[str, Any]) -> str:
        if not tp["direct"]["rps"]:
            return "-"
        pct = 100 * tp["gateway"]["rps"] / tp["direct"]["rps"]
        return f"{pct:.0f}% of direct" if pct >= 10 else f"{pct:.1f}% of direct"  # a bare "0%" says nothing

    row = [f"Throughput, c={c}, median of {opts.rounds} × {opts.duration:g} s", share(results["throughput"])]
    for n in names:
        row += [f"{others[n]['throughput']['gateway']['rps']:,.0f} req/s", share(others[n]["throughput"])]
    rows.append(row)
    for q in ("p50", "p99"):
        own_tp = results["throughput"]
        row = [f"Latency under load, c={c}, {q}",
               fmt_delta(own_tp["gateway"]["latency_ms"][q] - own_tp["direct"]["latency_ms"][q])]  # fmt: skip
        for n in names:
            tp = others[n]["throughput"]
            a, b = tp["gateway"]["latency_ms"].get(q), tp["direct"]["latency_ms"].get(q)
            row += [fmt_ms(a), fmt_delta(a - b)] if a is not None and b is not None else ["-", "-"]
        rows.append(row)
    row = [
        f"Gateway CPU per request, c={c}",
        f"{results['throughput']['gateway']['cpu_us_per_request'].get('gateway') or 0:,.0f} µs",
    ]
    for n in names:
        cpu = others[n]["throughput"]["gateway"]["cpu_us_per_request"].get(n)
        row += [f"{cpu:,.0f} µs" if cpu is not None else "-", ""]
    rows.append(row)
    own_stream = results.get("throughput_stream")
    if own_stream is not None and any("throughput_stream" in others[n] for n in names):
        row = [f"Streaming throughput, c={c}, {STREAM_CHUNKS} chunks", f"{own_stream['gateway']['rps']:,.0f} req/s"]
        cpu_row = [f"Gateway CPU per streamed request, c={c}",
                   f"{own_stream['gateway']['cpu_us_per_request'].get('gateway') or 0:,.0f} µs"]  # fmt: skip
        for n in names:
            ts = others[n].get("throughput_stream")
            row += [f"{ts['gateway']['rps']:,.0f} req/s", share(ts)] if ts else ["-", ""]
            cpu = ts["gateway"]["cpu_us_per_request"].get(n) if ts else None
            cpu_row += [f"{cpu:,.0f} µs" if cpu is not None else "-", ""]
        rows += [row, cpu_row]
    row = ["Errors (these phases)", ""]
    for n in names:
        o = others[n]
        errs = o["latency_c1"][n]["errors"] + o["throughput"]["gateway"]["errors"]
        errs += o["stream_c1"][n]["errors"] if "stream_c1" in o else 0
        errs += o["throughput_stream"]["gateway"]["errors"] if "throughput_stream" in o else 0
        row += [str(errs), ""]
    rows.append(row)
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def choose_cpus(
    gateway_cpu: int | None, client_cpu: int | None, log: Callable[[str], None]
) -> tuple[int | None, int | None]:
    """The (gateway, client) CPUs actually used: none without taskset or a second core. Pins this
    process (and so the upstream it starts) to the client CPU."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if shutil.which("taskset") is None or len(cores) < 2:
        log("note: taskset missing or fewer than 2 usable cores: no CPU pinning")
        gateway_cpu = client_cpu = None
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})  # the upstream inherits this; the gateway gets its own core
    return gateway_cpu, client_cpu


@dataclass
class Stack:
    """A running upstream and gateway, with what a benchmark needs to drive and check them."""

    upstream: Child
    upstream_port: int
    gateway: Child
    port: int
    config: Path
    data_dir: Path
    api_key: str
    onshore: list[str]


def start_stack(
    tmp: Path,
    children: list[Child],
    gateway_cpu: int | None,
    durability: str,
    log: Callable[[str], None],
    edit_config: Callable[[Path], None] | None = None,
    jwks_port: int | None = None,
) -> Stack:
    """Start the upstream, write the bench config (then `edit_config` it, if given), create a key
    and start `onshore serve` pinned to `gateway_cpu`. Children are appended as they start, so the
    caller's cleanup stops them whatever fails."""
    # Upstream: port 0, it reports the port it got.
    upstream = Child("upstream", [sys.executable, str(BENCH_DIR / "upstream_server.py"), "--port", "0"], tmp)
    children.append(upstream)
    wait_until(lambda: upstream.stdout().startswith("READY "), 15, "starting the upstream", upstream)
    upstream_port = int(upstream.stdout().split()[1])

    # Gateway: config, a key, then `onshore serve` pinned to its own core.
    data_dir = tmp / "data"
    data_dir.mkdir()
    config = tmp / "onshore.yaml"
    port = free_port()
    write_config(config, data_dir, port, upstream_port, durability, jwks_port)
    if edit_config is not None:
        edit_config(config)
    onshore = onshore_command()
    created = subprocess.run(
        [*onshore, "keys", "create", "--tenant", "bench", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if created.returncode != 0 or not created.stdout.strip():
        raise BenchError(f"`onshore keys create` failed ({created.returncode}):\n{created.stderr}")
    api_key = created.stdout.strip().splitlines()[-1]
    gateway = Child("gateway", [*pin(gateway_cpu), *onshore, "serve", "--config", str(config)], tmp)
    children.append(gateway)
    wait_until(lambda: http_get_ok(port, "/healthz"), 60, "waiting for the gateway's /healthz", gateway)
    log(f"upstream on :{upstream_port} (pid {upstream.pid}), gateway on :{port} (pid {gateway.pid})")
    return Stack(upstream, upstream_port, gateway, port, config, data_dir, api_key, onshore)


def audit_verify(onshore: list[str], config: Path) -> subprocess.CompletedProcess[str]:
    """`onshore audit verify` on a stopped gateway's data (it seals the chain on a clean stop)."""
    return subprocess.run(
        [*onshore, "audit", "verify", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run(opts: Options, argv: list[str]) -> int:
    log = _logger()
    facts = machine_facts()
    opts.gateway_cpu, opts.client_cpu = choose_cpus(opts.gateway_cpu, opts.client_cpu, log)

    idle = wait_for_quiet(opts.quiet_wait, log) if opts.quiet_wait > 0 else None
    if idle is not None and idle >= 0.10:
        log(f"WARNING: the machine is still busy ({100 * idle:.0f}% of a core); starting anyway")
    tmp = Path(tempfile.mkdtemp(prefix="onshore-bench-"))
    children: list[Child] = []
    gateway_child: Child | None = None
    issuer = JwtIssuer() if opts.jwt else None
    try:
        stack = start_stack(
            tmp, children, opts.gateway_cpu, opts.durability, log, jwks_port=issuer.port if issuer else None
        )
        gateway_child, upstream = stack.gateway, stack.upstream
        upstream_port, port, api_key = stack.upstream_port, stack.port, stack.api_key
        config, onshore = stack.config, stack.onshore

        messages = MESSAGES if opts.prompt == "plain" else [{"role": "user", "content": PERSONAL}]
        body = {"model": GATEWAY_MODEL, "messages": messages}
        direct_body = {**body, "model": UPSTREAM_MODEL}
        # Streaming asks for usage on both paths, so the upstream does the same work either way.
        stream_extra = {"stream": True, "stream_options": {"include_usage": True}}
        direct = Endpoint("direct", upstream_port, build_request(upstream_port, direct_body, None))
        gateway = Endpoint("gateway", port, build_request(port, body, api_key))
        sdirect = Endpoint("direct", upstream_port, build_request(upstream_port, {**direct_body, **stream_extra}, None))
        sgateway = Endpoint("gateway", port, build_request(port, {**body, **stream_extra}, api_key))
        chunked = (
            Endpoint(
                "direct",
                upstream_port,
                build_request(upstream_port, {**direct_body, **stream_extra, "model": UPSTREAM_MODEL_CHUNKS}, None),
            ),
            Endpoint(
                "gateway", port, build_request(port, {**body, **stream_extra, "model": GATEWAY_MODEL_CHUNKS}, api_key)
            ),
        )
        pids = {"gateway": gateway_child.pid, "upstream": upstream.pid}

        jwt = Endpoint("gateway", port, build_request(port, body, issuer.token)) if issuer else None
        if opts.memory:
            memory = _run_loop(memory_run(gateway, sgateway, gateway_child.pid, opts.memory, opts.concurrency, log))
            print(f"\nGateway RSS over {opts.memory:,} requests (c={opts.concurrency}, every fifth streamed), "
                  f"source {facts['source']}:\n")  # fmt: skip
            print("| requests | RSS |\n|---:|---:|")
            for reading in memory["readings"]:
                print(f"| {reading['requests']:,} | {reading['rss_mib']:.1f} MiB |")
            print(f"\nErrors: {memory['errors']}")
            if opts.json_path:
                opts.json_path.write_text(json.dumps({"machine": facts, "memory": memory}, indent=2) + "\n")
            return 1 if memory["errors"] else 0
        results = _run_loop(measure(opts, direct, gateway, sdirect, sgateway, pids, log, jwt, chunked))
        if opts.wrk:
            wrk = shutil.which("wrk")
            if wrk is None:
                log("--wrk: wrk is not installed; skipped")
                results["wrk"] = {"skipped": "wrk not installed"}
            else:
                log(f"wrk: c={opts.concurrency} for {opts.duration:g} s per path")
                results["wrk"] = {
                    "direct": run_wrk(
                        wrk, upstream_port, direct_body, None, opts.concurrency, opts.duration, opts.client_cpu, tmp
                    ),
                    "gateway": run_wrk(wrk, port, body, api_key, opts.concurrency, opts.duration, opts.client_cpu, tmp),
                }
        if opts.py_spy:
            results["profile"] = _run_loop(profile_gateway(opts, gateway, gateway_child.pid, tmp, log))

        # Stop the gateway cleanly (it seals the audit chain), then verify the chain it wrote.
        code = gateway_child.stop()
        verify = audit_verify(onshore, config)
        results["audit_verify"] = (verify.stdout + verify.stderr).strip()
        results["gateway_answered"] = {
            "non_streaming": gateway.answered,
            "streaming": sgateway.answered + chunked[1].answered,
        }
        results["gateway_exit_code"] = code
        results["gateway_stderr"] = gateway_child.stderr()[-4000:]

        # Onshore again with one part on aiohttp (same config otherwise, same data and key): the A/Bs
        # of issue 14's lean server and lean client, measured like the other gateways below.
        results["others"] = {}
        plain_config = config.read_text()
        variants = [(AIOHTTP_SERVER, "http_server: aiohttp", opts.server_ab)]
        variants.append((AIOHTTP_CLIENT, "upstream: {client: aiohttp}", opts.client_ab))
        for name, setting, wanted in variants:
            if not wanted:
                continue
            config.write_text(plain_config.replace("gateway: {", f"gateway: {{{setting}, ", 1))
            ab = Child(name, [*pin(opts.gateway_cpu), *onshore, "serve", "--config", str(config)], tmp)
            children.append(ab)
            wait_until(lambda: http_get_ok(port, "/healthz"), 60, f"waiting for {OTHER_LABELS[name]}", ab)
            log(f"{OTHER_LABELS[name]} on :{port} (pid {ab.pid})")
            ab_json = Endpoint(name, port, gateway.raw)
            ab_stream = Endpoint(name, port, sgateway.raw)
            ab_pids = {name: ab.pid, "upstream": upstream.pid}
            results["others"][name] = _run_loop(
                measure_other(opts, direct, sdirect, ab_json, ab_stream, ab_pids, log, chunked)
            )
            ab.stop()
            verify = audit_verify(onshore, config)
            results["others"][name]["audit_verify"] = (verify.stdout + verify.stderr).strip()
        config.write_text(plain_config)
        found = find_others(opts.litellm, opts.portkey, log)
        # Other gateways, one at a time on the core Onshore had (now stopped), same upstream.
        for name, root in found.items():
            ochild, oport, headers = start_other(name, root, tmp, children, opts.gateway_cpu, upstream_port)
            log(f"{OTHER_LABELS[name]} on :{oport} (pid {ochild.pid}) from {root}")
            other = Endpoint(name, oport, build_request(oport, direct_body, "x", headers=headers))
            sother = Endpoint(name, oport, build_request(oport, {**direct_body, **stream_extra}, "x", headers=headers))
            opids = {name: ochild.pid, "upstream": upstream.pid}
            results["others"][name] = _run_loop(measure_other(opts, direct, sdirect, other, sother, opids, log))
            ochild.stop()

        report = {
            "command": shlex.join(["python", _display_path(Path(__file__)), *argv]),
            "machine": facts,
            "setup": {
                "gateway_cpu": opts.gateway_cpu,
                "client_and_upstream_cpu": opts.client_cpu,
                "audit_durability": opts.durability,
                "concurrency": opts.concurrency,
                "latency_requests": opts.latency_n,
                "stream_requests": opts.stream_n,
                "throughput_seconds": opts.duration,
                "throughput_rounds": opts.rounds,
                "stream_throughput_chunks": STREAM_CHUNKS,
                "open_loop_rate": opts.open_rate,
                "open_loop_seconds": opts.open_duration,
                "open_loop_rounds": opts.open_rounds,
                "quick": opts.quick,
            },
            "results": results,
        }
        print_report(report, opts)
        if opts.json_path:
            opts.json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
            log(f"JSON written to {opts.json_path}")
        return 0
    except BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        child = exc.child or gateway_child
        if child is not None:
            print(f"--- {child.name} stderr ({child.stderr_path}) ---\n{child.stderr()}", file=sys.stderr)
        return 1
    finally:
        for child in reversed(children):
            child.stop()
        if issuer is not None:
            issuer.close()
        if opts.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def print_report(report: dict[str, Any], opts: Options) -> None:
    m, s, r = report["machine"], report["setup"], report["results"]
    print()
    print(f"Command: `{report['command']}` (source {m['source']})")
    print(
        f"Machine: {m['nproc']} × {m['cpu_model']}, Linux {m['kernel']}, {m['implementation']} {m['python']}, "
        f"onshore {m['onshore_version']}, aiohttp {m['aiohttp_version']}, uvloop {m['uvloop_version']}"
    )
    placement = (
        f"gateway (1 process) pinned to CPU {s['gateway_cpu']}; upstream + load generator on CPU "
        f"{s['client_and_upstream_cpu']}"
        if s["gateway_cpu"] is not None
        else "no CPU pinning"
    )
    print(
        f"Setup: {placement}; audit durability {s['audit_durability']}; c=1 latency over {s['latency_requests']} "
        f"requests/path, {s['stream_requests']} streams/path; c={s['concurrency']} for "
        f"{s['throughput_rounds']} × {s['throughput_seconds']:g} s per path (JSON, then streams of "
        f"{s['stream_throughput_chunks']} chunks); open loop {s['open_loop_rate']:g} req/s for "
        f"{s['open_loop_rounds']} × {s['open_loop_seconds']:g} s per path"
    )
    print()
    print(markdown(r, opts))
    print()
    if r.get("others"):
        print("Compared with other gateways, and with Onshore on aiohttp's server or client (each alone on the")
        print("gateway's core after Onshore, same upstream):")
        print()
        print(others_markdown(r, r["others"], opts))
        for name, o in r["others"].items():
            if "stream_error" in o:
                print(f"{OTHER_LABELS[name]} streaming failed on this upstream: {o['stream_error']}")
        print()
    else:
        print(OTHERS_HINT)
        print()
    tp = r["throughput"]
    closed = [("throughput", tp)]
    if "throughput_stream" in r:
        closed.append((f"streaming throughput ({r['throughput_stream']['chunks']} chunks)", r["throughput_stream"]))
    for title, phase in closed:
        for name in ("direct", "gateway"):
            util = ", ".join(f"{k} {100 * v:.0f}%" for k, v in phase[name]["cpu_utilisation"].items() if v is not None)
            per = ", ".join(f"{k} {v:,.0f} µs" for k, v in phase[name]["cpu_us_per_request"].items() if v is not None)
            spread = ", ".join(f"{v:,.0f}" for v in phase[name]["rps_rounds"])
            print(f"{name.capitalize()} {title} per round (req/s): {spread}; median reported")
            print(f"CPU during {name} {title}: busy {util}; per request {per}")
    ol = r.get("open_loop")
    if ol is not None:
        for name in ("direct", "gateway"):
            o = ol[name]
            sent = ", ".join(f"{v:,.0f}" for v in o["achieved_rps"])
            per = ", ".join(f"{k} {v:,.0f} µs" for k, v in o["cpu_us_per_request"].items() if v is not None)
            print(
                f"{name.capitalize()} open loop at {ol['rate']:g} req/s: sent at {sent} req/s, "
                f"{o['requests_ok']:,}/{o['scheduled']:,} answered, worst send lag {fmt_ms(o['send_lag_max_ms'])}, "
                f"{o['connections_opened']} connections; CPU per request {per}"
            )
    phases = [("c=1 latency", r["latency_c1"]["usage"]), ("c=1 streaming", r["stream_c1"]["usage"])]
    for title, phase in closed:
        for name in ("direct", "gateway"):
            phases += [(f"{name} {title} #{i + 1}", u) for i, u in enumerate(phase[name]["usage"])]
    if ol is not None:
        for name in ("direct", "gateway"):
            phases += [(f"{name} open loop #{i + 1}", u) for i, u in enumerate(ol[name]["usage"])]
    for title, usage in phases:
        cores = ", ".join(
            f"{k} {100 * v['busy']:.0f}% busy, {100 * v['steal']:.0f}% steal" for k, v in usage["machine_cpu"].items()
        )
        other = usage["unaccounted_busy_cores"] or 0.0
        print(f"Machine during {title}: {cores}; outside this run: {100 * other:.0f}% of a core")
        if disturbed(usage):
            print(f"  WARNING: other load or VM steal during {title}; its numbers are not clean, rerun")
    if "latency_c1_jwt" in r:
        k, j = r["latency_c1_jwt"]["api_key"]["ms"], r["latency_c1_jwt"]["jwt"]["ms"]
        print(
            f"Bearer JWT (RS256, cached key) instead of an API key, c=1: p50 {fmt_ms(k['p50'])} → "
            f"{fmt_ms(j['p50'])} ({fmt_delta(j['p50'] - k['p50'])}), p99 {fmt_ms(k['p99'])} → {fmt_ms(j['p99'])} "
            f"({fmt_delta(j['p99'] - k['p99'])}); errors {r['latency_c1_jwt']['jwt']['errors']}"
        )
    answered = r["gateway_answered"]
    print(
        f"Audit after the run: {r['audit_verify']} (gateway answered {answered['non_streaming']:,} "
        f"non-streaming + {answered['streaming']:,} streaming requests)"
    )
    for phase in ("latency_c1", "stream_c1", "throughput", "throughput_stream", "open_loop"):
        for name in ("direct", "gateway"):
            samples = r.get(phase, {}).get(name, {}).get("error_samples")
            if samples:
                print(f"Errors in {phase}/{name}: {samples}")
    if r.get("gateway_stderr", "").strip():
        print(f"Gateway stderr (tail):\n{r['gateway_stderr']}")
    if "profile" in r:
        print()
        print(profile_text(r["profile"]))


def _display_path(path: Path) -> str:
    """The script path as typed from the repo root, not this machine's absolute path."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return f"bench/{path.name}"


def _run_loop(coro: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


def _logger() -> Callable[[str], None]:
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    return log


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through run()'s finally, which stops the children


def parse_args(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (fewer requests, 3 s throughput phases)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON here")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, help="c=1 non-streaming requests per path")
    parser.add_argument("--streams", type=int, help="c=1 streaming requests per path")
    parser.add_argument("--duration", type=float, help="seconds per throughput phase")
    parser.add_argument("--rounds", type=int, help="throughput rounds per path (median reported)")
    parser.add_argument(
        "--open-rate", type=float, default=OPEN_LOOP_RATE, help="open-loop phase: requests per second (on schedule)"
    )
    parser.add_argument("--open-duration", type=float, help="seconds per open-loop round and path")
    parser.add_argument("--gateway-cpu", type=int, default=1)
    parser.add_argument("--client-cpu", type=int, default=0, help="CPU for the load generator and the upstream")
    parser.add_argument("--durability", choices=("normal", "full"), default="normal", help="gateway audit durability")
    parser.add_argument("--wrk", action="store_true", help="also measure throughput with wrk, if installed")
    parser.add_argument("--py-spy", metavar="PATH", help="py-spy binary: profile the gateway in an extra load phase")
    parser.add_argument("--profile-seconds", type=float, default=8.0)
    parser.add_argument("--profile-concurrency", type=int, help="load while profiling (default: --concurrency)")
    parser.add_argument(
        "--quiet-wait", type=float, default=120.0, help="wait up to S seconds for an idle machine before starting"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (config, data, logs, profile)")
    parser.add_argument(
        "--prompt",
        choices=("plain", "personal"),
        default="plain",
        help="plain English, or Japanese with personal data (exercises detection on every request)",
    )
    parser.add_argument(
        "--no-jwt", action="store_true", help="skip the bearer-JWT phase (c=1, RS256, cached key, vs the API key)"
    )
    parser.add_argument(
        "--memory",
        type=int,
        nargs="?",
        const=40_000,
        default=0,
        metavar="N",
        help="only the memory check: gateway RSS at 0, N/4, N/2 and N requests (N default 40,000; "
        "the issue's full check is --memory 1000000)",
    )
    parser.add_argument(
        "--no-server-ab",
        action="store_true",
        help="skip measuring Onshore a second time with its model routes on aiohttp's server",
    )
    parser.add_argument(
        "--client-ab",
        action="store_true",
        help="also measure Onshore with aiohttp's client to the upstream (the lean client's A/B)",
    )
    parser.add_argument(
        "--litellm", type=Path, metavar="VENV", help="LiteLLM's venv (default: bench/others/install.sh's)"
    )
    parser.add_argument("--portkey", type=Path, metavar="DIR", help="dir with Portkey's node_modules (same default)")
    a = parser.parse_args(argv)
    sizes = QUICK if a.quick else FULL
    return Options(
        quick=a.quick,
        json_path=a.json,
        concurrency=max(1, a.concurrency),
        latency_n=max(4, a.requests or int(sizes["latency_n"])),
        latency_warmup=int(sizes["latency_warmup"]),
        stream_n=max(4, a.streams or int(sizes["stream_n"])),
        duration=min(600.0, max(0.5, a.duration or sizes["duration"])),
        tp_warmup=sizes["tp_warmup"],
        gateway_cpu=a.gateway_cpu,
        client_cpu=a.client_cpu,
        durability=a.durability,
        wrk=a.wrk,
        py_spy=a.py_spy,
        profile_seconds=min(120.0, max(1.0, a.profile_seconds)),
        profile_concurrency=max(1, a.profile_concurrency or a.concurrency),
        quiet_wait=min(600.0, max(0.0, a.quiet_wait)),
        rounds=min(20, max(1, a.rounds or int(sizes["rounds"]))),
        keep=a.keep,
        prompt=a.prompt,
        jwt=not a.no_jwt and not a.memory,
        memory=max(0, a.memory or 0),
        open_rate=min(20_000.0, max(1.0, a.open_rate)),
        open_duration=min(600.0, max(0.5, a.open_duration or sizes["open_duration"])),
        open_rounds=min(20, max(1, int(sizes["open_rounds"]))),
        server_ab=not a.no_server_ab and not a.memory,
        client_ab=a.client_ab and not a.memory,
        litellm=a.litellm,
        portkey=a.portkey,
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, _terminate)
    return run(parse_args(args), args)


if __name__ == "__main__":
    sys.exit(main())
