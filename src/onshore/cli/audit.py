"""The `onshore audit` commands: verify the hash chain and signed checkpoints, export records."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onshore.cli.common import (
    UsageError,
    existing_signing_key,
    note,
    open_existing_store,
    require_role,
    settings_from,
    where,
)
from onshore.settings import Settings

if TYPE_CHECKING:
    from onshore.prove.chain import ChainedRecord, Checkpoint, VerifyReport
    from onshore.prove.ports import AuditStore


def cmd_audit(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    # As the console: verifying reads the chain (audit.read), an export hands it out (audit.export).
    require_role(args, settings, "audit.read" if args.audit_command == "verify" else "audit.export")
    since = _parse_time(args.since, "--since") if getattr(args, "since", None) else None
    until = _parse_time(args.until, "--until") if getattr(args, "until", None) else None
    store = open_existing_store(args, settings)
    note(where(args, settings))
    try:
        if args.audit_command == "verify":
            return _audit_verify(args, settings, store)
        return _audit_export(args, settings, store, since, until)
    finally:
        store.close()


def _audit_keys(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Public keys by kid: from --jwks (an auditor needs no private key), else the gateway's own."""
    from onshore.prove.signer import public_key_from_jwk

    if getattr(args, "jwks", None):
        document = json.loads(Path(args.jwks).read_text(encoding="utf-8"))
        return {str(jwk.get("kid")): public_key_from_jwk(jwk) for jwk in document.get("keys", [])}
    from onshore.prove.signer import Signer
    from onshore.store.keyfile import load_signing_key

    signer = Signer(load_signing_key(existing_signing_key(args, settings, jwks_hint=True)))
    return {signer.kid: signer.public_key}


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """One run of the verifier over a store: what `audit verify` prints and the reports check first."""

    report: VerifyReport
    witness_paths: list[Path]
    covered: int  # the highest seq under a signed checkpoint (database or witness)
    checkpoints: list[Checkpoint]  # the database's and the witness's, as verified
    stale: tuple[int, int] | None  # old records no checkpoint covers: (first seq, last seq)
    warnings: list[str]

    @property
    def ok(self) -> bool:
        return self.report.ok and self.stale is None

    def problem(self) -> str | None:
        """Why the log fails verification, naming the first record that broke, or None."""
        if not self.report.ok:
            return str(self.report.first_break)
        if self.stale is not None:
            first, last = self.stale
            return (
                f"records seq {first}..{last} are older than two checkpoint intervals but "
                f"no signed checkpoint covers them (last covers seq {self.covered}): checkpoints were removed "
                "or the chain was rewritten"
            )
        return None


def report_broken_chain(settings: Settings, result: AuditVerification, reason: str) -> None:
    """A broken chain is a security event: tell the SIEM (if configured), naming the first bad record."""
    from onshore.events.model import EventType, SecurityEvent
    from onshore.siem.build import deliver_now

    broken = result.report.first_break
    event = SecurityEvent(
        type=EventType.AUDIT_VERIFICATION_FAILED,
        time=time.time(),
        reason=reason,
        seq=broken.seq if broken is not None else (result.stale[0] if result.stale else None),
    )
    for sink in deliver_now(settings, [event]):
        print(f"warning: the security event was not sent to {sink}", file=sys.stderr)


def signature_checker(keys: dict[str, Any]) -> Callable[[Checkpoint], bool]:
    """Does a checkpoint's signature verify under the key its kid names (in any form it was signed)?"""
    from cryptography.exceptions import InvalidSignature

    from onshore.prove.chain import checkpoint_messages
    from onshore.prove.signer import b64url_decode

    def signature_ok(cp: Checkpoint) -> bool:
        public = keys.get(cp.kid)
        if public is None:
            return False
        try:
            signature = b64url_decode(cp.signature)
        except ValueError:
            return False
        for message in checkpoint_messages(cp):
            try:
                public.verify(signature, message)
            except InvalidSignature:
                continue  # the next form, or "does not verify"
            return True
        return False

    return signature_ok


