"""The witness: every signed checkpoint, appended to a JSON-lines file outside the database.

Whoever can rewrite the database can delete the newest records together with the checkpoints that
cover them, and the chain left behind is intact. The witness keeps a copy where that owner cannot
rewrite it: a file opened O_APPEND and fsync'd after each line (make it append-only with
`chattr +a`, or put it on storage the database's owner cannot write), plus one INFO line per
checkpoint on the `onshore.audit.witness` logger for syslog or a log collector. `onshore audit verify`
checks every witnessed checkpoint against the chain.

Each line is the RFC 8785 form of {"type", "seq", "hash", "ts", "kid", "signature"}. Appends run on
the store's worker thread; `close` takes the same lock, so it never closes the file under a write.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from onshore.prove.chain import Checkpoint, canonical, checkpoint_document, checkpoint_from_document

WITNESS_FILE = "audit-witness.jsonl"
log = logging.getLogger("onshore.audit.witness")


def witness_line(cp: Checkpoint) -> bytes:
    return canonical(checkpoint_document(cp)) + b"\n"


class Witness:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd = -1
        self._inode: tuple[int, int] | None = None
        self._torn = False  # the file may end inside a line: start the next one on a new line
        self._closed = False

    def append(self, cp: Checkpoint) -> None:
        """Append and fsync one checkpoint line; raises OSError if it could not be made durable."""
        line = witness_line(cp)
        with self._lock:
            if self._closed:
                raise OSError(f"the witness {self.path} is closed")
            fd = self._ensure_open()
            data = (b"\n" if self._torn else b"") + line
            written = 0
            try:
                while written < len(data):
                    written += os.write(fd, data[written:])
                os.fsync(fd)
            except OSError:
                self._torn = self._torn or written > 0
                raise
            self._torn = False
        log.info("audit checkpoint %s", line.decode("utf-8").rstrip("\n"))

    def _ensure_open(self) -> int:
        """Open (or, if the file was moved, deleted or replaced, reopen) the witness file."""
        if self._fd >= 0:
            try:
                current = os.stat(self.path)
                if (current.st_dev, current.st_ino) == self._inode:
                    return self._fd
            except FileNotFoundError:
                pass
            log.warning("the audit witness %s was moved, deleted or replaced: starting a new file there", self.path)
            os.close(self._fd)
            self._fd = -1
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            info = os.fstat(fd)
            if info.st_size > 0:
                with self.path.open("rb") as existing:  # after a crash mid-write, the last line may be torn
                    existing.seek(-1, os.SEEK_END)
                    self._torn = existing.read(1) != b"\n"
            if created:  # make the new directory entry durable too
                directory = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._inode = fd, (info.st_dev, info.st_ino)
        return fd

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


@dataclass(slots=True)
class WitnessContents:
    checkpoints: list[Checkpoint] = field(default_factory=list)
    # Lines that are not a checkpoint at all (a write torn by a crash or a full disk): they carry no
    # signature, so they prove nothing either way; verify reports them without failing.
    unreadable: list[int] = field(default_factory=list)


def read_witness(path: Path) -> WitnessContents:
    contents = WitnessContents()
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                contents.checkpoints.append(checkpoint_from_document(msgspec.json.decode(line)))
            except (msgspec.DecodeError, ValueError):
                contents.unreadable.append(number)
    return contents
