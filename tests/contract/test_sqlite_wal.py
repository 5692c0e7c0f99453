"""The SQLite store's WAL checkpoints run on their own thread, never inside an audit commit (which runs
on the event loop): real SQLite files, real threads."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from onshore.prove.chain import verify
from onshore.store import wal_checkpoint
from onshore.store.sqlite import SqliteStore


def entry(n: int) -> dict[str, Any]:
    return {"id": f"req_{n:08d}", "ts": 1_700_000_000.0 + n, "kind": "request", "note": "x" * 900}


def wal_frames(path: Path) -> int:
    """Frames in the WAL now, as SQLite reports them to a connection of its own."""
    conn = sqlite3.connect(path)
    try:
        _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(frames)
    finally:
        conn.close()


def wait_for(check: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def assert_whole_chain(store: SqliteStore, expected: int) -> None:
    records = list(store.iter_records())
    report = verify(records, store.checkpoints(), lambda _cp: True)
    assert report.ok, report.first_break
    assert report.records == expected
    assert [r.seq for r in records] == list(range(1, expected + 1))


def test_audit_commits_leave_the_checkpoint_to_the_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wal_checkpoint, "INTERVAL_SECONDS", 3600.0)  # only when asked, below
    monkeypatch.setattr(wal_checkpoint, "NUDGE_EVERY_COMMITS", 10**9)
    path = tmp_path / "onshore.db"
    store = SqliteStore(path)
    try:
        assert store._write.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        db_size = path.stat().st_size
        for n in range(1500):  # ~2 pages a commit: far past SQLite's own 1,000-page checkpoint
            store.append_entries([entry(n)])
        # No commit copied the WAL into the database file: that is the thread's job.
        assert path.stat().st_size == db_size
        assert wal_frames(path) >= 1500
        store.wal.checkpoint_now()
        wait_for(lambda: store.wal.checkpoints >= 1, "the checkpoint thread")
        assert path.stat().st_size > db_size + 1500 * 900
        assert_whole_chain(store, 1500)
    finally:
        store.close()
    assert not store.wal._thread.is_alive()
    reopened = SqliteStore(path)  # nothing lost across the close either
    try:
        assert_whole_chain(reopened, 1500)
    finally:
        reopened.close()


def test_the_wal_starts_over_under_writes_that_never_pause(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wal_checkpoint, "NUDGE_EVERY_COMMITS", 8)
    monkeypatch.setattr(wal_checkpoint, "MAX_WAL_FRAMES", 300)
    monkeypatch.setattr(wal_checkpoint, "RESTART_MIN_SECONDS", 0.0)
    path = tmp_path / "onshore.db"
    store = SqliteStore(path)
    commits = 0
    try:
        deadline = time.monotonic() + 60
        while store.wal.restarts < 2 and time.monotonic() < deadline:
            store.append_entries([entry(commits)])
            commits += 1
        assert store.wal.restarts >= 2, f"the WAL never started over in {commits} commits"
        for n in range(commits, commits + 20):  # the commit after the wait starts the WAL over
            store.append_entries([entry(n)])
        commits += 20
        assert wal_frames(path) < commits  # without a restart it would hold every commit's frames
        assert_whole_chain(store, commits)
    finally:
        store.close()


def test_a_store_nobody_closed_does_not_hold_up_the_exit(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from onshore.store.sqlite import SqliteStore\n"
        "store = SqliteStore(Path(sys.argv[1]))\n"
        "for n in range(300): store.append_entries([{'id': f'r{n}', 'ts': 1.0, 'kind': 'request'}])\n"
        "store.wal.checkpoint_now()\n"
    )
    path = tmp_path / "onshore.db"
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    store = SqliteStore(path)
    try:
        assert_whole_chain(store, 300)
    finally:
        store.close()


def test_a_failing_checkpoint_is_logged_once_and_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(wal_checkpoint, "INTERVAL_SECONDS", 3600.0)
    monkeypatch.setattr(wal_checkpoint, "NUDGE_EVERY_COMMITS", 10**9)
    path = tmp_path / "onshore.db"
    store = SqliteStore(path)  # its own thread stays asleep: the WAL keeps frames to checkpoint
    store.append_entries([entry(0)])
    time.sleep(0.1)
    monkeypatch.setattr(wal_checkpoint, "INTERVAL_SECONDS", 0.02)
    # A connection that cannot write the database: SQLite refuses its checkpoints (a real error).
    failing = wal_checkpoint.WalCheckpointer(lambda: sqlite3.connect(f"file:{path}?mode=ro", uri=True), path)
    try:
        with caplog.at_level("INFO", logger="onshore.store"):
            for _ in range(5):
                failing.checkpoint_now()
                time.sleep(0.05)
        assert failing._thread.is_alive()
        assert failing.checkpoints == 0
        warnings = [r for r in caplog.records if "WAL checkpoint" in r.getMessage()]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert "retrying" in warnings[0].getMessage()
    finally:
        failing.close()
        store.close()
    assert not failing._thread.is_alive()


def test_a_restart_that_cannot_happen_is_not_retried_at_every_tick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long read pins an old snapshot: the WAL cannot start over, and the writer must not be made
    to wait for it again at every nudge."""
    monkeypatch.setattr(wal_checkpoint, "NUDGE_EVERY_COMMITS", 8)
    monkeypatch.setattr(wal_checkpoint, "MAX_WAL_FRAMES", 300)
    monkeypatch.setattr(wal_checkpoint, "RESTART_MIN_SECONDS", 3600.0)
    path = tmp_path / "onshore.db"
    store = SqliteStore(path)
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        store.append_entries([entry(0)])
        reader.execute("BEGIN")
        assert reader.execute("SELECT COUNT(*) FROM audit_records").fetchone()[0] == 1  # the snapshot it holds
        commits = 1
        deadline = time.monotonic() + 60
        while store.wal.restarts < 1 and time.monotonic() < deadline:
            store.append_entries([entry(commits)])
            commits += 1
        assert store.wal.restarts == 1
        checked = store.wal.checkpoints
        for n in range(commits, commits + 800):  # many more nudges past MAX_WAL_FRAMES
            store.append_entries([entry(n)])
        commits += 800
        wait_for(lambda: store.wal.checkpoints > checked + 5, "more checkpoints")
        assert store.wal.restarts == 1  # once per RESTART_MIN_SECONDS, not once per nudge
        assert wal_frames(path) > 300  # the read still pins the WAL
        reader.execute("COMMIT")
        assert_whole_chain(store, commits)
    finally:
        reader.close()
        store.close()