def verify_audit(
    args: argparse.Namespace,
    settings: Settings,
    store: AuditStore,
    observe: Callable[[ChainedRecord], None] | None = None,
) -> AuditVerification:
    """Run the chain verifier with the keys and witnesses `args` name (--jwks, --witness,
    --max-uncovered-age). `observe` sees every record as it is verified, so a report reads exactly
    the bytes that were checked. Raises FileNotFoundError for a named witness file that is missing."""
    from onshore.prove.chain import verify
    from onshore.prove.witness import read_witness

    signature_ok = signature_checker(_audit_keys(args, settings))
    default_witness = settings.data_dir / settings.gateway.audit.witness_file
    named = getattr(args, "witness", None)
    paths = [Path(p) for p in named] if named else [default_witness] if default_witness.exists() else []
    witnessed: list[Checkpoint] = []
    warnings: list[str] = []
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"witness file {path} does not exist")
        contents = read_witness(path)
        witnessed += contents.checkpoints
        if contents.unreadable:
            lines = ", ".join(str(n) for n in contents.unreadable)
            warnings.append(f"{path} line(s) {lines} hold no checkpoint (a torn write?): ignored")
    checkpoints = store.checkpoints()
    rows: Iterable[ChainedRecord] = store.iter_records()
    if observe is not None:
        rows = _observed(rows, observe)
    report = verify(rows, checkpoints, signature_ok, witnessed)
    # Records older than two checkpoint intervals must be under a signed checkpoint; if they are
    # not, checkpoints were deleted (and the chain may have been rewritten) or none was ever signed.
    covered = max((cp.seq for cp in [*checkpoints, *witnessed]), default=0)
    stale_range: tuple[int, int] | None = None
    if report.ok:
        max_age = getattr(args, "max_uncovered_age", None)
        if max_age is None:
            max_age = 2 * settings.gateway.audit.checkpoint_interval_seconds + 5
        cutoff = time.time() - max_age
        stale = [r.seq for r in store.iter_records(until=cutoff) if r.seq > covered]
        stale_range = (stale[0], stale[-1]) if stale else None
    return AuditVerification(report, paths, covered, [*checkpoints, *witnessed], stale_range, warnings)


def _observed(rows: Iterable[ChainedRecord], observe: Callable[[ChainedRecord], None]) -> Iterator[ChainedRecord]:
    for row in rows:
        observe(row)
        yield row


def _audit_verify(args: argparse.Namespace, settings: Settings, store: AuditStore) -> int:
    try:
        result = verify_audit(args, settings, store)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    problem = result.problem()
    if problem is not None:
        print(f"BROKEN: {problem}", file=sys.stderr)
        report_broken_chain(settings, result, "audit_verify")
        return 1
    report, paths = result.report, result.witness_paths
    witness_note = (
        f"{report.witnessed} witnessed checkpoints verified ({', '.join(map(str, paths))})"
        if paths
        else "no witness file: records after the last checkpoint could be removed unnoticed"
    )
    legacy = f"; {report.legacy} records predate RFC 8785 form" if report.legacy else ""
    print(
        f"OK: {report.records} records, chain intact to seq {report.head.seq}; "
        f"{report.checkpoints} signed checkpoints verified; {witness_note}{legacy}."
    )
    return 0


def _export_line(record: Any) -> dict[str, Any]:
    """The record's fields (for reading), its stored hash, and the exact stored body (for hashing):
    `raw_body` is that body as text, or `raw_body_b64` (base64) if it is not UTF-8."""
    import base64

    import msgspec

    try:
        document = msgspec.json.decode(record.body)
        if not isinstance(document, dict):
            raise ValueError("not an object")
        json.dumps(document, allow_nan=False)
    except (msgspec.DecodeError, ValueError):
        document = {"seq": record.seq, "id": record.id}  # unreadable body: the verifier names it
    document["hash"] = record.hash
    try:
        document["raw_body"] = record.body.decode("utf-8")
    except UnicodeDecodeError:
        document["raw_body_b64"] = base64.b64encode(record.body).decode("ascii")
    return document


def _audit_export(
    args: argparse.Namespace, settings: Settings, store: AuditStore, since: float | None, until: float | None
) -> int:
    from onshore.prove.chain import checkpoint_document

    key_path = existing_signing_key(args, settings, jwks_hint=False) if args.jwks else None
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        count, first, last = 0, None, 0
        for record in store.iter_records(since, until):
            out.write(json.dumps(_export_line(record), ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
            first = record.seq if first is None else first
            last = record.seq
        written = 0
        if args.with_checkpoints:
            # A time window exports the checkpoints inside it; a whole export exports all of them,
            # so one beyond the last record shows the tail was cut.
            for cp in store.checkpoints():
                if (since is None and until is None) or (first is not None and first <= cp.seq <= last):
                    out.write(json.dumps(checkpoint_document(cp), sort_keys=True) + "\n")
                    written += 1
    finally:
        if out is not sys.stdout:
            out.close()
    if key_path is not None:
        from onshore.prove.signer import Signer
        from onshore.store.keyfile import load_signing_key

        signer = Signer(load_signing_key(key_path))
        Path(args.jwks).write_text(json.dumps(signer.jwks(), indent=2) + "\n", encoding="utf-8")
    extra = f" and {written} checkpoints" if args.with_checkpoints else ""
    print(f"Exported {count} records{extra}.", file=sys.stderr)
    return 0


def _parse_time(text: str, option: str = "time") -> float:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option}: not an ISO 8601 time: {text!r} (e.g. 2025-01-31 or 2025-01-31T09:00:00Z)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()
