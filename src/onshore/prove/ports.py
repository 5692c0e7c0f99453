"""The ports the prove stage writes and reads the audit chain through; stores and the witness implement them.

Store methods are blocking: the writer runs them on the store's own thread (`Runner`), or inline on the
event loop when a commit costs microseconds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol, TypeVar, runtime_checkable

from onshore.prove.chain import ChainedRecord, ChainHead, Checkpoint

_T = TypeVar("_T")


@runtime_checkable
class AuditStore(Protocol):
    """The audit chain and its signed checkpoints, as stored (sqlite, postgres, memory)."""

    def audit_head(self) -> ChainHead: ...

    def append_entries(self, entries: list[dict[str, Any]]) -> list[ChainedRecord]:
        """Chain `entries` after the stored head and commit them, in one transaction that holds the
        store's write lock: with several gateways writing, the chain still has no forks and no gaps."""
        ...

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store a checkpoint, replacing one stored at the same seq."""
        ...

    def last_checkpoint_seq(self) -> int: ...

    def iter_records(
        self, since: float | None = None, until: float | None = None, *, newest_first: bool = False
    ) -> Iterator[ChainedRecord]:
        """Records with since <= ts < until, in seq order (or newest first: a reader that wants the
        latest few stops early instead of reading the whole window), bodies byte for byte as stored."""
        ...

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint, in seq order."""
        ...


class Runner(Protocol):
    """Runs a blocking store call on the thread that owns the store (its `Worker.run`)."""

    def __call__(self, fn: Callable[..., _T], /, *args: Any) -> Awaitable[_T]: ...


class WitnessLog(Protocol):
    """Where signed checkpoints are copied outside the database (prove/witness.py). Blocking."""

    def append(self, checkpoint: Checkpoint) -> None: ...
