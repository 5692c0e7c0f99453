"""The audit hash chain: pure hashing and verification, no I/O.

Each record's body carries its sequence number and the previous record's hash; its own hash is the
SHA-256 of the body bytes exactly as stored. Changing, deleting, inserting or reordering any record
breaks the chain at a point the verifier can name; signed checkpoints (in the database and in an
append-only witness outside it) pin the head, so a rewritten or truncated tail is caught too.

Bodies are written in RFC 8785 (JCS) form, so an auditor can re-derive the bytes from the parsed
record with any JCS library; the verifier still hashes the stored bytes, so records written before
(sorted compact JSON whose floats may read `5.0` where JCS writes `5`) verify unchanged. The README
section "Verifying the audit log without Onshore" states the rules; tools/verify-audit.mjs applies them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

GENESIS_HASH = "0" * 64
CHECKPOINT_TYPE = "onshore-audit-checkpoint"
_WINDOW = 4096  # how far back an insertion or reordering can be diagnosed by name
_MAX_SAFE = 2**53  # integers JCS (IEEE double) represents exactly

_sorted = msgspec.json.Encoder(order="sorted")  # msgspec sorts keys by code point, JCS by UTF-16 unit
_ordered = msgspec.json.Encoder()  # keeps insertion order: for dicts already sorted the JCS way
_decoder = msgspec.json.Decoder(dict[str, Any])


def canonical(document: dict[str, Any]) -> bytes:
    """RFC 8785 canonical JSON. msgspec already writes JCS strings (only the mandatory escapes,
    lowercase \\u00xx, UTF-8), and JCS numbers unless a float is integral (`5.0`, JCS `5`) or needs
    an exponent, or an integer is beyond 2**53: one check finds those, rare, numbers. Keys sort the
    same by code point as by UTF-16 unit unless one holds a character above U+FFFF, and such output
    is never ASCII. The usual record costs one check and one msgspec encode."""
    body = _sorted.encode(_numbers(document) if _needs_numbers(document) else document)
    if body.isascii() or not _astral_keys(document):
        return body
    return _ordered.encode(_utf16_sorted(_numbers(document)))


def _needs_numbers(document: Any) -> bool:
    """Does a number anywhere in `document` print differently under msgspec and ECMAScript? Runs on
    every request, so: no recursion, and each scalar (most of a record) costs a test or two."""
    stack = [document]
    while stack:
        value = stack.pop()
        kind = type(value)
        items = value.values() if kind is dict else value if kind is list or kind is tuple else (value,)
        for item in items:
            t = type(item)
            if t is str or item is None or t is bool:
                continue
            if t is int:
                if -_MAX_SAFE <= item <= _MAX_SAFE:
                    continue
                return True
            if t is float:
                if 1e-5 <= abs(item) < 1e16 and not item.is_integer():
                    continue
                return True
            if t is dict or t is list or t is tuple:
                stack.append(item)
                continue
            return True  # a subclass or another type: let _numbers map or refuse it
    return False


def _numbers(value: Any) -> Any:
    """`value`, or a copy whose numbers msgspec prints exactly as JCS does. This runs for every
    request: strings, None and small ints (most of a record) cost one test each, and a container
    is copied only where a number in it must change."""
    kind = type(value)
    if kind is dict:
        changed: dict[str, Any] | None = None
        for key, item in value.items():
            t = type(item)
            if t is str or item is None or (t is int and -_MAX_SAFE <= item <= _MAX_SAFE):
                continue
            fixed = _numbers(item)
            if fixed is not item:
                if changed is None:
                    changed = dict(value)
                changed[key] = fixed
        return value if changed is None else changed
    if kind is list or kind is tuple:
        items = [_numbers(item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if kind is float:
        if 1e-5 <= abs(value) < 1e16 and not value.is_integer():  # msgspec and ECMAScript agree here
            return value
        if value.is_integer() and -_MAX_SAFE < value < _MAX_SAFE:
            return int(value)  # 5.0 -> 5, -0.0 -> 0
        return msgspec.Raw(jcs_number(value).encode("ascii"))
    if kind is int:
        return value if -_MAX_SAFE <= value <= _MAX_SAFE else msgspec.Raw(jcs_number(value).encode("ascii"))
    if kind is str or kind is bool or value is None:
        return value
    for base in (str, bool, int, float):  # str/int enums and other subclasses: their plain value
        if isinstance(value, base):
            return _numbers(base(value))
    raise TypeError(f"an audit record holds JSON values only, not {kind.__name__}")


def jcs_number(value: float | int) -> str:
    """ECMAScript Number::toString (RFC 8785 section 3.2.2.3). Integers beyond 2**53 are read as the
    nearest double, as every JCS implementation reads them; NaN and infinities become null, as
    JSON.stringify writes them."""
    try:
        number = float(value)
    except OverflowError:
        return "null"
    if not math.isfinite(number):
        return "null"
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    mantissa, _, exponent = repr(abs(number)).partition("e")  # repr: the shortest round-trip digits
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + int(exponent or 0)  # the decimal point sits after this many of `digits`
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = n - 1
        text = (digits[0] + ("." + digits[1:] if k > 1 else "")) + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return sign + text


def _astral_keys(value: Any) -> bool:
    if isinstance(value, dict):
        return any(any(ord(c) > 0xFFFF for c in k) or _astral_keys(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_astral_keys(v) for v in value)
    return False


def _utf16_sorted(value: Any) -> Any:
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))  # big-endian bytes sort as UTF-16 units
        return {k: _utf16_sorted(value[k]) for k in keys}
    if isinstance(value, list):
        return [_utf16_sorted(v) for v in value]
    return value


def is_canonical(body: bytes) -> bool:
    """Is `body` in RFC 8785 form (every record written since the encoder became JCS)?"""
    try:
        return canonical(_decoder.decode(body)) == body
    except (msgspec.DecodeError, TypeError):
        return False


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
    """The bytes a checkpoint signature covers: the RFC 8785 form of these five members."""
    return canonical({"seq": seq, "hash": record_hash, "ts": ts, "kid": kid, "type": CHECKPOINT_TYPE})


def checkpoint_messages(cp: Checkpoint) -> tuple[bytes, ...]:
    """Every message `cp` may have been signed over: the JCS form, and for checkpoints signed before
    it, msgspec's sorted form (it differs only for a whole-second `ts`, written `1700000000.0`)."""
    current = checkpoint_message(cp.seq, cp.hash, cp.ts, cp.kid)
    legacy = _sorted.encode({"seq": cp.seq, "hash": cp.hash, "ts": cp.ts, "kid": cp.kid, "type": CHECKPOINT_TYPE})
    return (current,) if legacy == current else (current, legacy)


