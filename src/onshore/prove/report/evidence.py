"""What the chain's verification proved, as the reports state it. Pure: built from the verifier's
result (prove/chain.py's VerifyReport), never by re-checking anything here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from onshore.prove.chain import Checkpoint, VerifyReport


class ChainBroken(Exception):
    """The audit chain failed verification: no report is built on it. The message names the record."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"the audit chain does not verify, so no report was generated: {problem}")
        self.problem = problem


@dataclass(frozen=True, slots=True)
class ChainEvidence:
    records: int
    head_seq: int
    head_hash: str
    checkpoints: int  # the database's signed checkpoints, each verified
    witnessed: int  # the witness file's signed checkpoints, each verified
    witness_files: int
    covered_seq: int  # the highest seq under a verified signed checkpoint
    last_checkpoint_ts: float | None
    signing_keys: tuple[str, ...]  # kids of the keys that signed the checkpoints
    legacy: int  # records written before RFC 8785 form (their stored bytes still verify)

    def document(self) -> dict[str, Any]:
        return {
            "verified": True,
            "records": self.records,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "signed_checkpoints": self.checkpoints,
            "witnessed_checkpoints": self.witnessed,
            "witness_files": self.witness_files,
            "covered_seq": self.covered_seq,
            "last_checkpoint": iso(self.last_checkpoint_ts) if self.last_checkpoint_ts is not None else None,
            "signing_keys": list(self.signing_keys),
            "legacy_records": self.legacy,
        }


def chain_evidence(
    report: VerifyReport, checkpoints: Sequence[Checkpoint], witness_files: int, problem: str | None
) -> ChainEvidence:
    """The evidence, or ChainBroken if verification failed (`problem` names the record that broke)."""
    if problem is not None or not report.ok:
        raise ChainBroken(problem or str(report.first_break))
    latest = max(checkpoints, key=lambda cp: cp.seq, default=None)
    return ChainEvidence(
        records=report.records,
        head_seq=report.head.seq,
        head_hash=report.head.hash,
        checkpoints=report.checkpoints,
        witnessed=report.witnessed,
        witness_files=witness_files,
        covered_seq=0 if latest is None else latest.seq,
        last_checkpoint_ts=None if latest is None else latest.ts,
        signing_keys=tuple(sorted({cp.kid for cp in checkpoints})),
        legacy=report.legacy,
    )


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
