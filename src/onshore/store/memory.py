"""In-memory twins of the stores, for one gateway process (tests, a demo, an embedded-only deployment).

`MemoryStore` holds API keys, the audit chain and its checkpoints with the semantics of SqliteStore
(the KeyStore and AuditStore ports): the chain is linked under one lock after the head as stored, so
several MemoryStores on one `MemoryDatabase` behave as replicas on one database (no forks, no gaps).
Nothing survives the process: a chain that must be kept belongs in SQLite or PostgreSQL.

`MemoryControls` holds rate limits, budgets, the kill switch and circuit breakers with the semantics of
RedisControls (the Counters, BreakerStore and KillSwitch ports) and is its own SwitchView: in one
process the view is the state, always current. Counter lifetimes and breaker windows run on the clock
the caller passes in (`now`), as the decisions in `onshore.decide.limits` do; nothing reads the time.
Its methods are coroutines that never await, so each runs whole on the event loop: a check and its
increment are as atomic as a Redis script.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from onshore.decide.controls import DisabledBackend
from onshore.decide.limits import (
    ADMITTED,
    Admission,
    BreakerPolicy,
    Counter,
    LimitPolicy,
    admitted,
    charges_for,
    counters_for,
    refused,
)
from onshore.identify.keys import KeyRecord
from onshore.prove.chain import GENESIS_HASH, ChainedRecord, ChainHead, Checkpoint, link
from onshore.store.sqlite import StoreError
from onshore.worker import Worker

# --- keys and the audit chain -----------------------------------------------------------------------


class MemoryDatabase:
    """The state several MemoryStores share, as connections share one database; guarded by `lock`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.keys: dict[str, KeyRecord] = {}
        self.key_hashes: set[str] = set()
        self.keys_revision = 0
        self.records: list[ChainedRecord] = []
        self.checkpoints: dict[int, Checkpoint] = {}
        self.meta: dict[str, str] = {}


class MemoryStore:
    """Same methods and semantics as SqliteStore. Blocking calls from the event loop go through
    `worker`, as for the other stores, so the gateway's code is the same whichever store it has."""

    def __init__(self, database: MemoryDatabase | None = None) -> None:
        self.database = database or MemoryDatabase()
        self.worker = Worker("onshore-memory")
        self._closed = False

    def close(self) -> None:
        self.worker.close()
        self._closed = True

    async def aclose(self) -> None:
        await self.worker.aclose()
        self.close()

    def _open(self) -> MemoryDatabase:
        if self._closed:
            raise StoreError("the memory store is closed")
        return self.database

    # --- keys (identify) ---------------------------------------------------------------------
    def add_key(self, record: KeyRecord) -> None:
        db = self._open()
        with db.lock:
            if record.key_id in db.keys or record.hash in db.key_hashes:
                raise StoreError(f"unique constraint: key {record.key_id} (or its hash) is already stored")
            db.keys[record.key_id] = record
            db.key_hashes.add(record.hash)
            db.keys_revision += 1

    def revoke_key(self, key_id: str, now: float) -> bool:
        db = self._open()
        with db.lock:
            # The revision moves even when nothing changed, as in SqliteStore (a refresh costs one listing).
            db.keys_revision += 1
            record = db.keys.get(key_id)
            if record is None or record.revoked_at is not None:
                return False
            db.keys[key_id] = KeyRecord(
                record.key_id,
                record.name,
                record.tenant,
                record.floor,
                record.models,
                record.created_at,
                now,
                record.hash,
            )
            return True

    def keys_revision(self) -> int:
        db = self._open()
        with db.lock:
            return db.keys_revision

    def list_keys(self) -> list[KeyRecord]:
        db = self._open()
        with db.lock:
            return sorted(db.keys.values(), key=lambda k: (k.created_at, k.key_id))

    # --- audit (prove) -----------------------------------------------------------------------
    def audit_head(self) -> ChainHead:
        db = self._open()
        with db.lock:
            return _head(db.records)

    def append_entries(self, entries: list[dict[str, Any]]) -> list[ChainedRecord]:
        db = self._open()
        with db.lock:  # the write lock: the head cannot move under us
            records, _ = link(entries, _head(db.records))
            db.records.extend(records)
        return records

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        db = self._open()
        with db.lock:
            db.checkpoints[checkpoint.seq] = checkpoint

    def last_checkpoint_seq(self) -> int:
        db = self._open()
        with db.lock:
            return max(db.checkpoints, default=0)

    def iter_records(
        self, since: float | None = None, until: float | None = None, *, newest_first: bool = False
    ) -> Iterator[ChainedRecord]:
        """Records in seq order (or newest first). The chain only grows, so the records up to the
        length at the call are read without copying them; records appended meanwhile are not included."""
        db = self._open()
        with db.lock:
            count = len(db.records)
        records = db.records
        for index in range(count - 1, -1, -1) if newest_first else range(count):
            record = records[index]
            if (since is None or record.ts >= since) and (until is None or record.ts < until):
                yield record

    def checkpoints(self) -> list[Checkpoint]:
        db = self._open()
        with db.lock:
            return [db.checkpoints[seq] for seq in sorted(db.checkpoints)]

    def ping(self) -> None:
        self._open()

    def probe_write(self, now: float) -> None:
        db = self._open()
        with db.lock:
            db.meta["write_probe"] = repr(now)


