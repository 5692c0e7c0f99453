"""One owned thread for one blocking resource (a database connection pair, a loaded model).

Every blocking call the event loop makes on a resource goes through that resource's `Worker`, and the
resource is closed only after `Worker.close()` has returned. `close()` refuses new calls, lets every
call already submitted finish, and joins the thread, so nothing can still be running inside a
connection or a model when it is freed. (A cancelled `await` does not stop a call that has started:
`asyncio.to_thread` would leave it running in a thread nobody joins; here close() waits for it.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")


class WorkerClosed(RuntimeError):
    """The resource is shutting down; the call was not run."""


class Worker:
    def __init__(self, name: str) -> None:
        self.name = name
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, fn: Callable[..., _T], *args: Any) -> concurrent.futures.Future[_T]:
        with self._lock:  # closing and submitting never interleave: nothing slips in after close()
            if self._closed:
                raise WorkerClosed(f"{self.name} is closed")
            return self._executor.submit(fn, *args)

    async def run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run `fn(*args)` on the worker thread. If the caller is cancelled before the call starts it
        never runs; once started, it runs to its end and close() waits for it."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    def call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Blocking form, for start-up code that runs before the event loop serves anything."""
        return self.submit(fn, *args).result()

    def close(self) -> None:
        """Refuse new calls, wait for submitted ones, join the thread. Idempotent; blocking."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True)

    async def aclose(self) -> None:
        """close() without blocking the event loop while the last calls finish."""
        with self._lock:
            self._closed = True
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)
