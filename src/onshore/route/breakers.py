"""Circuit breakers shared by every replica: failures are counted in the shared store (a BreakerStore:
Redis, or memory for one process), and each replica re-reads which breakers are open every half second,
so the hot path stays a set lookup.

A backend whose breaker is open is skipped like a disabled one (failover moves on to the next
compliant backend); when its cool-down ends it is tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from onshore.decide.controls import ControlsUnavailable
from onshore.events.model import NO_EVENTS, EventType, SecurityEvent, SecurityEvents
from onshore.route.ports import BreakerStore
from onshore.route.router import Attempt

log = logging.getLogger("onshore.breakers")

FAILURES = ("connect_error", "timeout", "read_failed", "bad_response")


def is_failure(outcome: str) -> bool:
    return outcome in FAILURES or (outcome.startswith("status_5") and outcome != "status_501")


class Breakers:
    def __init__(
        self,
        controls: BreakerStore,
        backends: Iterable[str],
        now: Callable[[], float],
        events: SecurityEvents = NO_EVENTS,
    ) -> None:
        self._controls = controls
        self._events = events
        self._backends = tuple(backends)
        self._now = now
        self._open: frozenset[str] = frozenset()
        self._failing: set[str] = set()  # backends with failures since their last success (local view)
        self._pending: set[asyncio.Task[None]] = set()

    def track(self, backends: Iterable[str]) -> None:
        """Watch these backends from now on (a config reload added or removed some)."""
        self._backends = tuple(backends)

    def allows(self, backend: str) -> bool:
        return backend not in self._open

    def observe(self, attempts: Iterable[Attempt]) -> None:
        """Count failed attempts; clear a backend's count on success (only if it had failures)."""
        for attempt in attempts:
            if is_failure(attempt.outcome):
                self._failing.add(attempt.backend)
                self._spawn(self._failure(attempt.backend, attempt.outcome))
            elif attempt.outcome == "ok" and attempt.backend in self._failing:
                self._failing.discard(attempt.backend)
                self._spawn(self._success(attempt.backend))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _failure(self, backend: str, reason: str) -> None:
        try:
            if await self._controls.record_failure(backend, self._now()):
                log.warning("circuit breaker opened for backend %s after repeated failures (last: %s)", backend, reason)
                self._events.emit(SecurityEvent(type=EventType.BREAKER_OPENED, time=self._now(), backend=backend))
                self._open = self._open | {backend}
        except ControlsUnavailable:
            pass  # counting is best effort; the kill switch is the control that fails closed

    async def _success(self, backend: str) -> None:
        with contextlib.suppress(ControlsUnavailable):
            await self._controls.record_success(backend)

    async def run(self, every: float = 0.5) -> None:
        while True:
            try:
                now, backends = self._now(), self._backends  # one list per round, even across a reload
                states = await asyncio.gather(*(self._controls.is_open(b, now) for b in backends))
                opened = frozenset(b for b, is_open in zip(backends, states, strict=True) if is_open)
                for backend in sorted(self._open - opened):  # the shared view: a close seen by every replica
                    log.warning("circuit breaker closed for backend %s: its open period ended", backend)
                for backend in sorted(opened - self._open):
                    log.warning("circuit breaker open for backend %s (opened by another replica)", backend)
                self._open = opened
            except ControlsUnavailable:
                pass  # keep the last view
            await asyncio.sleep(every)

    async def drain(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
