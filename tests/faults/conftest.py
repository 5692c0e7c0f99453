"""Private PostgreSQL and Redis for the fault suite (session-scoped, always torn down), never the
machine's own: these get stopped, crashed and restarted on purpose."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.services import PrivatePostgres, PrivateRedis, ServiceUnavailable


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "root_mount: needs root and mount(8) (tmpfs) on this machine")


@pytest.fixture(scope="session")
def private_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePostgres]:
    try:
        pg = PrivatePostgres(tmp_path_factory.mktemp("private-pg"))
    except ServiceUnavailable as exc:
        pytest.skip(f"no private PostgreSQL: {exc}")
    try:
        pg.init().start()
        yield pg
    finally:
        pg.close()


@pytest.fixture
def pg_database(private_pg: PrivatePostgres) -> Iterator[str]:
    """A fresh database on the private cluster, at the schema the gateway needs (`onshore db upgrade`)."""
    import psycopg

    from onshore.store.postgres import upgrade

    if not private_pg.running():
        private_pg.start()  # a previous test failed while it was stopped
    name = f"faults_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(private_pg.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = private_pg.dsn.rsplit("/", 1)[0] + "/" + name
    upgrade(dsn)
    yield dsn
    if private_pg.running():
        with psycopg.connect(private_pg.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    try:
        server = PrivateRedis(tmp_path_factory.mktemp("private-redis"))
    except ServiceUnavailable as exc:
        pytest.skip(f"no private Redis: {exc}")
    try:
        server.start()
        yield server
    finally:
        server.close()


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60)


def _unmount(path: Path) -> None:
    if _run("umount", str(path)).returncode != 0:
        _run("umount", "-l", str(path))  # still busy (a test failed with files open): detach it anyway


@pytest.fixture
def tmpfs_dir(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs: a disk that really fills up."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount(8) to mount a small tmpfs")
    path = tmp_path / "tmpfs"
    path.mkdir()
    mounted = _run("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(path))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        _unmount(path)


@dataclass
class Ext4Disk:
    """An ext4 file system on a loop device, mounted errors=remount-ro: `fail()` raises an ext4 error
    (sysfs trigger_fs_error), which turns the disk read-only exactly as a failing disk would."""

    image: Path
    path: Path

    @property
    def device(self) -> str:
        return _run("findmnt", "-no", "SOURCE", str(self.path)).stdout.strip()

    def fail(self) -> None:
        trigger = Path("/sys/fs/ext4") / Path(self.device).name / "trigger_fs_error"
        trigger.write_text("onshore fault test\n")

    def repair(self) -> None:
        """What an operator does: unmount, fsck, mount again (the gateway holding files open was stopped)."""
        _unmount(self.path)
        _run("e2fsck", "-fy", str(self.image))
        self.mount()

    def mount(self) -> None:
        mounted = _run("mount", "-o", "loop,errors=remount-ro", str(self.image), str(self.path))
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a loop device here: {mounted.stderr.strip()}")


@pytest.fixture
def ext4_disk(tmp_path: Path) -> Iterator[Ext4Disk]:
    if os.geteuid() != 0 or shutil.which("mkfs.ext4") is None or shutil.which("losetup") is None:
        pytest.skip("needs root, mkfs.ext4 and loop devices")
    image, path = tmp_path / "disk.img", tmp_path / "ext4"
    path.mkdir()
    with open(image, "wb") as f:
        f.truncate(16 * 2**20)
    if _run("mkfs.ext4", "-q", str(image)).returncode != 0:
        pytest.skip("mkfs.ext4 failed")
    disk = Ext4Disk(image, path)
    disk.mount()
    try:
        yield disk
    finally:
        _unmount(path)