def checkpoint_document(cp: Checkpoint) -> dict[str, Any]:
    """A checkpoint as one JSON object: a witness line, or a checkpoint line of `audit export`."""
    return {
        "type": CHECKPOINT_TYPE,
        "seq": cp.seq,
        "hash": cp.hash,
        "ts": cp.ts,
        "kid": cp.kid,
        "signature": cp.signature,
    }


def checkpoint_from_document(document: Any) -> Checkpoint:
    """The inverse of checkpoint_document; ValueError if `document` is not a checkpoint."""
    if not isinstance(document, dict) or document.get("type") != CHECKPOINT_TYPE:
        raise ValueError("not an onshore-audit-checkpoint object")
    seq, digest, ts = document.get("seq"), document.get("hash"), document.get("ts")
    kid, signature = document.get("kid"), document.get("signature")
    if type(seq) is not int or not isinstance(ts, int | float) or isinstance(ts, bool):
        raise ValueError("checkpoint seq must be an integer and ts a number")
    if not (isinstance(digest, str) and isinstance(kid, str) and isinstance(signature, str)):
        raise ValueError("checkpoint hash, kid and signature must be strings")
    return Checkpoint(seq, digest, float(ts), kid, signature)


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
    witnessed: int = 0  # witness checkpoints checked
    legacy: int = 0  # records not in RFC 8785 form (written before it): their stored bytes still verify

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
    witness: Iterable[Checkpoint] = (),
) -> VerifyReport:
    """Verify the chain, then every checkpoint's signature and that it matches the stored record.

    `checkpoints` come from the database, `witness` from the append-only copy outside it. A witness
    checkpoint beyond the chain's end means records were truncated (with or without the database's
    checkpoints); one the database no longer holds means its checkpoints were deleted."""
    hashes: dict[str, int] = {}
    checkpoints, witness = list(checkpoints), list(witness)
    wanted = {cp.seq for cp in checkpoints} | {cp.seq for cp in witness}
    by_seq: dict[int, str] = {}  # hashes at checkpointed seqs only
    head = ChainHead(0, GENESIS_HASH)
    count = legacy = 0
    first_break: Break | None = None

    def recorded(rows: Iterable[ChainedRecord]) -> Iterator[ChainedRecord]:
        nonlocal count, legacy
        for row in rows:
            count += 1
            legacy += not is_canonical(row.body)
            if row.seq in wanted:
                by_seq[row.seq] = row.hash
            yield row

    for result in _check_records(recorded(rows), hashes):
        if isinstance(result, Break):
            first_break = result
        else:
            head = result

    def report(checked: int, witnessed: int, problem: Break | None) -> VerifyReport:
        return VerifyReport(count, checked, head, problem, witnessed, legacy)

    checked = 0
    for cp in checkpoints:
        checked += 1
        if not signature_ok(cp):
            return report(checked, 0, first_break or Break(cp.seq, None, "checkpoint signature is invalid"))
        if first_break is not None:
            continue
        stored = by_seq.get(cp.seq)
        if stored is None:
            return report(
                checked, 0, Break(cp.seq, None, f"missing: a signed checkpoint covers seq {cp.seq} (records truncated)")
            )
        if stored != cp.hash:
            return report(
                checked, 0, Break(cp.seq, None, "hash differs from the signed checkpoint: the chain was rewritten")
            )
    in_database = {cp.seq for cp in checkpoints}
    witnessed = 0
    for cp in witness:
        witnessed += 1
        if not signature_ok(cp):
            problem = "the witness's checkpoint signature is invalid: the witness line was altered or forged"
            return report(checked, witnessed, first_break or Break(cp.seq, None, problem))
        if first_break is not None:
            continue
        stored = by_seq.get(cp.seq)
        if stored is None and cp.seq > head.seq:
            problem = (
                f"missing: the chain ends at seq {head.seq}, but the witness holds a signed checkpoint for "
                f"seq {cp.seq}: records from seq {head.seq + 1} on were removed (truncated)"
            )
            return report(checked, witnessed, Break(head.seq + 1, None, problem))
        if stored != cp.hash:
            problem = "hash differs from the witness's signed checkpoint: the chain was rewritten"
            return report(checked, witnessed, Break(cp.seq, None, problem))
        if cp.seq not in in_database:
            problem = "the database has no checkpoint here, but the witness holds one: checkpoints were deleted"
            return report(checked, witnessed, Break(cp.seq, None, problem))
    return report(checked, witnessed, first_break)