def _head(records: list[ChainedRecord]) -> ChainHead:
    return ChainHead(0, GENESIS_HASH) if not records else ChainHead(records[-1].seq, records[-1].hash)


# --- stored Responses turns -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _StoredTurn:
    tenant: str
    owner: str
    created_at: float
    expires_at: float
    sealed: bytes


class MemoryResponses:
    """Same semantics as SqliteResponses: found only by id and owner, and only before it expires."""

    def __init__(self) -> None:
        self._turns: dict[str, _StoredTurn] = {}
        self._closed = False

    def _open(self) -> dict[str, _StoredTurn]:
        if self._closed:
            raise StoreError("the memory response store is closed")
        return self._turns

    async def put(
        self, response_id: str, tenant: str, owner: str, created_at: float, expires_at: float, sealed: bytes
    ) -> None:
        turns = self._open()
        if response_id in turns:
            raise StoreError(f"unique constraint: response {response_id} is already stored")
        turns[response_id] = _StoredTurn(tenant, owner, created_at, expires_at, sealed)

    def _live(self, response_id: str, tenant: str, owner: str, now: float) -> _StoredTurn | None:
        turns = self._open()
        turn = turns.get(response_id)
        if turn is not None and turn.expires_at <= now:
            del turns[response_id]
            return None
        return turn if turn is not None and (turn.tenant, turn.owner) == (tenant, owner) else None

    async def get(self, response_id: str, tenant: str, owner: str, now: float) -> tuple[bytes, float] | None:
        turn = self._live(response_id, tenant, owner, now)
        return None if turn is None else (turn.sealed, turn.expires_at)

    async def delete(self, response_id: str, tenant: str, owner: str, now: float) -> bool:
        if self._live(response_id, tenant, owner, now) is None:
            return False
        del self._turns[response_id]
        return True

    async def purge(self, now: float) -> int:
        turns = self._open()
        expired = [rid for rid, turn in turns.items() if turn.expires_at <= now]
        for rid in expired:
            del turns[rid]
        return len(expired)

    async def aclose(self) -> None:
        self._closed = True


# --- limits, kill switch, breakers ----------------------------------------------------------------

SWEEP_EVERY = 60.0  # seconds of the callers' clock between sweeps of expired counters


@dataclass(slots=True)
class _Count:
    value: int
    expires_at: float  # on the callers' clock; refreshed by every write, as Redis EXPIRE is


@dataclass(slots=True)
class _Breaker:
    failures: list[float] = field(default_factory=list)  # times of the failures within the window
    open_until: float = 0.0


