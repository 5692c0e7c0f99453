"""Config reload without a restart (SIGHUP, or `onshore reload`), all or nothing.

The file is read and validated exactly as at start-up; then every key that differs is checked
against what a running gateway can change (RELOADABLE). The new generation is built off to the side
(generation.Serving.prepare), the attempt is written to the audit chain, and only then swapped in.
Anything that fails on the way (YAML, an unknown key, a dangling route, a key that needs a restart,
an audit store that cannot record it) refuses the reload: the old config keeps serving, unchanged.

`onshore reload` and the gateway talk through small files under DATA_DIR/reload/ (a request with the
caller's name and a nonce; the result for that nonce), plus the pid file `onshore serve` writes: no
network listener, and only who may signal the gateway's process (and write its data) can reload it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import msgspec

from onshore.events.model import NO_EVENTS, EventType, SecurityEvent, SecurityEvents
from onshore.ids import uuid7
from onshore.prove.record import reload_entry
from onshore.settings import ConfigError, ConfigErrors, FileSettings, Settings

log = logging.getLogger("onshore.reload")

PID_FILE = "onshore.pid"  # under the data directory, while `onshore serve` runs
CONTROL_DIR = "reload"  # under the data directory: request-<nonce>.json in, result-<nonce>.json out
LAST_RESULT = "last.json"  # the latest attempt's result, whoever asked (kill -HUP included)
SIGNAL_ACTOR = "signal:SIGHUP"
_NONCE = re.compile(r"^[0-9a-f]{8,64}$")
_MAX_PROBLEMS = 20

# What a running gateway can change, as key paths (a prefix covers everything under it). Anything
# else (listeners, data directory, stores, Redis, admin and metrics secrets, console, security events,
# OIDC issuers, audit settings, body size, connection pool size) is refused with "restart needed".
RELOADABLE = (
    "backends",
    "models",
    "tenants",
    "identity.api_key_roles",
    "identity.cli_roles",  # read by each CLI command from the file: nothing in the gateway to rebuild
    "gateway.protect",
    "gateway.organisation",
    "gateway.jurisdiction",
    "gateway.region",
    "gateway.upstream.connect_timeout_seconds",
    "gateway.upstream.read_timeout_seconds",
    "gateway.upstream.max_stream_seconds",
)
# An embedded backend's model is loaded once (seconds, and its RAM): adding, removing or retuning one
# needs a restart; its declared facts and model list reload like any backend's.
_EMBEDDED_RESTART = ("kind", "embedded")

Outcome = Literal["applied", "unchanged", "refused"]


def changed_paths(old: object, new: object, prefix: str = "") -> list[str]:
    """Key paths where two plain documents differ (a list counts as one value)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                out.append(path)
            else:
                out.extend(changed_paths(old[key], new[key], path))
        return out
    return [] if old == new else [prefix]


def restart_needed(old: FileSettings, new: FileSettings) -> list[str]:
    """The changed keys a reload cannot apply, shortest paths first (empty: the reload may go ahead)."""
    embedded = {name for f in (old, new) for name, b in f.backends.items() if b.kind == "embedded"}
    out: set[str] = set()
    for path in changed_paths(msgspec.to_builtins(old), msgspec.to_builtins(new)):
        parts = path.split(".")
        if parts[0] == "backends" and len(parts) >= 2 and parts[1] in embedded:
            if len(parts) == 2 or parts[2] in _EMBEDDED_RESTART:
                out.add(".".join(parts[:3]))
            continue
        if not any(path == p or path.startswith(p + ".") for p in RELOADABLE):
            out.add(path)
    return sorted(out)


