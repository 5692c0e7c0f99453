"""Soak benchmark: the gateway at 80% of its measured maximum for minutes, nothing lost, nothing leaking.

Usage: python bench/soak_bench.py [--minutes 10] [--rate R] [--json FILE]

One run starts the same stack as bench/gateway_bench.py (the cheap upstream, then `onshore serve`
pinned to its own core with the whole pipeline on: keys, policy, personal-data scan, SQLite audit,
signed receipts), plus a second backend that retains data, so the policy pseudonymises what goes
there. Then:

1. probe: closed loop at c=32 with the soak's request mix for --probe-seconds, which gives the
   maximum rate (skipped with --rate);
2. soak: open loop at --load (80%) of that rate for --minutes: requests are sent on schedule
   whether or not earlier ones have answered. The mix: --stream-fraction streamed, the rest not;
   --personal-fraction of the prompts carry Japanese personal data (a name, a My Number with a
   valid check digit, a mobile number, an address; different values per request) and go to the
   retaining backend, so protect and restore run on them. Every answer is checked: HTTP 200, a
   receipt (the header, or for a stream the final receipt comment then `data: [DONE]`), and the
   upstream's exact text after restoration;
3. every --sample-seconds: the gateway's RSS, open file descriptors and threads (from /proc), and
   per window the requests, errors, p50/p99 latency and how busy the machine was outside this run;
4. the end: SIGTERM to the gateway, `onshore audit verify`, and the audit records counted by kind
   against what was sent (one record per request, stream_open + stream_close per stream, one
   pseudonymised record per personal-data request).

It exits non-zero on any error, a failed verify, a record count that differs, an unclean exit, a
load generator that fell behind, an RSS slope (least squares, after --warmup) above
--max-rss-slope MB/min, or descriptors that grow: sockets from the client and to the upstream are
pools, bounded by the client's --connections (a leak breaks the bound), and every other descriptor
(files, pipes, the database) must not grow faster than --max-fd-slope per minute. The total's
start, end and slope are printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shlex
import shutil
import signal
import sys
import tempfile
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway_bench import (
    GATEWAY_MODEL,
    RECEIPT_HEADER,
    UPSTREAM_MODEL,
    BenchError,
    Child,
    CpuMeter,
    HttpConnection,
    Reply,
    Stack,
    _display_path,
    _logger,
    _run_loop,
    _terminate,
    audit_verify,
    build_request,
    choose_cpus,
    disturbed,
    machine_facts,
    percentile,
    start_stack,
    wait_for_quiet,
)
from onshore.protect.checksums import my_number_check_digit
from upstream_server import RESP_COMPLETION, RESP_STREAM

PSEUDO_MODEL = "bench-pseudonymised"
RETAINING = "retaining"  # a backend that keeps data 30 days: the personal rule pseudonymises for it
VARIANTS = 2048  # distinct prebuilt requests per kind: values differ, so no cache can hide a leak
PERSONAL_TYPES = {"person_name", "my_number", "phone", "address"}  # what every personal prompt holds
MAX_IN_FLIGHT = 2000  # an open loop that reaches this means the gateway is not keeping up
POOL_SLACK = 8  # sockets a pool may hold beyond the client's connections: ones being closed
NAMES = ("山田太郎", "佐藤花子", "鈴木一郎", "田中美咲", "高橋健太", "伊藤由美", "渡辺翔", "中村陽子")
ADDRESSES = (
    "東京都千代田区丸の内1-2-3",
    "大阪府大阪市北区梅田2-4-9",
    "福岡県福岡市中央区天神1-8-1",
    "北海道札幌市中央区北一条西2-1",
    "愛知県名古屋市中区栄3-5-12",
)


# --- the request mix ---------------------------------------------------------------------------------


def my_number(n: int) -> str:
    """A distinct 12-digit individual number with a valid check digit (so the detector counts it)."""
    first11 = f"{(n * 7_919_993 + 314_159_265) % 10**11:011d}"
    return first11 + str(my_number_check_digit(first11))


def personal_prompt(n: int) -> str:
    return (
        f"{NAMES[n % len(NAMES)]}様（マイナンバー {my_number(n)}、電話 090-{(n * 37) % 10000:04d}-"
        f"{n % 10000:04d}、住所 {ADDRESSES[n % len(ADDRESSES)]}）への返信文を書いてください。"
    )


def plain_prompt(n: int) -> str:
    return f"Hello, how are you? This is soak message number {n}."


@dataclass(frozen=True, slots=True)
class Kind:
    stream: bool
    personal: bool


KINDS = tuple(Kind(s, p) for s in (False, True) for p in (False, True))


def build_variants(port: int, api_key: str) -> dict[Kind, list[bytes]]:
    """Every request prebuilt as bytes (as gateway_bench does): the client's CPU goes to sending."""
    out: dict[Kind, list[bytes]] = {}
    for kind in KINDS:
        model = PSEUDO_MODEL if kind.personal else GATEWAY_MODEL
        prompt = personal_prompt if kind.personal else plain_prompt
        extra = {"stream": True} if kind.stream else {}
        out[kind] = [
            build_request(
                port, {"model": model, "messages": [{"role": "user", "content": prompt(i)}], **extra}, api_key
            )
            for i in range(VARIANTS)
        ]
    return out


