"""The emitter: one bounded queue per sink, each drained by its own background task.

`emit` never awaits, never raises and never blocks: when a sink's queue is full (the sink is slow or
dead) the event is dropped for that sink and counted, and the drainer reports the drops as an event
of their own once it can send again. One dead sink never holds back another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from onshore.events.model import EventType, SecurityEvent

log = logging.getLogger("onshore.siem")

Render = Callable[[SecurityEvent], dict[str, Any]]


class Sink(Protocol):
    name: str

    async def send(self, documents: list[dict[str, Any]]) -> None:
        """Deliver a batch, or raise (the lane reconnects and retries with backoff)."""
        ...

    async def aclose(self) -> None: ...


class _Lane:
    def __init__(self, sink: Sink, size: int, on_drop: Callable[[str], None]) -> None:
        self.sink = sink
        self.queue: asyncio.Queue[SecurityEvent] = asyncio.Queue(size)
        self.dropped = 0  # since the last report
        self._on_drop = on_drop

    def offer(self, event: SecurityEvent) -> bool:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            self._on_drop(self.sink.name)
            return False
        return True


class Emitter:
    """The SecurityEvents port for a running gateway. Start `run()` as a background task."""

    def __init__(
        self,
        sinks: list[Sink],
        render: Render,
        now: Callable[[], float],
        *,
        queue_size: int = 10_000,
        max_batch: int = 100,
        report_every: float = 60.0,
        on_drop: Callable[[str], None] = lambda _sink: None,
        backoff: tuple[float, float] = (0.1, 30.0),
    ) -> None:
        self._lanes = [_Lane(sink, queue_size, on_drop) for sink in sinks]
        self._render = render
        self._now = now
        self._max_batch = max_batch
        self._report_every = report_every
        self._backoff = backoff
        self.dropped_total = 0  # every event any sink could not take, since start

    def emit(self, event: SecurityEvent) -> None:
        for lane in self._lanes:
            try:
                if not lane.offer(event):
                    self.dropped_total += 1
            except Exception:  # noqa: BLE001 - an event must never fail what emitted it
                self.dropped_total += 1

    async def run(self) -> None:
        await asyncio.gather(*(self._drain(lane) for lane in self._lanes))

    async def _drain(self, lane: _Lane) -> None:
        last_report = float("-inf")  # the first drops are reported at once, then at most every interval
        try:
            while True:
                batch: list[SecurityEvent] = []
                with contextlib.suppress(TimeoutError):
                    batch.append(await asyncio.wait_for(lane.queue.get(), self._report_every))
                while batch and len(batch) < self._max_batch and not lane.queue.empty():
                    batch.append(lane.queue.get_nowait())
                if lane.dropped and self._now() - last_report >= self._report_every:
                    batch.append(SecurityEvent(type=EventType.EVENTS_DROPPED, time=self._now(), count=lane.dropped))
                    lane.dropped = 0
                    last_report = self._now()
                if batch:
                    await self._deliver(lane, [self._render(event) for event in batch])
        finally:
            await lane.sink.aclose()

    async def _deliver(self, lane: _Lane, documents: list[dict[str, Any]]) -> None:
        """Retry the batch until it is sent; meanwhile new events queue up and overflow is counted."""
        delay, cap = self._backoff
        while True:
            try:
                await lane.sink.send(documents)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any sink failure: back off and retry
                log.warning("security events sink %s: %s: %s", lane.sink.name, type(exc).__name__, exc)
                await asyncio.sleep(delay)
                delay = min(cap, delay * 2)

    async def flush(self, timeout: float) -> None:
        """Wait (bounded) until every queue is empty: a clean shutdown sends what it has."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(not lane.queue.empty() for lane in self._lanes) and loop.time() < deadline:
            await asyncio.sleep(0.01)
