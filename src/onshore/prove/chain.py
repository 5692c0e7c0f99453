"""The audit hash chain: pure hashing and verification, no I/O.

Each record's body carries its sequence number and the previous record's hash; its own hash is the
SHA-256 of the canonical (sorted-key, compact) JSON body. Changing, deleting, inserting or reordering
any record breaks the chain at a point the verifier can name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

GENESIS_HASH = "0" * 64
_WINDOW = 4096  # how far back an insertion or reordering can be diagnosed by name

_encoder = msgspec.json.Encoder(order="sorted")
_decoder = msgspec.json.Decoder(dict[str, Any])


def canonical(document: dict[str, Any]) -> bytes:
    return _encoder.encode(document)


@dataclass(frozen=True, slots=True)
class ChainHead:
    seq: int  # last sequence number written (0 for an empty log)
    hash: str


@dataclass(frozen=True, slots=True)
class ChainedRecord:
    seq: int
    id: str
    ts: float
    body: bytes  # canonical JSON, includes seq and prev_hash
    hash: str


def link(entries: Iterable[dict[str, Any]], head: ChainHead) -> tuple[list[ChainedRecord], ChainHead]:
    """Chain new entries after `head`. Each entry needs `id` and `ts`; seq and prev_hash are added."""
    seq, prev = head.seq, head.hash
    out: list[ChainedRecord] = []
    for entry in entries:
        seq += 1
        body = canonical({**entry, "seq": seq, "prev_hash": prev})
        digest = hashlib.sha256(body).hexdigest()
        out.append(ChainedRecord(seq, entry["id"], entry["ts"], body, digest))
        prev = digest
    return out, ChainHead(seq, prev)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    hash: str
    ts: float
    kid: str
    signature: str  # base64url Ed25519 signature over checkpoint_message()


def checkpoint_message(seq: int, record_hash: str, ts: float, kid: str) -> bytes:
    return canonical({"seq": seq, "hash": record_hash, "ts": ts, "kid": kid, "type": "onshore-audit-checkpoint"})


@dataclass(frozen=True, slots=True)
class Break:
    seq: int
    record_id: str | None
    problem: str

    def __str__(self) -> str:
        who = f"record seq {self.seq}" + (f" (id {self.record_id})" if self.record_id else "")
        return f"{who}: {self.problem}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    records: int
    checkpoints: int
    head: ChainHead
    first_break: Break | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def _check_records(rows: Iterable[ChainedRecord], hashes: dict[str, int]) -> Iterator[Break | ChainHead]:
    expected_seq, prev = 1, GENESIS_HASH
    ids: dict[int, str] = {}
    for row in rows:
        ids[row.seq] = row.id
        if len(ids) > _WINDOW:  # memory stays bounded on long logs; diagnosis needs only recent rows
            ids.pop(row.seq - _WINDOW, None)
            hashes.pop(next(iter(hashes)), None)
        try:
            body = _decoder.decode(row.body)
        except msgspec.DecodeError:
            yield Break(row.seq, row.id, "body is not valid JSON: the record was altered")
            return
        claimed_seq, claimed_prev = body.get("seq"), body.get("prev_hash")
        actual = hashlib.sha256(row.body).hexdigest()
        if actual in hashes:
            yield Break(row.seq, row.id, f"a copy of record seq {hashes[actual]} was inserted here")
            return
        if row.seq != expected_seq:
            yield Break(expected_seq, None, f"missing: the next stored record is seq {row.seq} (deleted records)")
            return
        if isinstance(claimed_seq, int) and claimed_seq < row.seq and hashes.get(str(claimed_prev)) == claimed_seq - 1:
            count = row.seq - claimed_seq
            yield Break(
                claimed_seq,
                ids.get(claimed_seq),
                f"inserted: the original record seq {claimed_seq} now sits at seq {row.seq}, "
                f"so {count} record(s) were inserted starting here",
            )
            return
        if claimed_seq != row.seq:
            yield Break(row.seq, row.id, f"body says seq {claimed_seq}: records were reordered or moved")
            return
        if actual != row.hash or body.get("id") != row.id:
            yield Break(row.seq, row.id, "content does not match its hash: the record was altered")
            return
        if claimed_prev != prev:
            earlier = hashes.get(str(claimed_prev))
            if earlier is not None:
                problem = (
                    f"links to seq {earlier}, not seq {row.seq - 1}: "
                    f"the record at seq {row.seq - 1} was inserted or the order changed"
                )
                yield Break(row.seq - 1, None, problem)
            else:
                yield Break(row.seq, row.id, "previous-hash link matches no record: a record before it was removed")
            return
        hashes[row.hash] = row.seq
        prev = row.hash
        expected_seq += 1
    yield ChainHead(expected_seq - 1, prev)


def verify(
    rows: Iterable[ChainedRecord],
    checkpoints: Iterable[Checkpoint],
    signature_ok: Callable[[Checkpoint], bool],
) -> VerifyReport:
    """Verify the chain, then every checkpoint's signature and that it matches the stored record."""
    hashes: dict[str, int] = {}
    checkpoints = list(checkpoints)
    wanted = {cp.seq for cp in checkpoints}
    by_seq: dict[int, str] = {}  # hashes at checkpointed seqs only
    head = ChainHead(0, GENESIS_HASH)
    count = 0
    first_break: Break | None = None

    def recorded(rows: Iterable[ChainedRecord]) -> Iterator[ChainedRecord]:
        nonlocal count
        for row in rows:
            count += 1
            if row.seq in wanted:
                by_seq[row.seq] = row.hash
            yield row

    for result in _check_records(recorded(rows), hashes):
        if isinstance(result, Break):
            first_break = result
        else:
            head = result
    checked = 0
    for cp in checkpoints:
        checked += 1
        if not signature_ok(cp):
            return VerifyReport(
                count, checked, head, first_break or Break(cp.seq, None, "checkpoint signature is invalid")
            )
        if first_break is not None:
            continue
        stored = by_seq.get(cp.seq)
        if stored is None:
            return VerifyReport(
                count,
                checked,
                head,
                Break(cp.seq, None, f"missing: a signed checkpoint covers seq {cp.seq} (records truncated)"),
            )
        if stored != cp.hash:
            return VerifyReport(
                count,
                checked,
                head,
                Break(cp.seq, None, "hash differs from the signed checkpoint: the chain was rewritten"),
            )
    return VerifyReport(count, checked, head, first_break)