def sse_text(body: bytes) -> str:
    """The concatenated `delta.content` of every `data: {...}` event in an SSE body."""
    parts: list[str] = []
    for line in body.split(b"\n"):
        if line.startswith(b"data: {"):
            for choice in json.loads(line[6:]).get("choices") or []:
                parts.append((choice.get("delta") or {}).get("content") or "")
    return "".join(parts)


# What the upstream says; the gateway must pass it on exactly (after restoring placeholders, of which
# this fixed answer has none: restoration runs, and must not change it).
EXPECTED_TEXT = json.loads(RESP_COMPLETION.split(b"\r\n\r\n", 1)[1])["choices"][0]["message"]["content"]
EXPECTED_STREAM_TEXT = sse_text(RESP_STREAM)


def problem(reply: Reply, kind: Kind) -> str | None:
    """Why this reply is not a complete, receipted answer with the upstream's text; None if it is."""
    if reply.status != 200:
        return f"HTTP {reply.status}: {reply.body[:300]!r}"
    if kind.stream:
        if b"onshore-receipt " not in reply.body or not reply.body.endswith(b"data: [DONE]\n\n"):
            return f"stream without its final receipt and [DONE]: ...{reply.body[-300:]!r}"
        text = sse_text(reply.body)
        expected = EXPECTED_STREAM_TEXT
    else:
        if RECEIPT_HEADER not in reply.head.lower():
            return "answer without an Onshore-Receipt header"
        text = json.loads(reply.body)["choices"][0]["message"]["content"]
        expected = EXPECTED_TEXT
    return None if text == expected else f"answer text changed: {text!r}"


# --- the load ----------------------------------------------------------------------------------------


@dataclass
class Window:
    """What happened since the last sample."""

    latencies: array[float] = field(default_factory=lambda: array("d"))  # from when each request was due
    errors: int = 0
    lag_max: float = 0.0  # how late the open loop sent a request, at worst


