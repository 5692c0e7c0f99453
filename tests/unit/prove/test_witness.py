"""The witness: checkpoints kept outside the database catch a truncated tail and deleted checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from onshore.prove.chain import GENESIS_HASH, ChainedRecord, ChainHead, Checkpoint, checkpoint_message, link, verify
from onshore.prove.signer import Signer, b64url_decode
from onshore.prove.witness import Witness, read_witness, witness_line

SIGNER = Signer(Ed25519PrivateKey.generate())


def chained(n: int) -> list[ChainedRecord]:
    records, _ = link([{"id": f"r{i}", "ts": 1000.0 + i} for i in range(1, n + 1)], ChainHead(0, GENESIS_HASH))
    return records


def signed(record: ChainedRecord, ts: float = 2000.5) -> Checkpoint:
    message = checkpoint_message(record.seq, record.hash, ts, SIGNER.kid)
    return Checkpoint(record.seq, record.hash, ts, SIGNER.kid, SIGNER.sign(message))


def signature_ok(cp: Checkpoint) -> bool:
    try:
        SIGNER.public_key.verify(b64url_decode(cp.signature), checkpoint_message(cp.seq, cp.hash, cp.ts, cp.kid))
    except InvalidSignature:
        return False
    return True


def test_intact_chain_with_its_witness_verifies() -> None:
    records = chained(6)
    cps = [signed(records[2]), signed(records[5])]
    report = verify(records, cps, signature_ok, cps)
    assert report.ok and report.witnessed == 2 and report.checkpoints == 2


def test_tail_truncated_together_with_its_checkpoints_is_named() -> None:
    records = chained(6)
    cps = [signed(records[2]), signed(records[5])]
    # The database's owner deletes seq 4..6 and the checkpoint at 6: what is left is a valid chain.
    assert verify(records[:3], cps[:1], signature_ok).ok
    report = verify(records[:3], cps[:1], signature_ok, cps)
    assert report.first_break is not None and report.first_break.seq == 4
    assert "truncated" in str(report.first_break) and "seq 6" in str(report.first_break)
    # Every checkpoint and every record after the first deleted too.
    report = verify(records[:1], [], signature_ok, cps)
    assert report.first_break is not None and report.first_break.seq == 2 and "truncated" in report.first_break.problem


def test_rewritten_witness_line_and_deleted_checkpoints_are_named() -> None:
    records = chained(4)
    cp = signed(records[3])
    forged = Checkpoint(cp.seq, records[1].hash, cp.ts, cp.kid, cp.signature)
    report = verify(records, [cp], signature_ok, [forged])
    assert report.first_break is not None and "witness" in report.first_break.problem
    assert "signature is invalid" in report.first_break.problem
    report = verify(records, [], signature_ok, [cp])
    assert report.first_break is not None and report.first_break.seq == 4
    assert "checkpoints were deleted" in report.first_break.problem


def test_witness_file_appends_reads_back_and_survives_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "audit-witness.jsonl"
    records = chained(3)
    witness = Witness(path)
    witness.append(signed(records[0]))
    witness.close()
    with path.open("ab") as f:  # a crash in the middle of a write
        f.write(witness_line(signed(records[1]))[:30])
    witness = Witness(path)
    witness.append(signed(records[2]))
    witness.close()
    contents = read_witness(path)
    assert [cp.seq for cp in contents.checkpoints] == [1, 3] and contents.unreadable == [2]
    assert all(signature_ok(cp) for cp in contents.checkpoints)
    assert path.read_bytes().endswith(b"\n") and oct(path.stat().st_mode & 0o777) == "0o640"


def test_a_replaced_witness_file_is_reopened_not_written_into_the_void(tmp_path: Path) -> None:
    path = tmp_path / "audit-witness.jsonl"
    records = chained(2)
    witness = Witness(path)
    witness.append(signed(records[0]))
    os.rename(path, tmp_path / "moved.jsonl")
    witness.append(signed(records[1]))
    witness.close()
    assert [cp.seq for cp in read_witness(path).checkpoints] == [2]
    assert [cp.seq for cp in read_witness(tmp_path / "moved.jsonl").checkpoints] == [1]
