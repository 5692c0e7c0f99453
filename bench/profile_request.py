"""Where one request's cost goes, counted rather than timed (so a loaded machine does not matter).

Usage:
  python bench/profile_request.py [--requests N] [--chunks 20] [--prompt plain|personal]   # cProfile
  python bench/profile_request.py --callgrind [--requests N]     # instructions per request (valgrind)

One run starts bench/upstream_server.py (a child process, not counted), the real gateway app in this
process with the bench's config (API key and bearer-JWT identity, residency policy, personal-data
scan, SQLite audit committed before the answer, Ed25519 receipts: everything on), and drives it with
the bench's own HTTP client, one request at a time, in three phases: a JSON request with an API key,
the same with a bearer JWT (RS256, cached key), and a streamed answer of `--chunks` content chunks.

- cProfile (default): per stage, function calls per request and the stage's share of the profiled
  CPU time. A library function's own time (msgspec, hashlib, sqlite3, asyncio...) is
  given to the stage that called it; aiohttp's server and client are stages of their own.
- `--wall`: no profiler; a few steps timed by the clock around their calls (cProfile inflates
  call-heavy Python and cannot see a system call's real cost): the whole request as the lean server
  serves it, the wait for the upstream's answer, the scan, the chain link, the SQLite commit, the
  receipt. Per request: the mean and p50 of the step's total, and its calls.
- `--callgrind`: re-runs itself under `valgrind --tool=callgrind` and reports instructions (Ir) per
  request for each phase, minus the same client calling the upstream directly, and the split by
  shared object (the interpreter, OpenSSL's SHA-256 and Ed25519, SQLite, msgspec, aiohttp's parser).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import gateway_bench as gb  # noqa: E402 - the bench's config, client and JWT issuer, reused as they are

PHASES = ("json", "json_jwt", "stream")

# Stage of a function, by where it lives. First match wins; None: a library whose own time goes to
# its caller's stage (msgspec, hashlib, sqlite3, asyncio, the standard library).
_STAGES: tuple[tuple[str, str], ...] = (
    ("onshore/identify/", "identify (key / JWT)"),
    ("onshore/decide/", "decide (policy, residency)"),
    ("onshore/protect/", "protect (scan, plan, restore)"),
    ("onshore/service/relay.py", "relay (stream, per chunk)"),
    ("onshore/route/stream.py", "relay (stream, per chunk)"),
    ("onshore/route/sse.py", "relay (stream, per chunk)"),
    ("onshore/edge/sse.py", "relay (stream, per chunk)"),
    ("onshore/translate/", "relay (stream, per chunk)"),
    ("onshore/route/", "route (router, adapter)"),
    ("onshore/prove/signer.py", "prove: sign receipt"),
    ("onshore/prove/receipt.py", "prove: sign receipt"),
    ("onshore/prove/", "prove: record + chain hash + commit"),
    ("onshore/store/", "prove: record + chain hash + commit"),
    ("onshore/service/", "service glue (steps, chat)"),
    ("onshore/edge/lean_server.py", "lean HTTP server (model routes)"),
    ("onshore/edge/", "edge (handlers, parse, headers)"),
    ("onshore/", "other onshore (metrics, ids, clock)"),
    ("aiohttp/client", "aiohttp client (to upstream)"),
    ("aiohttp/connector", "aiohttp client (to upstream)"),
    ("aiohttp/web", "aiohttp server"),
    ("aiohttp/", "aiohttp server"),  # http parser/writer, streams, helpers: mostly the server side
    ("multidict/", "aiohttp server"),
    ("yarl/", "aiohttp client (to upstream)"),
    ("prometheus_client/", "other onshore (metrics, ids, clock)"),
    ("sudachipy/", "protect (scan, plan, restore)"),
    ("joserfc/", "identify (key / JWT)"),
)
_CLIENT = "bench client (not the gateway)"
_LOOP = "event loop (uvloop, callbacks)"


def stage_of(filename: str) -> str | None:
    path = filename.replace("\\", "/")
    if path.startswith(str(BENCH_DIR)):
        return _CLIENT
    for marker in ("/site-packages/", "/src/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        return None
    for prefix, stage in _STAGES:
        if path.startswith(prefix):
            return stage
    return None


def by_stage(stats: pstats.Stats, requests: int) -> dict[str, dict[str, float]]:
    """Own time and call counts per stage; a library's own time (and calls) go to the stages of its
    callers, in proportion to what each caller spent there."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    shares: dict[Any, dict[str, float]] = {}

    def share(func: Any, seen: frozenset[Any]) -> dict[str, float]:
        """The fraction of `func`'s own time that belongs to each stage."""
        if func in shares:
            return shares[func]
        stage = stage_of(func[0])
        if stage is not None:
            result = {stage: 1.0}
        else:
            callers = raw[func][4]
            total = sum(c[2] + 1e-12 for c in callers.values())
            result = defaultdict(float)
            for caller, c in callers.items():
                if caller in seen or caller not in raw:
                    continue
                for name, part in share(caller, seen | {func}).items():
                    result[name] += part * (c[2] + 1e-12) / total
            result = dict(result) or {_LOOP: 1.0}
        shares[func] = result
        return result

    out: dict[str, dict[str, float]] = defaultdict(lambda: {"seconds": 0.0, "calls": 0.0})
    for func, (_, calls, own, _, _) in raw.items():
        for name, part in share(func, frozenset()).items():
            out[name]["seconds"] += own * part
            out[name]["calls"] += calls * part / requests
    return dict(out)