class Load:
    """Sends the mix on a fixed pool of keep-alive connections and checks every answer. Both the
    closed-loop probe and the open-loop soak go through `one`, so they measure the same thing.

    The pool is fixed (as in wrk2), so the gateway's descriptor count measures the gateway, not the
    client's bursts; a request due while every connection is busy waits for one, and its latency
    counts from when it was due (no coordinated omission). Connections are reused in turn (FIFO),
    so none idles into the server's keep-alive timeout while the load runs."""

    def __init__(self, port: int, variants: dict[Kind, list[bytes]], mix_seed: int, stream_fraction: float,
                 personal_fraction: float, timeout: float, connections: int) -> None:  # fmt: skip
        self._port = port
        self._variants = variants
        self._rng = random.Random(mix_seed)
        self._stream_fraction = stream_fraction
        self._personal_fraction = personal_fraction
        self._timeout = timeout
        self._idle: deque[HttpConnection] = deque()
        self._slots = asyncio.Semaphore(connections)
        self._n = 0
        self.in_flight = 0
        self.sent: Counter[Kind] = Counter()  # written to the gateway, by kind
        self.answered = 0
        self.errors = 0
        self.error_samples: list[str] = []
        self.not_sent = 0  # open loop: dropped at MAX_IN_FLIGHT (counted as errors)
        self.window = Window()
        self.all_latencies: array[float] = array("d")  # from when due: what a caller would see
        self.service_latencies: array[float] = array("d")  # from the write to the last byte

    def error(self, message: str) -> None:
        self.errors += 1
        self.window.errors += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(message)

    def next_kind(self) -> Kind:
        return Kind(self._rng.random() < self._stream_fraction, self._rng.random() < self._personal_fraction)

    async def _connection(self) -> HttpConnection:
        while self._idle:
            conn = self._idle.popleft()
            if not conn.closed:
                return conn
            conn.close()
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(lambda: HttpConnection(loop), "127.0.0.1", self._port)
        return protocol

    def close_all(self) -> None:
        while self._idle:
            self._idle.pop().close()

    async def one(self, kind: Kind | None = None, due: float | None = None) -> None:
        due = time.perf_counter() if due is None else due
        kind = kind or self.next_kind()
        self._n += 1
        raw = self._variants[kind][self._n % VARIANTS]
        self.in_flight += 1
        try:
            async with self._slots:
                await self._send(kind, raw, due)
        finally:
            self.in_flight -= 1

    async def _send(self, kind: Kind, raw: bytes, due: float) -> None:
        conn: HttpConnection | None = None
        try:
            conn = await self._connection()
            self.sent[kind] += 1
            async with asyncio.timeout(self._timeout):
                reply = await conn.request(raw)
        except (OSError, ValueError, TimeoutError) as exc:
            self.error(f"{type(exc).__name__}: {exc}")
            if conn is not None:
                conn.close()
            conn = None
        else:
            why = problem(reply, kind)
            if why is not None:
                self.error(why)
            else:
                self.answered += 1
                self.window.latencies.append(reply.done - due)
                self.all_latencies.append(reply.done - due)
                self.service_latencies.append(reply.latency)
        finally:
            if conn is not None and not conn.closed:
                self._idle.append(conn)


async def closed_loop(load: Load, concurrency: int, duration: float) -> tuple[int, float]:
    """(answered, seconds): `concurrency` clients, each sending as soon as its last answer is in."""
    answered = load.answered
    started = time.perf_counter()
    deadline = started + duration

    async def client() -> None:
        while time.perf_counter() < deadline:
            await load.one()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return load.answered - answered, time.perf_counter() - started


async def open_loop(load: Load, rate: float, duration: float, drain_timeout: float) -> float:
    """Send at `rate` per second on schedule for `duration` s, then wait for the last answers.
    Returns the seconds the sending took."""
    tasks: set[asyncio.Task[None]] = set()
    started = time.perf_counter()
    scheduled = 0
    while (now := time.perf_counter()) < started + duration:
        owed = int((now - started) * rate)
        while scheduled < owed:
            at = started + scheduled / rate
            load.window.lag_max = max(load.window.lag_max, now - at)
            scheduled += 1
            if load.in_flight >= MAX_IN_FLIGHT:
                load.not_sent += 1
                load.error(f"{MAX_IN_FLIGHT} requests in flight: the gateway is not keeping up; request not sent")
                continue
            task = asyncio.create_task(load.one(due=at))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - started
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=drain_timeout)
        for task in pending:
            task.cancel()
        if pending:
            load.error(f"{len(pending)} requests still unanswered {drain_timeout:g} s after the load stopped")
    return elapsed


# --- sampling the gateway ------------------------------------------------------------------------------


def proc_status(pid: int, port: int, upstream_port: int) -> dict[str, int]:
    """RSS (kB), threads and open file descriptors of a process, from /proc; the descriptors split
    into connections accepted on `port`, connections to `upstream_port`, and all the rest."""
    out = {"rss_kb": 0, "threads": 0, "fds": 0, "fds_inbound": 0, "fds_upstream": 0, "fds_other": 0}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name == "VmRSS":
                out["rss_kb"] = int(value.split()[0])
            elif name == "Threads":
                out["threads"] = int(value)
        sockets: set[int] = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            out["fds"] += 1
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    sockets.add(int(target[8:-1]))
        for table in ("tcp", "tcp6"):
            with contextlib.suppress(OSError):
                for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                    cols = row.split()
                    if len(cols) < 10 or int(cols[9]) not in sockets or cols[3] == "0A":  # 0A: listening
                        continue
                    if int(cols[1].rsplit(":", 1)[1], 16) == port:
                        out["fds_inbound"] += 1
                    elif int(cols[2].rsplit(":", 1)[1], 16) == upstream_port:
                        out["fds_upstream"] += 1
    out["fds_other"] = out["fds"] - out["fds_inbound"] - out["fds_upstream"]
    return out