class MemoryControls:
    """Rate limits, budgets, the kill switch and circuit breakers for one process, on the given clock."""

    def __init__(self, *, breaker: BreakerPolicy | None = None, fail_closed: bool = True) -> None:
        self._breaker = breaker or BreakerPolicy()
        self._fail_closed = fail_closed
        self._counts: dict[str, _Count] = {}
        self._latest = float("-inf")  # the latest `now` seen: `usage` (no clock of its own) reads at it
        self._next_sweep = float("-inf")
        self._disabled: dict[str, DisabledBackend] = {}
        self._version = 0
        self._breakers: dict[str, _Breaker] = {}

    async def aclose(self) -> None:
        """Nothing to release; here so the composition root closes every controls the same way."""

    # --- rate limits and budgets -----------------------------------------------------------------

    def _value(self, key: str, now: float) -> int:
        count = self._counts.get(key)
        return 0 if count is None or count.expires_at <= now else count.value

    def _add(self, counter: Counter, cost: int, now: float) -> None:
        self._counts[counter.key] = _Count(self._value(counter.key, now) + cost, now + counter.ttl)

    def _tick(self, now: float) -> None:
        """Follow the clock and drop expired counters, a whole pass at most once per SWEEP_EVERY."""
        self._latest = max(self._latest, now)
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_EVERY
        for key in [k for k, c in self._counts.items() if c.expires_at <= now]:
            del self._counts[key]

    async def admit(self, key_id: str, tenant: str, policy: LimitPolicy, now: float) -> Admission:
        """Check every limit and, if all pass, count the request; a refused request changes nothing."""
        counters = counters_for(key_id, tenant, policy, now)
        if not counters:
            return ADMITTED
        self._tick(now)
        values = [self._value(counter.key, now) for counter in counters]
        for counter, value in zip(counters, values, strict=True):
            if value + 1 > counter.limit:
                return refused(counter, now)
        for counter in counters:
            if counter.cost > 0:
                self._add(counter, counter.cost, now)
        return admitted(counters, values)

    async def charge(self, key_id: str, tenant: str, policy: LimitPolicy, tokens: int, now: float) -> None:
        """Add the tokens a request used to its token windows and the budget."""
        counters = charges_for(key_id, tenant, policy, tokens, now)
        if not counters:
            return
        self._tick(now)
        for counter in counters:
            self._add(counter, counter.cost, now)

    async def usage(self, counters: tuple[Counter, ...]) -> list[int]:
        """Current values of counters (for reports and tests); 0 for one not yet created or expired."""
        return [self._value(c.key, self._latest) for c in counters]

    @property
    def counters_held(self) -> int:
        """How many counters are kept (expired ones linger until the next sweep)."""
        return len(self._counts)

    # --- kill switch (KillSwitch, and its own SwitchView) --------------------------------------------

    async def disable_backend(self, name: str, reason: str, actor: str, now: float) -> None:
        self._disabled[name] = DisabledBackend(reason=reason, actor=actor, since=now)
        self._version += 1

    async def enable_backend(self, name: str, actor: str, now: float) -> bool:
        """Enable a backend again; False if it was not disabled."""
        if self._disabled.pop(name, None) is None:
            return False
        self._version += 1
        return True

    async def disabled_backends(self) -> dict[str, DisabledBackend]:
        _version, disabled = await self.switch_state()
        return disabled

    async def switch_state(self) -> tuple[int, dict[str, DisabledBackend]]:
        """The kill-switch version (bumped by every change) and the disabled backends."""
        return self._version, {name: state.copy() for name, state in self._disabled.items()}

    @property
    def healthy(self) -> bool:
        return True  # the state is in this process: it is always current

    @property
    def fails_closed(self) -> bool:
        return self._fail_closed

    def is_enabled(self, name: str) -> bool:
        return name not in self._disabled

    # --- circuit breakers ----------------------------------------------------------------------------

    async def record_failure(self, backend: str, now: float) -> bool:
        """Count a failure of `backend`; True if it opened the breaker (see BreakerPolicy)."""
        policy = self._breaker
        breaker = self._breakers.setdefault(backend, _Breaker())
        # Failures older than the window are forgotten (at exactly `window` seconds old too, as in Redis).
        breaker.failures = [t for t in breaker.failures if t > now - policy.window]
        breaker.failures.append(now)
        if len(breaker.failures) >= policy.threshold:
            breaker.open_until = now + policy.cooldown
            breaker.failures.clear()
            return True
        return False

    async def record_success(self, backend: str) -> None:
        """A success clears the failure count; an open breaker stays open until its cool-down ends."""
        breaker = self._breakers.get(backend)
        if breaker is not None:
            breaker.failures.clear()

    async def is_open(self, backend: str, now: float) -> bool:
        breaker = self._breakers.get(backend)
        return breaker is not None and breaker.open_until > now
