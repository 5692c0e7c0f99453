from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from onshore.prove.chain import (
    GENESIS_HASH,
    ChainedRecord,
    ChainHead,
    Checkpoint,
    checkpoint_message,
    link,
    verify,
)
from onshore.prove.signer import Signer, b64url_decode


def entries(n: int) -> list[dict[str, object]]:
    return [{"id": f"r{i}", "ts": 1000.0 + i, "status": 200, "tenant": "acme"} for i in range(1, n + 1)]


def chained(n: int) -> list[ChainedRecord]:
    records, _ = link(entries(n), ChainHead(0, GENESIS_HASH))
    return records


def no_checkpoints(_: Checkpoint) -> bool:
    return True


def test_intact_chain_verifies_and_links_across_batches() -> None:
    first, head = link(entries(3), ChainHead(0, GENESIS_HASH))
    second, head2 = link([{"id": "r4", "ts": 2.0}], head)
    report = verify(first + second, [], no_checkpoints)
    assert report.ok
    assert report.records == 4
    assert report.head == head2
    assert second[0].seq == 4


def test_changed_record_is_named() -> None:
    records = chained(5)
    altered = records[2].body.replace(b'"status":200', b'"status":201')
    records[2] = dataclasses.replace(records[2], body=altered)
    report = verify(records, [], no_checkpoints)
    assert report.first_break is not None
    assert report.first_break.seq == 3
    assert "altered" in report.first_break.problem


def test_deleted_record_is_named() -> None:
    records = chained(5)
    del records[1]
    report = verify(records, [], no_checkpoints)
    assert report.first_break is not None
    assert report.first_break.seq == 2
    assert "missing" in report.first_break.problem


def test_reordered_records_are_named() -> None:
    records = chained(5)
    a, b = records[1], records[3]
    # Swap the bodies (and their hashes) between seq 2 and seq 4, keeping the row sequence order.
    records[1] = ChainedRecord(2, b.id, b.ts, b.body, b.hash)
    records[3] = ChainedRecord(4, a.id, a.ts, a.body, a.hash)
    report = verify(records, [], no_checkpoints)
    assert report.first_break is not None
    assert report.first_break.seq == 2
    assert "reordered" in report.first_break.problem


def test_inserted_record_is_named() -> None:
    records = chained(5)
    # A forger links a new record after seq 2 correctly and renumbers what follows.
    forged, _ = link([{"id": "forged", "ts": 1002.5, "status": 200}], ChainHead(2, records[1].hash))
    tail = [dataclasses.replace(r, seq=r.seq + 1) for r in records[2:]]
    report = verify(records[:2] + forged + tail, [], no_checkpoints)
    assert report.first_break is not None
    assert report.first_break.seq == 3  # the forged record
    assert "inserted" in report.first_break.problem


def test_rewritten_chain_is_caught_by_signed_checkpoint() -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    records = chained(5)
    message = checkpoint_message(5, records[4].hash, 3000.0, signer.kid)
    checkpoint = Checkpoint(5, records[4].hash, 3000.0, signer.kid, signer.sign(message))

    def signature_ok(cp: Checkpoint) -> bool:
        signer.public_key.verify(b64url_decode(cp.signature), checkpoint_message(cp.seq, cp.hash, cp.ts, cp.kid))
        return True

    assert verify(records, [checkpoint], signature_ok).ok
    # Someone with database access rewrites record 2 and recomputes every later hash.
    rewritten_entries = entries(5)
    rewritten_entries[1]["status"] = 500
    rewritten, _ = link(rewritten_entries, ChainHead(0, GENESIS_HASH))
    report = verify(rewritten, [checkpoint], signature_ok)
    assert report.first_break is not None
    assert report.first_break.seq == 5
    assert "checkpoint" in report.first_break.problem
    # Truncating the tail below a checkpoint is caught too.
    report = verify(records[:3], [checkpoint], signature_ok)
    assert report.first_break is not None
    assert "truncated" in report.first_break.problem


def test_forged_checkpoint_signature() -> None:
    records = chained(2)
    bad = Checkpoint(2, records[1].hash, 1.0, "kid", "AAAA")
    report = verify(records, [bad], lambda cp: False)
    assert not report.ok
    assert "signature" in str(report.first_break)


@pytest.mark.parametrize("n", [0, 1, 50])
def test_sizes(n: int) -> None:
    assert verify(chained(n), [], no_checkpoints).ok