# --wall: (module, class or None for a module function, attribute, label). Times include waiting where a
# step awaits (the request as served, the upstream's answer); the others never suspend.
WALL_STEPS = (
    ("onshore.edge.lean_server", "LeanConnection", "_serve", "request in the gateway (read to answer sent)"),
    ("onshore.route.http1", "Http1Client", "_read_head", "  of which: waiting for the upstream's answer head"),
    ("onshore.protect.protector", "Protector", "scan", "  protect: personal-data scan"),
    ("onshore.store.sqlite", "SqliteStore", "append_entries", "  prove: SQLite commit (chain link included)"),
    ("onshore.store.sqlite", None, "link", "    prove: chain link (JCS + SHA-256)"),
    ("onshore.prove.signer", "Signer", "receipt", "  prove: sign receipt (Ed25519 JWS)"),
)


class WallClock:
    """Per-request totals of the WALL_STEPS, by perf_counter around each call."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.current: dict[str, float] = defaultdict(float)
        self.per_request: dict[str, list[float]] = defaultdict(list)
        self.recording = False

    def install(self) -> None:
        import importlib
        import inspect
        import time

        clock = time.perf_counter
        for module_name, owner_name, attribute, label in WALL_STEPS:
            module = importlib.import_module(module_name)
            owner: Any = module if owner_name is None else getattr(module, owner_name)
            original = getattr(owner, attribute)

            def note(label: str, began: float) -> None:
                if self.recording:
                    took = clock() - began
                    self.spent[label] += took
                    self.calls[label] += 1
                    self.current[label] += took

            if inspect.iscoroutinefunction(original):

                def timed_async(*args: Any, _f: Any = original, _label: str = label, **kwargs: Any) -> Any:
                    async def run() -> Any:
                        began = clock()
                        try:
                            return await _f(*args, **kwargs)
                        finally:
                            note(_label, began)

                    return run()

                setattr(owner, attribute, timed_async)
            else:

                def timed(*args: Any, _f: Any = original, _label: str = label, **kwargs: Any) -> Any:
                    began = clock()
                    try:
                        return _f(*args, **kwargs)
                    finally:
                        note(_label, began)

                setattr(owner, attribute, timed)

    def request_done(self) -> None:
        for _, _, _, label in WALL_STEPS:
            self.per_request[label].append(self.current.pop(label, 0.0))

    def report(self, phase: str, requests: int) -> None:
        print(f"--- {phase}: wall time per request, {requests} requests one at a time (µs) ---")
        print("| step | mean | p50 | p90 | calls/req |")
        print("|---|---:|---:|---:|---:|")
        for _, _, _, label in WALL_STEPS:
            values = sorted(self.per_request[label])
            if not values or not self.calls[label]:
                continue
            mean = 1e6 * self.spent[label] / requests
            p50, p90 = 1e6 * values[len(values) // 2], 1e6 * values[int(len(values) * 0.9)]
            print(f"| {label} | {mean:.1f} | {p50:.1f} | {p90:.1f} | {self.calls[label] / requests:.1f} |")
        self.spent.clear()
        self.calls.clear()
        self.per_request.clear()


async def drive_timed(endpoint: gb.Endpoint, n: int, wall: WallClock) -> None:
    """As `drive` (one keep-alive connection, one request at a time), noting each request's totals."""
    result, conn = gb.PhaseResult(), None
    wall.recording = True
    try:
        for _ in range(n):
            conn = await gb._one(conn, endpoint, result)
            wall.request_done()
    finally:
        wall.recording = False
        if conn is not None:
            conn.close()
    if result.errors:
        raise SystemExit(f"{endpoint.name}: {result.errors} errors: {result.error_samples}")