@dataclass(frozen=True, slots=True)
class Result:
    """One reload attempt, as the CLI prints it and the audit chain keeps it."""

    outcome: Outcome
    policy_hash: str  # the policy serving after the attempt (a refused reload: the previous one)
    previous_policy_hash: str
    actor: str
    source: str
    problems: list[str] = field(default_factory=list)
    restart_needed: list[str] = field(default_factory=list)
    nonce: str | None = None
    pid: int = 0
    ts: float = 0.0

    def line(self) -> str:
        """One line, English then Japanese, naming the outcome and the policy hash now serving."""
        if self.outcome == "applied":
            return (
                f"Reload applied: policy {self.previous_policy_hash[:12]} -> {self.policy_hash} ({self.source}) / "
                f"設定を再読み込みしました。新しいポリシーハッシュ: {self.policy_hash}"
            )
        if self.outcome == "unchanged":
            return (
                f"Reload: nothing changed, policy {self.policy_hash} ({self.source}) / "
                f"設定に変更はありません。ポリシーハッシュ: {self.policy_hash}"
            )
        if self.restart_needed:
            keys = ", ".join(self.restart_needed)
            return (
                f"Reload refused: restart needed for: {keys}; still serving policy {self.policy_hash} / "
                f"再読み込みを拒否しました（再起動が必要: {keys}）。"
                f"現在のポリシー {self.policy_hash} で運用を継続します"
            )
        count = len(self.problems)
        return (
            f"Reload refused ({count} problem{'s' if count != 1 else ''} in {self.source}); still serving policy "
            f"{self.policy_hash} / 再読み込みを拒否しました（{count} 件の問題）。"
            f"現在のポリシー {self.policy_hash} で運用を継続します"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Result:
        return cls(**{k: document[k] for k in cls.__dataclass_fields__ if k in document})


_B = TypeVar("_B")


class Target(Protocol[_B]):
    """What a reload acts on (generation.Serving): the config serving, and building and swapping."""

    @property
    def settings(self) -> Settings: ...

    @property
    def policy_hash(self) -> str: ...

    async def prepare(self, settings: Settings) -> _B: ...

    def swap(self, new: _B) -> None: ...


def _reload_event(result: Result, now: float) -> SecurityEvent:
    """For the SIEM: who reloaded, the outcome as a stable code, the policy now serving (no problem text)."""
    reason: str
    if result.outcome != "refused":
        kind, reason = EventType.CONFIG_RELOADED, result.outcome
    else:
        kind = EventType.CONFIG_RELOAD_REFUSED
        reason = "restart_needed" if result.restart_needed else "invalid_config"
    return SecurityEvent(type=kind, time=now, actor=result.actor, reason=reason, policy_hash=result.policy_hash)


class Reloader:
    """Runs one reload at a time (SIGHUPs that arrive meanwhile run after it, in order)."""

    def __init__(
        self,
        target: Target[Any],
        load: Callable[[], Settings],
        audit_append: Callable[[dict[str, Any]], Any],
        now: Callable[[], float],
        control_dir: Path | None = None,
        events: SecurityEvents = NO_EVENTS,
    ) -> None:
        self._events = events
        self._target = target
        self._load = load
        self._append = audit_append
        self._now = now
        self._lock = asyncio.Lock()
        self.control_dir = control_dir
        self._tasks: set[asyncio.Task[None]] = set()

    async def reload(self, actor: str, nonce: str | None = None, load: Callable[[], Settings] | None = None) -> Result:
        async with self._lock:
            result = await self._attempt(actor, nonce, load or self._load)
        self._report(result)
        return result

    async def _attempt(self, actor: str, nonce: str | None, load: Callable[[], Settings]) -> Result:
        old = self._target.settings
        old_hash = self._target.policy_hash
        # Refused unless it gets through every check below; a refusal keeps the old policy serving.
        base = Result("refused", old_hash, old_hash, actor, old.source, nonce=nonce, pid=os.getpid(), ts=self._now())
        try:
            new = await asyncio.to_thread(load)  # reads and validates as start-up does (file and line)
        except ConfigErrors as exc:
            return await self._refused(base, exc.lines())
        except ConfigError as exc:
            return await self._refused(base, [str(exc)])
        except Exception as exc:  # anything reading the file refuses the reload, named
            log.exception("config reload: reading the config failed")
            return await self._refused(base, [f"cannot read the config: {type(exc).__name__}: {exc}"])
        base = replace(base, source=new.source)
        restart = restart_needed(old.file, new.file)
        if restart:
            problem = f"restart needed for: {', '.join(restart)} (a running gateway cannot change these)"
            return await self._refused(base, [problem], restart)
        if new.file == old.file and new.secrets == old.secrets:
            result = replace(base, outcome="unchanged")
            await self._record(result)  # nothing to apply: a failed record changes nothing either
            return result
        try:
            built = await self._target.prepare(new)
        except Exception as exc:  # a generation that cannot be built is refused
            log.exception("config reload: building the new config failed")
            return await self._refused(base, [f"cannot build the new config: {type(exc).__name__}"])
        result = replace(base, outcome="applied", policy_hash=built.policy.hash)
        # In the chain before it takes effect, as every operator action is: no unaudited policy serves.
        if not await self._record(result):
            return self._unrecorded(result)
        self._target.swap(built)
        return result

    async def _refused(self, base: Result, problems: list[str], restart: list[str] | None = None) -> Result:
        shown = problems[:_MAX_PROBLEMS] + (
            [f"... and {len(problems) - _MAX_PROBLEMS} more"] if len(problems) > _MAX_PROBLEMS else []
        )
        result = replace(base, problems=shown, restart_needed=restart or [])
        await self._record(result)
        return result

    async def _record(self, result: Result) -> bool:
        now = self._now()
        new_hash = None if result.outcome == "refused" else result.policy_hash
        record = reload_entry(
            uuid7(int(now * 1000)),
            now,
            result.actor,
            result.outcome,
            result.source,
            new_hash,
            result.previous_policy_hash,
            result.problems,
        )
        try:
            await asyncio.shield(self._append(record))
        except Exception as exc:  # noqa: BLE001 - the audit store is failing: say so, change nothing
            log.error("config reload: the audit log could not record it: %s", type(exc).__name__)
            return False
        return True

    def _unrecorded(self, result: Result) -> Result:
        problem = "the audit log could not record the reload, so it was not applied (see /readyz)"
        return replace(result, outcome="refused", policy_hash=result.previous_policy_hash, problems=[problem])

    def _report(self, result: Result) -> None:
        self._events.emit(_reload_event(result, self._now()))
        if result.outcome == "refused":
            log.error("config reload refused (actor %s): %s", result.actor, result.line())
            for problem in result.problems:
                log.error("config reload: %s", problem)
        else:
            log.warning("config reload %s (actor %s): policy %s", result.outcome, result.actor, result.policy_hash)
        if self.control_dir is not None:
            with contextlib.suppress(OSError):  # the answer file is a courtesy to the CLI; the log has it
                self.control_dir.mkdir(mode=0o700, exist_ok=True)
                write_json(self.control_dir / LAST_RESULT, result.to_json())
                if result.nonce is not None:
                    write_json(self.control_dir / f"result-{result.nonce}.json", result.to_json())

    # --- SIGHUP ---------------------------------------------------------------------------------
    def on_signal(self) -> None:
        """A SIGHUP: one reload per pending `onshore reload` request (their callers named), or one
        for a bare signal (kill -HUP, a process supervisor)."""
        requests = self._pending_requests() or [(SIGNAL_ACTOR, None)]
        for actor, nonce in requests:
            task = asyncio.get_running_loop().create_task(self._reload_quietly(actor, nonce))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _reload_quietly(self, actor: str, nonce: str | None) -> None:
        try:
            await self.reload(actor, nonce)
        except Exception:  # a bug: the old config serves on; the log says why
            log.exception("config reload failed unexpectedly; the previous config keeps serving")

    def _pending_requests(self) -> list[tuple[str, str | None]]:
        if self.control_dir is None:
            return []
        found: list[tuple[str, str | None]] = []
        for path in sorted(self.control_dir.glob("request-*.json")):
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
                path.unlink()
            except (OSError, ValueError):
                continue
            nonce, actor = document.get("nonce"), document.get("actor")
            if isinstance(nonce, str) and _NONCE.match(nonce) and isinstance(actor, str):
                found.append((actor[:200], nonce))
        return found

    def install(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """Reload on SIGHUP in `loop`; the returned function removes the handler (at shutdown)."""
        loop.add_signal_handler(signal.SIGHUP, self.on_signal)

        def remove() -> None:
            loop.remove_signal_handler(signal.SIGHUP)

        return remove

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write whole or not at all (a reader never sees half a file), readable by the owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(document, out, ensure_ascii=False)
    os.replace(tmp, path)


def write_pid(data_dir: Path) -> Path:
    path = data_dir / PID_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{PID_FILE}.{os.getpid()}.tmp")
    tmp.write_text(f"{os.getpid()}\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def remove_pid(path: Path) -> None:
    """Only our own: a second gateway that took the file over keeps it."""
    with contextlib.suppress(OSError, ValueError):
        if int(path.read_text(encoding="utf-8").strip()) == os.getpid():
            path.unlink()


def wait_for_result(control_dir: Path, nonce: str, timeout: float, alive: Callable[[], bool]) -> Result | None:
    """The gateway's answer to request `nonce` (None: no answer within `timeout`, or it stopped)."""
    path = control_dir / f"result-{nonce}.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            if not alive():
                return None
            time.sleep(0.05)
            continue
        with contextlib.suppress(OSError):
            path.unlink()
        return Result.from_json(document)
    return None
