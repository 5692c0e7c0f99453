"""The `onshore report` commands: the sovereignty report (verified chain first, then signed) and
`report verify`, which checks a report file was not edited."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from onshore.cli.common import require_role, settings_from
from onshore.settings import Settings

FORMATS = ("json", "html", "pdf")


def add_report_parser(sub: Any, with_config: Any) -> None:
    report = sub.add_parser("report", help="reports for compliance officers (from the audit chain)")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    sovereignty = with_config(
        report_sub.add_parser("sovereignty", help="where a tenant's requests went, verified and signed")
    )
    sovereignty.add_argument("--tenant", help="the tenant (default: every tenant)")
    sovereignty.add_argument("--since", required=True, help="ISO 8601 time (inclusive)")
    sovereignty.add_argument("--until", required=True, help="ISO 8601 time (exclusive)")
    sovereignty.add_argument("--format", choices=FORMATS, default="json")
    sovereignty.add_argument("--output", "-o", help="file to write (default: stdout; a PDF needs a file)")
    sovereignty.add_argument(
        "--json", metavar="FILE", help="also write the signed JSON (what a PDF is checked against)"
    )
    sovereignty.add_argument("--witness", action="append", metavar="FILE", help="checkpoint witness file, repeatable")
    sovereignty.add_argument("--jwks", help="verify the checkpoints with this JWKS instead of the data directory's key")
    sovereignty.add_argument(
        "--max-uncovered-age", type=float, metavar="SECONDS", help="as for `audit verify` (default: 2 intervals + 5 s)"
    )
    check = with_config(report_sub.add_parser("verify", help="check a report's signature (JSON, HTML or PDF)"))
    check.add_argument("file")
    check.add_argument("--signed", metavar="FILE", help="for a PDF: the signed JSON it was rendered from")
    check.add_argument("--jwks", help="the gateway's public keys (default: the data directory's key)")
    report.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.report_command == "verify":  # a signature check on a file in hand: it reads no audit data
        return _verify(args, settings)
    require_role(args, settings, "audit.export")  # as the console's reports: a document made from the chain
    return _sovereignty(args, settings)


def load_verified_records(
    args: argparse.Namespace, settings: Settings, since: float, until: float
) -> tuple[list[tuple[int, dict[str, Any]]], Any]:
    """Verify the whole chain (as `audit verify` does) while keeping the records of the period,
    so the report reads exactly the bytes that were verified. Returns (records, evidence); raises
    ChainBroken naming the record if the chain does not verify."""
    import msgspec

    from onshore.cli.audit import report_broken_chain, verify_audit
    from onshore.cli.common import open_existing_store
    from onshore.prove.chain import ChainedRecord
    from onshore.prove.report.evidence import chain_evidence

    kept: list[tuple[int, bytes]] = []

    def keep(row: ChainedRecord) -> None:
        if since <= row.ts < until:
            kept.append((row.seq, row.body))

    store = open_existing_store(args, settings)  # a report on a new, empty database would prove nothing
    try:
        result = verify_audit(args, settings, store, observe=keep)
    finally:
        store.close()
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if result.problem() is not None:  # the report refuses (chain_evidence raises); the SIEM hears of it
        report_broken_chain(settings, result, "report_refused")
    evidence = chain_evidence(result.report, result.checkpoints, len(result.witness_paths), result.problem())
    decoder = msgspec.json.Decoder(dict[str, Any])
    return [(seq, decoder.decode(body)) for seq, body in kept], evidence


def gateway_signer(settings: Settings) -> Any:
    from onshore.app import SIGNING_KEY_FILE
    from onshore.prove.signer import Signer
    from onshore.store.keyfile import load_signing_key

    return Signer(load_signing_key(settings.data_dir / SIGNING_KEY_FILE))


def _sovereignty(args: argparse.Namespace, settings: Settings) -> int:
    from onshore.cli.audit import _parse_time
    from onshore.protect.findings import PSEUDONYMISED_TYPES
    from onshore.prove.report.evidence import ChainBroken
    from onshore.prove.report.signed import sign_report
    from onshore.prove.report.sovereignty import Period, SovereigntyTally

    period = Period(_parse_time(args.since), _parse_time(args.until))
    if period.until <= period.since:
        raise ValueError("--until must be after --since")
    if args.format == "pdf" and not args.output:
        raise ValueError("a PDF needs --output FILE")
    try:
        records, evidence = load_verified_records(args, settings, period.since, period.until)
    except ChainBroken as exc:
        print(f"REFUSED: {exc}", file=sys.stderr)
        return 1
    tally = SovereigntyTally(args.tenant, period, PSEUDONYMISED_TYPES).add_all(records)
    envelope = sign_report(tally.document(evidence, time.time()), gateway_signer(settings))
    write_output(args.output, render(envelope, args.format))
    if args.json:
        write_output(args.json, render(envelope, "json"))
    if args.output:
        print(
            f"Wrote {args.output}: {tally.requests} requests, chain verified to seq {evidence.head_seq}.",
            file=sys.stderr,
        )
    return 0


def render(envelope: dict[str, Any], form: str) -> bytes:
    """A signed document as `form`: the sovereignty report, or (HTML) the breach-report draft."""
    from onshore.prove.incident import DRAFT_TYPE

    if form == "html" and envelope["report"].get("type") == DRAFT_TYPE:
        from onshore.prove.incident_render import render_incident_html

        return render_incident_html(envelope).encode("utf-8")
    if form == "pdf":
        from onshore.prove.report.pdf import render_pdf

        return render_pdf(envelope)
    if form == "html":
        from onshore.prove.report.html import render_html

        return render_html(envelope).encode("utf-8")
    return (json.dumps(envelope, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def write_output(path: str | None, data: bytes) -> None:
    if path:
        Path(path).write_bytes(data)
    else:
        sys.stdout.write(data.decode("utf-8"))


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    from onshore.cli.audit import _audit_keys
    from onshore.prove.report.html import embedded_envelope
    from onshore.prove.report.signed import ReportSignatureError, verify_report

    path = Path(args.file)
    data = path.read_bytes()
    keys = _audit_keys(args, settings)
    try:
        if data.startswith(b"%PDF"):
            if not args.signed:
                raise ReportSignatureError("a PDF is checked against the signed JSON it came from: pass --signed FILE")
            envelope = json.loads(Path(args.signed).read_text(encoding="utf-8"))
            form = "pdf"
        elif data.lstrip().startswith(b"<"):
            envelope, form = embedded_envelope(data.decode("utf-8")), "html"
        else:
            envelope, form = json.loads(data), "json"
        document = verify_report(envelope, keys)
        if form != "json" and render(envelope, form) != data:
            raise ReportSignatureError(
                f"the {form.upper()} differs from what its signed report renders to: the file was edited"
            )
    except ReportSignatureError as exc:
        print(f"INVALID: {path}: {exc}", file=sys.stderr)
        return 1
    except (ValueError, UnicodeDecodeError) as exc:
        print(f"INVALID: {path}: not a signed report ({exc})", file=sys.stderr)
        return 1
    period = document.get("period", {})
    print(
        f"OK: {path} is a {document.get('type')} signed by key {envelope.get('kid')} "
        f"(tenant {document.get('tenant') or 'all'}, {period.get('since')} to {period.get('until')})."
    )
    return 0
