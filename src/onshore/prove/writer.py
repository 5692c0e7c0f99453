"""Group-committing audit writer.

Requests hand their entry to `append` and wait until it is durable. Entries that arrive while a batch
is being written form the next batch, so under load one commit covers many requests, and at
concurrency 1 a request pays for one small transaction. The chain head only advances once a batch is
committed; a failed write fails every request in the batch (the gateway never answers what it could
not record) and the head stays where the store says it is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

from onshore.events.model import NO_EVENTS, EventType, SecurityEvent, SecurityEvents
from onshore.prove.chain import ChainedRecord, ChainHead, Checkpoint, checkpoint_message
from onshore.prove.ports import AuditStore, Runner, WitnessLog
from onshore.prove.signer import Signer

_T = TypeVar("_T")


class AuditUnavailable(Exception):
    """The audit store could not record an entry; the request must fail."""


class WitnessUnavailable(Exception):
    """A checkpoint is in the database but not yet in the witness; retried at the next checkpoint."""


class AuditWriter:
    def __init__(
        self,
        store: AuditStore,
        signer: Signer,
        run: Runner,
        *,
        inline: bool = False,
        max_batch: int = 512,
        witness: WitnessLog | None = None,
        events: SecurityEvents = NO_EVENTS,
        now: Callable[[], float] = time.time,
    ) -> None:
        """`run`: the store's own worker thread, which keeps writes ordered and off the event loop and
        which the store drains before it closes. `inline`: write on the event loop thread instead,
        right when a commit costs tens of microseconds (SQLite without fsync): two thread hand-offs
        per batch would cost more than the write. `witness`: gets a copy of every checkpoint, always
        on `run` (it fsyncs), never on the event loop."""
        self._inline = inline
        self._events, self._now = events, now
        self._store = store
        self._signer = signer
        self._max_batch = max_batch
        self._run = run
        self._pending: list[tuple[dict[str, Any], asyncio.Future[ChainedRecord]]] = []
        self._flushing = False
        self._flush_task: asyncio.Task[None] | None = None
        self._head: ChainHead | None = None
        self._healthy = True
        self._checkpointed_seq = 0
        self._witness = witness
        self._unwitnessed: Checkpoint | None = None

    @property
    def healthy(self) -> bool:
        return self._healthy

    @property
    def head(self) -> ChainHead:
        if self._head is None:
            raise RuntimeError("AuditWriter.start() was not awaited")
        return self._head

    async def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        if self._inline:
            return fn(*args)
        return await self._run(fn, *args)

    async def start(self) -> None:
        self._head = await self._call(self._store.audit_head)
        self._checkpointed_seq = await self._call(self._store.last_checkpoint_seq)

    def append(self, entry: dict[str, Any]) -> asyncio.Future[ChainedRecord]:
        """Queue `entry` for the next batch now; the future resolves once it is durable (or fails).
        Plain, not a coroutine: the entry is in the batch before the caller awaits, so a caller
        cancelled while it waits cannot take its record back, and no task is made to shield it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ChainedRecord] = loop.create_future()
        self._pending.append((entry, future))
        if not self._flushing:
            self._flushing = True
            if self._inline:
                loop.call_soon(self._flush_inline)
            else:
                self._flush_task = loop.create_task(self._flush())
        return future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    records = await self._call(self._store.append_entries, [entry for entry, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every failure must fail these requests
                    self._fail(batch, exc)
                    continue
                self._succeed(batch, records)
        finally:
            self._flushing = False

    def _flush_inline(self) -> None:
        """Inline mode: everything appended during this turn of the event loop, in one transaction on
        the loop thread. A plain callback (no task), so a lone request pays for one short commit."""
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    records = self._store.append_entries([entry for entry, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every failure must fail these requests
                    self._fail(batch, exc)
                    continue
                self._succeed(batch, records)
        finally:
            self._flushing = False

    def _fail(self, batch: list[tuple[dict[str, Any], asyncio.Future[ChainedRecord]]], exc: Exception) -> None:
        self._healthy = False
        self._events.emit(
            SecurityEvent(
                type=EventType.AUDIT_WRITE_FAILED, time=self._now(), reason=type(exc).__name__, count=len(batch)
            )
        )
        error = AuditUnavailable(f"audit store write failed: {type(exc).__name__}")
        for _, future in batch:
            if not future.done():
                future.set_exception(error)

    def _succeed(
        self,
        batch: list[tuple[dict[str, Any], asyncio.Future[ChainedRecord]]],
        records: list[ChainedRecord],
    ) -> None:
        self._healthy = True
        self._head = ChainHead(records[-1].seq, records[-1].hash)
        for (_, future), record in zip(batch, records, strict=True):
            if not future.done():
                future.set_result(record)

    async def checkpoint(self, now: float) -> Checkpoint | None:
        """Sign the stored head (every replica's records, not just ours) if it moved since the last
        one, store it, then copy it to the witness.

        The database checkpoint stands even if the witness write fails (it still pins the chain
        against rewriting): the checkpoint is kept and offered to the witness again at every call,
        a newer one replacing it, and WitnessUnavailable says so until the witness has it."""
        checkpoint = await self._sign_head(now)
        if checkpoint is not None and self._witness is not None:
            self._unwitnessed = checkpoint
        pending = self._unwitnessed
        if pending is not None and self._witness is not None:
            try:
                await self._run(self._witness.append, pending)
            except Exception as exc:  # reported by the checkpoint loop, retried at the next checkpoint
                raise WitnessUnavailable(
                    f"checkpoint seq {pending.seq} is not in the witness: {type(exc).__name__}: {exc}"
                ) from exc
            if self._unwitnessed is pending:
                self._unwitnessed = None
        return checkpoint

    async def _sign_head(self, now: float) -> Checkpoint | None:
        head = await self._call(self._store.audit_head)
        if head.seq == 0 or head.seq <= self._checkpointed_seq:
            return None
        self._checkpointed_seq = max(self._checkpointed_seq, await self._call(self._store.last_checkpoint_seq))
        if head.seq <= self._checkpointed_seq:
            return None
        ts = round(now, 3)
        signature = self._signer.sign(checkpoint_message(head.seq, head.hash, ts, self._signer.kid))
        checkpoint = Checkpoint(head.seq, head.hash, ts, self._signer.kid, signature)
        await self._call(self._store.add_checkpoint, checkpoint)
        self._checkpointed_seq = head.seq
        return checkpoint

    async def close(self) -> None:
        """Wait until every entry handed in is written (or failed); the store closes after this."""
        while self._flushing or self._pending:
            await asyncio.sleep(0.005)