def slope_per_minute(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) points, per minute; None with fewer than 3 points."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in points) / var


async def sampler(load: Load, stack: Stack, every: float, samples: list[dict[str, Any]], log: Callable[[str], None],
                  stop: asyncio.Event) -> None:  # fmt: skip
    """Every `every` seconds: the gateway's RSS, fds and threads, and the window's requests."""
    pids = {"gateway": stack.gateway.pid, "upstream": stack.upstream.pid}
    started = time.perf_counter()
    meter = CpuMeter(pids)
    last = started
    answered = load.answered

    def take() -> None:
        nonlocal meter, last, answered
        now = time.perf_counter()
        w, load.window = load.window, Window()
        lat = sorted(v * 1000 for v in w.latencies)
        usage = meter.read()
        meter = CpuMeter(pids)
        if now - last < 0.5:  # the t=0 sample: no window to measure the machine over
            usage = {"unaccounted_busy_cores": None}
        sample = {
            "t": round(now - started, 2),
            **proc_status(stack.gateway.pid, stack.port, stack.upstream_port),
            "answered": load.answered - answered,
            "rps": (load.answered - answered) / (now - last) if now > last else 0.0,
            "errors": w.errors,
            "p50_ms": percentile(lat, 0.50) if lat else None,
            "p99_ms": percentile(lat, 0.99) if lat else None,
            "send_lag_max_ms": 1000 * w.lag_max,
            "in_flight": load.in_flight,
            "outside_busy_cores": usage["unaccounted_busy_cores"],
            "disturbed": usage["unaccounted_busy_cores"] is not None and disturbed(usage),
        }
        samples.append(sample)
        last, answered = now, load.answered
        p50 = "-" if sample["p50_ms"] is None else f"{sample['p50_ms']:.2f}"
        p99 = "-" if sample["p99_ms"] is None else f"{sample['p99_ms']:.2f}"
        log(
            f"t={sample['t']:6.0f}s  {sample['rps']:7.0f} req/s  err {w.errors}  p50 {p50} ms  p99 {p99} ms  "
            f"RSS {sample['rss_kb'] / 1024:6.1f} MB  fds {sample['fds']} ({sample['fds_inbound']} in, "
            f"{sample['fds_upstream']} up, {sample['fds_other']} other)  threads {sample['threads']}  "
            f"busy outside {100 * (usage['unaccounted_busy_cores'] or 0):.0f}%"
        )

    take()  # t=0: the starting point of every slope
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        take()


# --- the audit log after the run ---------------------------------------------------------------------


def count_records(config: Path) -> dict[str, int]:
    """Audit records by kind, non-200 ones, and the requests pseudonymised for the retaining backend."""
    from onshore.app import open_store
    from onshore.settings import load_settings

    counts: Counter[str] = Counter()
    store = open_store(load_settings(config))
    try:
        for record in store.iter_records():
            doc = json.loads(record.body)
            kind = str(doc.get("kind"))
            counts[kind] += 1
            if kind != "admin" and doc.get("status") != 200:
                counts["not_200"] += 1
            personal = doc.get("personal_data") or {}
            if RETAINING in (personal.get("pseudonymised_for") or []):
                counts[f"pseudonymised_{kind}"] += 1
                if set(personal.get("found") or {}) >= PERSONAL_TYPES:
                    counts[f"all_types_found_{kind}"] += 1
            counts["unrestored_placeholders"] += int(personal.get("unrestored_placeholders") or 0)
    finally:
        store.close()
    return dict(counts)


# --- the run -----------------------------------------------------------------------------------------