async def drive(endpoint: gb.Endpoint, n: int) -> None:
    result = await gb.sequential(endpoint, n)
    if result.errors:
        raise SystemExit(f"{endpoint.name}: {result.errors} errors: {result.error_samples}")


def callgrind_control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(os.getpid())], capture_output=True, check=False, timeout=120)


async def run_phases(opts: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from aiohttp import web

    from onshore.app import build_app
    from onshore.edge.runner import GatewayRunner
    from onshore.settings import load_settings

    issuer = gb.JwtIssuer()
    upstream = gb.Child(
        "upstream", [sys.executable, str(BENCH_DIR / "upstream_server.py"), "--chunks", str(opts.chunks)], tmp
    )
    runner: web.AppRunner | None = None
    try:
        gb.wait_until(lambda: upstream.stdout().startswith("READY "), 30, "starting the upstream", upstream)
        upstream_port = int(upstream.stdout().split()[1])
        data_dir, config, port = tmp / "data", tmp / "onshore.yaml", gb.free_port()
        data_dir.mkdir()
        gb.write_config(config, data_dir, port, upstream_port, "normal", issuer.port)
        if opts.client != "onshore":  # the backend calls on aiohttp's client instead (issue 14's A/B)
            config.write_text(
                config.read_text().replace("gateway: {", f"gateway: {{upstream: {{client: {opts.client}}}, ", 1)
            )
        created = subprocess.run(
            [*gb.onshore_command(), "keys", "create", "--tenant", "bench", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        api_key = created.stdout.strip().splitlines()[-1]
        if opts.server != "onshore":  # aiohttp's server alone (issue 14's A/B of the lean one)
            config.write_text(config.read_text().replace("gateway: {", f"gateway: {{http_server: {opts.server}, ", 1))
        runner = GatewayRunner(build_app(load_settings(config)), access_log=None, handler_cancellation=False)
        await runner.setup()
        await web.TCPSite(runner, gb.HOST, port).start()

        messages = gb.MESSAGES if opts.prompt == "plain" else [{"role": "user", "content": gb.PERSONAL}]
        body = {"model": gb.GATEWAY_MODEL, "messages": messages}
        stream = {"stream": True, "stream_options": {"include_usage": True}}
        direct_body = {**body, "model": gb.UPSTREAM_MODEL}
        targets = {
            "json": gb.Endpoint("json", port, gb.build_request(port, body, api_key)),
            "json_jwt": gb.Endpoint("json_jwt", port, gb.build_request(port, body, issuer.token)),
            "stream": gb.Endpoint("stream", port, gb.build_request(port, {**body, **stream}, api_key)),
        }
        directs = {
            "json": gb.Endpoint("direct", upstream_port, gb.build_request(upstream_port, direct_body, None)),
            "stream": gb.Endpoint(
                "direct", upstream_port, gb.build_request(upstream_port, {**direct_body, **stream}, None)
            ),
        }
        directs["json_jwt"] = directs["json"]
        results: dict[str, Any] = {}
        wall = WallClock() if opts.wall else None
        if wall is not None:
            wall.install()
        for phase in opts.phases:
            for endpoint in (targets[phase], directs[phase]):
                await drive(endpoint, opts.warmup)
            if wall is not None:
                await drive_timed(targets[phase], opts.requests, wall)
                wall.report(phase, opts.requests)
                continue
            if opts.callgrind:
                callgrind_control("-z")
                await drive(targets[phase], opts.requests)
                callgrind_control("-d", f"{phase}-gateway")
                await drive(directs[phase], opts.requests)
                callgrind_control("-d", f"{phase}-direct")
                continue
            profiler = cProfile.Profile()
            profiler.enable()
            await drive(targets[phase], opts.requests)
            profiler.disable()
            stats = pstats.Stats(profiler)
            if opts.pstats is not None:  # for `python -m pstats` (inclusive times, callers)
                profiler.dump_stats(opts.pstats.with_name(f"{opts.pstats.stem}-{phase}{opts.pstats.suffix}"))
            results[phase] = by_stage(stats, opts.requests)
            if opts.top:
                print(f"--- {phase}: top {opts.top} functions by own time (calls per request) ---")
                rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])  # type: ignore[attr-defined]
                for (file, line, name), (_, calls, own, _cum, _) in rows[: opts.top]:
                    where = f"{stage_of(file) or 'library'}: {name} ({Path(file).name}:{line})"
                    print(f"  {100 * own / stats.total_tt:5.1f}%  {calls / opts.requests:7.1f}  {where}")  # type: ignore[attr-defined]
        return results
    finally:
        if runner is not None:
            await runner.cleanup()
        upstream.stop()
        issuer.close()


def print_stages(results: dict[str, dict[str, dict[str, float]]], opts: argparse.Namespace) -> None:
    phases = [p for p in opts.phases if p in results]
    names: dict[str, float] = defaultdict(float)
    for phase in phases:
        for name, row in results[phase].items():
            if name != _CLIENT:
                names[name] += row["seconds"]
    print(
        f"cProfile, {opts.requests} requests per phase, stream = {opts.chunks} content chunks; "
        "function calls per request (a library's calls split among its callers' stages by time) "
        "and share of the gateway's profiled CPU time\n"
    )
    print("| stage | " + " | ".join(f"{p} calls/req | {p} CPU share" for p in phases) + " |")
    print("|---|" + "---:|---:|" * len(phases))
    totals = {p: sum(r["seconds"] for n, r in results[p].items() if n != _CLIENT) for p in phases}
    for name in sorted(names, key=lambda n: -names[n]):
        cells = []
        for p in phases:
            row = results[p].get(name, {"seconds": 0.0, "calls": 0.0})
            cells += [f"{row['calls']:,.0f}", f"{100 * row['seconds'] / totals[p]:.1f}%"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    cells = []
    for p in phases:
        calls = sum(r["calls"] for n, r in results[p].items() if n != _CLIENT)
        cells += [f"**{calls:,.0f}**", "100%"]
    print("| **gateway total** | " + " | ".join(cells) + " |")


_DUMP_NAME = re.compile(r"^desc: Trigger: .*dump (\S+)", re.M)


def callgrind_report(out_dir: Path, opts: argparse.Namespace) -> None:
    totals: dict[str, int] = {}
    files: dict[str, Path] = {}
    for path in out_dir.glob("callgrind.out*"):
        text = path.read_text(errors="replace")
        match = _DUMP_NAME.search(text)
        summary = re.search(r"^summary: (\d+)", text, re.M)
        if match and summary:
            totals[match.group(1)] = int(summary.group(1))
            files[match.group(1)] = path
    print(
        f"callgrind, {opts.requests} requests per phase, stream = {opts.chunks} content chunks; "
        "instructions (Ir) per request, gateway minus the same client calling the upstream directly\n"
    )
    print("| phase | through Onshore | direct | Onshore adds |")
    print("|---|---:|---:|---:|")
    for phase in opts.phases:
        g, d = totals.get(f"{phase}-gateway"), totals.get(f"{phase}-direct")
        if g is None or d is None:
            print(f"| {phase} | (no dump) | | |")
            continue
        n = opts.requests
        print(f"| {phase} | {g / n:,.0f} | {d / n:,.0f} | **{(g - d) / n:,.0f}** |")
    for phase in opts.phases:
        dump = files.get(f"{phase}-gateway")
        if dump is not None:
            per = objects(dump)
            total = sum(ir for _, ir in per) or 1
            print(f"\n{phase}, through Onshore: share of own instructions by shared object")
            for obj, ir in per[:10]:
                print(f"  {100 * ir / total:5.1f}%  {obj}")


def objects(path: Path) -> list[tuple[str, int]]:
    """Self instructions per shared object, read from the callgrind file itself: a cost line belongs
    to the current `ob=` unless it follows a `calls=` line (then it is the callee's inclusive cost)."""
    names: dict[str, str] = {}
    per: Counter[str] = Counter()
    current, after_call = "?", False
    with path.open(errors="replace") as lines:
        for line in lines:
            if line.startswith("ob="):
                current = _compressed(line[3:].strip(), names)
            elif line.startswith("calls="):
                after_call = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                if not after_call:
                    per[Path(current).name] += int(line.split()[-1])
                after_call = False
    return per.most_common()


def _compressed(text: str, names: dict[str, str]) -> str:
    """callgrind's name compression: "(3) /lib/x.so" defines id 3, a later "(3)" refers to it."""
    if text.startswith("("):
        ident, _, name = text.partition(")")
        name = name.strip()
        if name:
            names[ident] = name
        return names.get(ident, name or ident)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=None, help="measured requests per phase")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per streamed answer")
    parser.add_argument("--prompt", choices=("plain", "personal"), default="plain")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}")
    parser.add_argument(
        "--client", choices=("onshore", "aiohttp"), default="onshore", help="HTTP client to the upstream"
    )
    parser.add_argument(
        "--server", choices=("onshore", "aiohttp"), default="onshore", help="HTTP server for the model routes"
    )
    parser.add_argument("--wall", action="store_true", help="time a few steps by the clock, no profiler")
    parser.add_argument("--callgrind", action="store_true", help="count instructions under valgrind")
    parser.add_argument("--top", type=int, default=0, help="also list the N functions with most own time")
    parser.add_argument("--json", type=Path, help="also write the cProfile stage table as JSON here")
    parser.add_argument("--pstats", type=Path, help="also dump each phase's raw profile (FILE-<phase>.prof)")
    parser.add_argument("-U", "--under-valgrind", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    opts.phases = [p for p in opts.phases.split(",") if p in PHASES]
    opts.requests = opts.requests or (200 if opts.callgrind else 2000)
    if opts.callgrind and not opts.under_valgrind:
        if shutil.which("valgrind") is None:
            raise SystemExit("--callgrind needs valgrind (apt-get install valgrind)")
        out_dir = Path(tempfile.mkdtemp(prefix="onshore-callgrind-"))
        args = sys.argv[1:] if argv is None else argv
        valgrind = ["valgrind", "--tool=callgrind", "--compress-strings=no"]
        code = subprocess.run(
            [*valgrind, f"--callgrind-out-file={out_dir}/callgrind.out.%p", sys.executable, __file__, *args, "-U"],
            stderr=subprocess.DEVNULL,
            check=False,
        ).returncode
        if code == 0:
            callgrind_report(out_dir, opts)
            print(f"\n(callgrind files kept in {out_dir})")
        return code
    with tempfile.TemporaryDirectory(prefix="onshore-profile-") as tmp:
        results = _run(run_phases(opts, Path(tmp)))
    if not opts.callgrind and not opts.wall:
        print_stages(results, opts)
        if opts.json:
            opts.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


def _run(coro: Any) -> Any:
    runner: Callable[[Any], Any]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    return runner(coro)


if __name__ == "__main__":
    sys.exit(main())
