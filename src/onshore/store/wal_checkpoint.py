"""SQLite WAL checkpoints on a thread of their own, never inside a request's commit.

By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages: that commit
copies the WAL into the database file and fsyncs both (synchronous=NORMAL syncs at checkpoints), and
the audit writer commits on the event loop, so every few hundred requests the whole gateway stopped
for the length of two fsyncs (measured: commit median 17 µs, one in ~400 took 17-21 ms). The writer
connection turns automatic checkpoints off and this thread runs PASSIVE checkpoints instead, which
never block the writer: the sqlite3 module releases the GIL while SQLite copies and syncs.

Durability is unchanged: a commit is as durable as before (WAL frames are written at commit, synced
at commit under "full"); only the copy into the database file moves off the request path.
"""

from __future__ import annotations

import atexit
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("onshore.store")

NUDGE_EVERY_COMMITS = 256  # ~2-3 pages per commit: about SQLite's own 1,000-page threshold
INTERVAL_SECONDS = 1.0  # and at least this often while anything was committed

# The WAL starts over only once a checkpoint has copied every frame and the writer has not committed
# since: under steady load a checkpoint's fsyncs (5-15 ms each here) always overlap a commit, so
# the WAL grows. At this many frames (64 MiB of 4 KiB pages) the writer waits for one checkpoint.
MAX_WAL_FRAMES = 16_384
CATCH_UP_PASSES = 2
# The wait fails to start the WAL over while another process writes or a long read holds an old
# snapshot (a report, `audit verify`): retried no more often than this, so the writer never waits
# more than once per interval, whatever else uses the file.
RESTART_MIN_SECONDS = 5.0
WAL_SIZE_LIMIT = 128 * 1024 * 1024  # PRAGMA journal_size_limit: a WAL file past this is cut back
_PASSIVE = "PRAGMA wal_checkpoint(PASSIVE)"

_running: weakref.WeakSet[WalCheckpointer] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    """A store nobody closed: stop its thread before the interpreter is torn down, never mid-checkpoint."""
    for checkpointer in list(_running):
        checkpointer.close()


class WalCheckpointer:
    """`committed()` after each commit of the connection whose automatic checkpoints are off;
    `close()` stops the thread (SQLite checkpoints once more when the last connection closes)."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], path: Path) -> None:
        self._connect = connect
        self._path = path
        # Held by the writer around each transaction; by this thread only past MAX_WAL_FRAMES.
        self.lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._commits = 0  # since the last nudge; only the writer's thread touches it
        self._dirty = False  # something was committed since the last checkpoint
        self._failing = False  # the last checkpoint failed (logged once per streak)
        self.checkpoints = 0  # completed checkpoints, for tests and diagnostics
        self.restarts = 0  # of which the writer waited for, so that the WAL could start over
        self._restarted_at = -RESTART_MIN_SECONDS  # time.monotonic() of the last such wait
        self._thread = threading.Thread(target=self._run, name="onshore-sqlite-checkpoint", daemon=True)
        self._thread.start()
        _running.add(self)

    def committed(self) -> None:
        """Called on the writer's thread after a commit: a counter, and a wake-up now and then."""
        self._dirty = True
        self._commits += 1
        if self._commits >= NUDGE_EVERY_COMMITS:
            self._commits = 0
            self._wake.set()

    def checkpoint_now(self) -> None:
        """Ask for a checkpoint without waiting for the next nudge or tick."""
        self._dirty = True
        self._wake.set()

    def close(self) -> None:
        """Stop the thread; idempotent. A checkpoint under way finishes first."""
        self._closed = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        _running.discard(self)

    def _run(self) -> None:
        try:
            conn = self._connect()
        except sqlite3.Error as exc:  # the writer's own connection reports the same fault on its writes
            log.error("WAL checkpoints of %s are off: %s", self._path.name, exc)
            return
        try:
            while True:
                self._wake.wait(INTERVAL_SECONDS)
                self._wake.clear()
                if self._closed:
                    return
                if self._dirty:
                    self._dirty = False
                    self._checkpoint(conn)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            _, frames, _ = conn.execute(_PASSIVE).fetchone()
            if frames >= MAX_WAL_FRAMES and time.monotonic() - self._restarted_at >= RESTART_MIN_SECONDS:
                self._restart(conn)
        except Exception as exc:  # noqa: BLE001 - the thread must live on: the next tick tries again
            self._dirty = True
            if not self._failing:  # once per streak, not once a second (writes report their own failures)
                log.warning("WAL checkpoint of %s failed, retrying every second: %s", self._path.name, exc)
            self._failing = True
            return
        if self._failing:
            log.info("WAL checkpoint of %s works again", self._path.name)
        self._failing = False
        self.checkpoints += 1

    def _restart(self, conn: sqlite3.Connection) -> None:
        """The writer never paused for long enough: after two more passes (each copies what came
        during the one before) it waits for a last one, after which its next commit starts the WAL
        over. That wait includes the database file's sync, which SQLite makes only in a pass that
        reaches the end of the WAL (measured here: 15-20 ms, once per MAX_WAL_FRAMES)."""
        for _ in range(CATCH_UP_PASSES):
            conn.execute(_PASSIVE).fetchone()
        with self.lock:
            conn.execute(_PASSIVE).fetchone()
        self._restarted_at = time.monotonic()
        self.restarts += 1
