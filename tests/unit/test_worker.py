"""The owned-thread mechanism every store and the embedded model use: close() waits for every call."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from onshore.worker import Worker, WorkerClosed


def test_close_waits_for_a_running_call_and_refuses_new_ones() -> None:
    worker = Worker("test-worker")
    started, finished = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        time.sleep(0.2)
        finished.set()
        return "done"

    future = worker.submit(slow)
    assert started.wait(2)
    worker.close()  # must not return while slow() is still inside the resource
    assert finished.is_set()
    assert future.result() == "done"
    with pytest.raises(WorkerClosed):
        worker.submit(slow)
    worker.close()  # idempotent


def test_a_cancelled_await_does_not_outlive_aclose() -> None:
    """The shutdown crash: a task awaiting a store call is cancelled, the call keeps running in its
    thread, and the connection is closed under it. With a Worker, aclose() returns only after it."""
    worker = Worker("test-worker")
    inside = threading.Event()
    finished: list[float] = []

    def query() -> int:
        inside.set()
        time.sleep(0.2)
        finished.append(time.monotonic())
        return 1

    async def main() -> float:
        task = asyncio.create_task(worker.run(query))
        while not inside.is_set():
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not finished  # the call is still running after the awaiting task was cancelled
        await worker.aclose()
        return time.monotonic()

    closed_at = asyncio.run(main())
    assert finished and finished[0] <= closed_at


def test_a_call_cancelled_before_it_starts_never_runs() -> None:
    worker = Worker("test-worker")
    gate = threading.Event()
    ran: list[str] = []

    async def main() -> None:
        first = asyncio.create_task(worker.run(gate.wait, 2))
        second = asyncio.create_task(worker.run(ran.append, "second"))
        await asyncio.sleep(0.05)
        second.cancel()
        await asyncio.sleep(0.05)  # the cancel reaches the queued call through the loop
        gate.set()
        assert await first is True
        with pytest.raises(asyncio.CancelledError):
            await second
        await worker.aclose()

    asyncio.run(main())
    assert ran == []