def add_retaining_backend(path: Path) -> None:
    """The bench config plus a backend that keeps data for 30 days, a model routed to it, and a
    personal-data rule that allows it: by default (`retains_data: pseudonymise`) the gateway then
    pseudonymises what it sends there and restores the answer. JSON is valid YAML."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["backends"][RETAINING] = {**doc["backends"]["local"], "region": "bench-retaining", "retention_days": 30}
    doc["models"][PSEUDO_MODEL] = {"routes": [{"backend": RETAINING, "model": UPSTREAM_MODEL}]}
    doc["tenants"]["bench"]["classes"]["personal"]["max_retention_days"] = 30
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


@dataclass
class Options:
    minutes: float
    rate: float | None
    load: float
    probe_seconds: float
    concurrency: int
    connections: int
    stream_fraction: float
    personal_fraction: float
    sample_seconds: float
    warmup: float
    max_rss_slope: float
    max_fd_slope: float
    timeout: float
    gateway_cpu: int | None
    client_cpu: int | None
    durability: str
    quiet_wait: float
    seed: int
    keep: bool
    json_path: Path | None


async def drive(opts: Options, stack: Stack, log: Callable[[str], None]) -> dict[str, Any]:
    variants = build_variants(stack.port, stack.api_key)
    load = Load(
        stack.port, variants, opts.seed, opts.stream_fraction, opts.personal_fraction, opts.timeout, opts.connections
    )
    res: dict[str, Any] = {}
    try:
        for kind in KINDS:  # sanity: each kind answers in full before anything is measured
            await asyncio.wait_for(load.one(kind), opts.timeout + 5)
        if load.errors:
            raise BenchError(f"sanity requests failed: {load.error_samples}", stack.gateway)

        if opts.rate is None:
            log(f"probe: closed loop c={opts.concurrency} with the soak mix, 3 s warm-up + {opts.probe_seconds:g} s")
            await asyncio.wait_for(closed_loop(load, opts.concurrency, 3.0), 120)
            meter = CpuMeter({"gateway": stack.gateway.pid, "upstream": stack.upstream.pid})
            answered, seconds = await asyncio.wait_for(
                closed_loop(load, opts.concurrency, opts.probe_seconds), opts.probe_seconds + 120
            )
            usage = meter.read()
            max_rate = answered / seconds
            res["probe"] = {
                "concurrency": opts.concurrency,
                "seconds": seconds,
                "answered": answered,
                "max_rps": max_rate,
                "outside_busy_cores": usage["unaccounted_busy_cores"],
                "disturbed": disturbed(usage),
            }
            log(f"probe: {max_rate:,.0f} req/s")
        else:
            max_rate = opts.rate / opts.load
            res["probe"] = {"skipped": f"--rate {opts.rate:g} given"}
        rate = max(1.0, opts.load * max_rate)
        errors_before = load.errors
        sent_before = sum(load.sent.values())
        duration = 60 * opts.minutes
        log(f"soak: open loop at {rate:,.0f} req/s for {duration:g} s")
        load.window = Window()
        load.all_latencies, load.service_latencies = array("d"), array("d")  # the soak's own, not the probe's
        samples: list[dict[str, Any]] = []
        stop = asyncio.Event()
        sampling = asyncio.create_task(sampler(load, stack, opts.sample_seconds, samples, log, stop))
        try:
            sending = await asyncio.wait_for(open_loop(load, rate, duration, opts.timeout + 5), duration + 120)
        finally:
            stop.set()
            await sampling
        latencies = sorted(v * 1000 for v in load.all_latencies)
        service = sorted(v * 1000 for v in load.service_latencies)
        sent = sum(load.sent.values()) - sent_before
        res["soak"] = {
            "target_rps": rate,
            "seconds": sending,
            "sent": sent,
            "sent_rps": sent / sending if sending else 0.0,
            "errors": load.errors - errors_before,
            "samples": samples,
        }
        res["all_phases"] = {
            "sent": {
                f"{'stream' if k.stream else 'request'}/{'personal' if k.personal else 'plain'}": n
                for k, n in sorted(load.sent.items(), key=lambda kv: (kv[0].stream, kv[0].personal))
            },
            "answered": load.answered,
            "errors": load.errors,
            "not_sent": load.not_sent,
            "error_samples": load.error_samples,
        }
        res["soak"]["latency_ms"] = {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)}
        res["soak"]["service_latency_ms"] = {"p50": percentile(service, 0.5), "p99": percentile(service, 0.99)}
        res["expected_records"] = {
            "request": sum(n for k, n in load.sent.items() if not k.stream),
            "stream_open": sum(n for k, n in load.sent.items() if k.stream),
            "stream_close": sum(n for k, n in load.sent.items() if k.stream),
            "personal": sum(n for k, n in load.sent.items() if k.personal),
        }
        return res
    finally:
        load.close_all()


def trend(samples: list[dict[str, Any]], key: str, warmup: float, scale: float = 1.0) -> dict[str, Any]:
    values = [s[key] * scale for s in samples]
    after = [(s["t"], s[key] * scale) for s in samples if s["t"] >= warmup]
    return {
        "start": values[0] if values else None,
        "end": values[-1] if values else None,
        "max": max(values) if values else None,
        "after_warmup_start": after[0][1] if after else None,
        "slope_per_min": slope_per_minute(after),
    }


def judge(opts: Options, r: dict[str, Any]) -> list[str]:
    """Every way the run failed; empty if it passed."""
    failures: list[str] = []
    if r["all_phases"]["errors"]:
        failures.append(f"{r['all_phases']['errors']} errors")
    if r["gateway_exit_code"] != 0:
        failures.append(f"gateway exited with {r['gateway_exit_code']} on SIGTERM")
    if r["audit_verify"]["returncode"] != 0:
        failures.append("audit verify failed")
    exp, got = r["expected_records"], r["records"]
    for kind in ("request", "stream_open", "stream_close"):
        if got.get(kind, 0) != exp[kind]:
            failures.append(f"{got.get(kind, 0)} {kind} records for {exp[kind]} sent")
    pseudonymised = got.get("pseudonymised_request", 0) + got.get("pseudonymised_stream_open", 0)
    if pseudonymised != exp["personal"]:
        failures.append(f"{pseudonymised} pseudonymised records for {exp['personal']} personal-data requests")
    found = got.get("all_types_found_request", 0) + got.get("all_types_found_stream_open", 0)
    if found != exp["personal"]:
        failures.append(f"all four personal-data types found in {found} records of {exp['personal']}")
    if got.get("unrestored_placeholders", 0):
        failures.append(f"{got['unrestored_placeholders']} placeholders left unrestored")
    if got.get("not_200", 0):
        failures.append(f"{got['not_200']} records with a status other than 200")
    soak = r["soak"]
    if soak["sent_rps"] < 0.95 * soak["target_rps"]:
        failures.append(f"the load generator sent {soak['sent_rps']:,.0f} req/s of {soak['target_rps']:,.0f}")
    # Pooled sockets grow in steps up to a bound (the client's connections: each holds at most one
    # request in the gateway, so one upstream connection), which a short run's slope mistakes for a
    # leak; a socket leak breaks the bound. Every other descriptor must stay flat.
    bound = opts.connections + POOL_SLACK
    for key in ("fds_inbound", "fds_upstream"):
        top = r["trends"][key]["max"]
        if top is not None and top > bound:
            failures.append(f"{key} reached {top:.0f}, above the {bound} the client's connections allow")
    for key, limit, unit in (("rss_mb", opts.max_rss_slope, "MB"), ("fds_other", opts.max_fd_slope, "fds")):
        slope = r["trends"][key]["slope_per_min"]
        if slope is None:
            failures.append(f"too few samples after the warm-up for a {key} slope")
        elif slope > limit:
            failures.append(f"{key} grows {slope:.2f} {unit}/min (limit {limit:g})")
    return failures


def run(opts: Options, argv: list[str]) -> int:
    log = _logger()
    facts = machine_facts()
    opts.gateway_cpu, opts.client_cpu = choose_cpus(opts.gateway_cpu, opts.client_cpu, log)
    idle = wait_for_quiet(opts.quiet_wait, log) if opts.quiet_wait > 0 else None
    if idle is not None and idle >= 0.10:
        log(f"WARNING: the machine is still busy ({100 * idle:.0f}% of a core); starting anyway")
    tmp = Path(tempfile.mkdtemp(prefix="onshore-soak-"))
    children: list[Child] = []
    stack: Stack | None = None
    try:
        stack = start_stack(tmp, children, opts.gateway_cpu, opts.durability, log, add_retaining_backend)
        results = _run_loop(drive(opts, stack, log))
        log("stopping the gateway (SIGTERM), then audit verify and record counts")
        results["gateway_exit_code"] = stack.gateway.stop(grace=60)
        verify = audit_verify(stack.onshore, stack.config)
        results["audit_verify"] = {"returncode": verify.returncode, "output": (verify.stdout + verify.stderr).strip()}
        results["records"] = count_records(stack.config)
        results["gateway_stderr"] = stack.gateway.stderr()[-4000:]
        samples = results["soak"]["samples"]
        warmup = min(opts.warmup, 60 * opts.minutes / 3)  # a short run keeps two thirds for the slope
        results["warmup_seconds"] = warmup
        results["trends"] = {
            "rss_mb": trend(samples, "rss_kb", warmup, 1 / 1024),
            "fds": trend(samples, "fds", warmup),
            "fds_inbound": trend(samples, "fds_inbound", warmup),
            "fds_upstream": trend(samples, "fds_upstream", warmup),
            "fds_other": trend(samples, "fds_other", warmup),
            "threads": trend(samples, "threads", warmup),
        }
        failures = judge(opts, results)
        report = {
            "command": shlex.join(["python", _display_path(Path(__file__)), *argv]),
            "machine": facts,
            "setup": {k: str(v) if isinstance(v, Path) else v for k, v in vars(opts).items()},
            "results": results,
            "passed": not failures,
            "failures": failures,
        }
        print_report(report)
        if opts.json_path:
            opts.json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            log(f"JSON written to {opts.json_path}")
        return 0 if not failures else 1
    except BenchError as exc:
        print(f"\nSOAK FAILED: {exc}", file=sys.stderr)
        child = exc.child or (stack.gateway if stack else None)
        if child is not None:
            print(f"--- {child.name} stderr ({child.stderr_path}) ---\n{child.stderr()}", file=sys.stderr)
        return 1
    finally:
        for child in reversed(children):
            child.stop()
        if opts.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _fmt(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def print_report(report: dict[str, Any]) -> None:
    m, s, r = report["machine"], report["setup"], report["results"]
    soak, allp, probe = r["soak"], r["all_phases"], r["probe"]
    lat, svc = soak["latency_ms"], soak["service_latency_ms"]
    print()
    print(f"Command: `{report['command']}` (source {m['source']})")
    print(
        f"Machine: {m['nproc']} × {m['cpu_model']}, {m['implementation']} {m['python']}, onshore {m['onshore_version']}"
    )
    placement = (
        f"gateway pinned to CPU {s['gateway_cpu']}, upstream + load generator on CPU {s['client_cpu']}"
        if s["gateway_cpu"] is not None
        else "no CPU pinning"
    )
    print(
        f"Setup: {placement}; audit durability {s['durability']}; mix {100 * s['stream_fraction']:.0f}% streamed, "
        f"{100 * s['personal_fraction']:.0f}% with personal data (pseudonymised for backend '{RETAINING}')"
    )
    if "max_rps" in probe:
        print(
            f"Probe: {probe['max_rps']:,.0f} req/s max (closed loop c={probe['concurrency']}, {probe['seconds']:.0f} s)"
        )
    else:
        print(f"Probe: {probe['skipped']}")
    t_rss, t_fd, t_thr = r["trends"]["rss_mb"], r["trends"]["fds"], r["trends"]["threads"]
    exp, got = r["expected_records"], r["records"]
    pseudo = got.get("pseudonymised_request", 0) + got.get("pseudonymised_stream_open", 0)
    noisy = sum(1 for x in soak["samples"] if x["disturbed"])
    rows = [
        ("Target rate (80% of max)", f"{soak['target_rps']:,.0f} req/s"),
        ("Rate sent", f"{soak['sent_rps']:,.0f} req/s for {soak['seconds'] / 60:.1f} min ({soak['sent']:,} requests)"),
        (
            "Requests, all phases",
            f"{sum(allp['sent'].values()):,} ({', '.join(f'{k} {v:,}' for k, v in allp['sent'].items())})",
        ),
        ("Errors", f"{allp['errors']}" + (f" (e.g. {allp['error_samples'][:3]})" if allp["errors"] else "")),
        ("Soak latency from due time, p50 / p99", f"{_fmt(lat['p50'])} / {_fmt(lat['p99'])} ms"),
        ("Soak latency from write, p50 / p99", f"{_fmt(svc['p50'])} / {_fmt(svc['p99'])} ms"),
        (
            "Gateway RSS start / end / max",
            f"{_fmt(t_rss['start'], 1)} / {_fmt(t_rss['end'], 1)} / {_fmt(t_rss['max'], 1)} MB; "
            f"slope after {r['warmup_seconds']:.0f} s {_fmt(t_rss['slope_per_min'], 3)} MB/min",
        ),
        (
            "Gateway open fds start / end / max",
            f"{_fmt(t_fd['start'], 0)} / {_fmt(t_fd['end'], 0)} / {_fmt(t_fd['max'], 0)}; "
            f"slope {_fmt(t_fd['slope_per_min'], 3)} /min",
        ),
        (
            "of which: sockets from clients / to upstream / the rest",
            " / ".join(
                f"{_fmt(t['start'], 0)}→{_fmt(t['end'], 0)} "
                f"(max {_fmt(t['max'], 0)}, slope {_fmt(t['slope_per_min'], 2)}/min)"
                for t in (r["trends"][k] for k in ("fds_inbound", "fds_upstream", "fds_other"))
            ),
        ),
        ("Gateway threads start / end", f"{_fmt(t_thr['start'], 0)} / {_fmt(t_thr['end'], 0)}"),
        ("Gateway exit on SIGTERM", str(r["gateway_exit_code"])),
        ("Audit verify", r["audit_verify"]["output"].splitlines()[-1] if r["audit_verify"]["output"] else "-"),
        (
            "Audit records vs sent",
            f"request {got.get('request', 0):,}/{exp['request']:,}, stream_open {got.get('stream_open', 0):,}/"
            f"{exp['stream_open']:,}, stream_close {got.get('stream_close', 0):,}/{exp['stream_close']:,}, "
            f"pseudonymised {pseudo:,}/{exp['personal']:,}",
        ),
        ("Windows disturbed by other load", f"{noisy} of {len(soak['samples'])}"),
    ]
    print()
    print("| Soak | |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print()
    if noisy:
        print(f"WARNING: other programs used the CPU in {noisy} sample windows: rerun on a quiet machine to quote it")
    if r.get("gateway_stderr", "").strip():
        print(f"Gateway stderr (tail):\n{r['gateway_stderr']}")
    print("PASSED" if report["passed"] else "FAILED: " + "; ".join(report["failures"]))


def parse_args(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="soak duration (default 10)")
    parser.add_argument("--rate", type=float, help="soak at this rate (req/s) and skip the probe")
    parser.add_argument("--load", type=float, default=0.8, help="fraction of the probed maximum (default 0.8)")
    parser.add_argument("--probe-seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32, help="probe concurrency")
    parser.add_argument("--connections", type=int, default=64, help="client connections (a fixed pool)")
    parser.add_argument("--stream-fraction", type=float, default=0.3)
    parser.add_argument("--personal-fraction", type=float, default=0.2)
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds left out of the slopes")
    parser.add_argument("--max-rss-slope", type=float, default=1.0, help="MB per minute (default 1.0)")
    parser.add_argument("--max-fd-slope", type=float, default=1.0, help="descriptors per minute (default 1.0)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    parser.add_argument("--gateway-cpu", type=int, default=1)
    parser.add_argument("--client-cpu", type=int, default=0, help="CPU for the load generator and the upstream")
    parser.add_argument("--durability", choices=("normal", "full"), default="normal")
    parser.add_argument("--quiet-wait", type=float, default=120.0, help="wait up to S s for an idle machine")
    parser.add_argument("--seed", type=int, default=8, help="seed of the request mix")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (config, data, logs)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON here")
    a = parser.parse_args(argv)
    return Options(
        minutes=min(24 * 60.0, max(0.25, a.minutes)),
        rate=None if a.rate is None else max(1.0, a.rate),
        load=min(1.0, max(0.05, a.load)),
        probe_seconds=min(300.0, max(2.0, a.probe_seconds)),
        concurrency=max(1, a.concurrency),
        connections=max(1, a.connections),
        stream_fraction=min(1.0, max(0.0, a.stream_fraction)),
        personal_fraction=min(1.0, max(0.0, a.personal_fraction)),
        sample_seconds=min(300.0, max(1.0, a.sample_seconds)),
        warmup=max(0.0, a.warmup),
        max_rss_slope=a.max_rss_slope,
        max_fd_slope=a.max_fd_slope,
        timeout=min(300.0, max(1.0, a.timeout)),
        gateway_cpu=a.gateway_cpu,
        client_cpu=a.client_cpu,
        durability=a.durability,
        quiet_wait=min(600.0, max(0.0, a.quiet_wait)),
        seed=a.seed,
        keep=a.keep,
        json_path=a.json,
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, _terminate)
    return run(parse_args(args), args)


if __name__ == "__main__":
    sys.exit(main())
