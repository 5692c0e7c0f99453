"""Verification, export and reports for the console: the CLI's own code (`onshore audit verify`,
`audit export`, `report sovereignty`, `incident draft`), run on the console's job thread. Never a
second implementation: a report from the console is byte-for-byte what the CLI would sign."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from onshore.console.parts import Store
from onshore.settings import Settings


def _args() -> argparse.Namespace:
    """The CLI's defaults: the data directory's key and witness file, the default uncovered age."""
    return argparse.Namespace(jwks=None, witness=None, max_uncovered_age=None)


@dataclass(frozen=True, slots=True)
class VerifyOutcome:
    ok: bool
    records: int
    head_seq: int
    checkpoints: int
    witnessed: int
    problem: str | None
    warnings: tuple[str, ...]
    actor: str
    finished_at: float


def verify_chain(settings: Settings, store: Store, actor: str, progress: Callable[[int], None]) -> VerifyOutcome:
    """`onshore audit verify` over `store`, reporting each record checked to `progress`."""
    from onshore.cli.audit import verify_audit

    count = 0

    def observe(_row: object) -> None:
        nonlocal count
        count += 1
        if count % 64 == 0:
            progress(count)

    result = verify_audit(_args(), settings, store, observe=observe)
    progress(count)
    report = result.report
    return VerifyOutcome(
        result.ok,
        report.records,
        report.head.seq,
        report.checkpoints,
        report.witnessed,
        result.problem(),
        tuple(result.warnings),
        actor,
        time.time(),
    )


def export_lines(store: Store, since: float, until: float) -> bytes:
    """`onshore audit export --since --until --with-checkpoints`: each record's fields, stored hash and
    exact body, then the signed checkpoints inside the window."""
    from onshore.cli.audit import _export_line
    from onshore.prove.chain import checkpoint_document

    lines, first, last = [], None, 0
    for record in store.iter_records(since, until):
        lines.append(json.dumps(_export_line(record), ensure_ascii=False, sort_keys=True))
        first = record.seq if first is None else first
        last = record.seq
    for cp in store.checkpoints():
        if first is not None and first <= cp.seq <= last:
            lines.append(json.dumps(checkpoint_document(cp), sort_keys=True))
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def sovereignty_report(settings: Settings, tenant: str | None, since: float, until: float, form: str) -> bytes:
    """`onshore report sovereignty`: the verified chain's records of the period, tallied and signed.
    Raises ChainBroken (naming the record) when the chain does not verify."""
    from onshore.cli.report import gateway_signer, load_verified_records, render
    from onshore.protect.findings import PSEUDONYMISED_TYPES
    from onshore.prove.report.signed import sign_report
    from onshore.prove.report.sovereignty import Period, SovereigntyTally

    records, evidence = load_verified_records(_args(), settings, since, until)
    tally = SovereigntyTally(tenant, Period(since, until), PSEUDONYMISED_TYPES).add_all(records)
    envelope = sign_report(tally.document(evidence, time.time()), gateway_signer(settings))
    return render(envelope, form)


def breach_draft(settings: Settings, tenant: str | None, since: float, until: float, form: str) -> bytes:
    """`onshore incident draft` for a window discovered now: Markdown, or signed JSON / HTML."""
    from onshore.cli.report import gateway_signer, load_verified_records
    from onshore.protect.findings import DATA_CLASS, PSEUDONYMISED_TYPES
    from onshore.prove.incident import DraftInputs, build_draft
    from onshore.prove.incident_render import render_incident_html, render_markdown
    from onshore.prove.report.signed import sign_report

    now = time.time()
    inputs = DraftInputs(
        since=since,
        until=until,
        discovered_at=now,
        tenant=tenant,
        backends=frozenset(),
        public_body=False,
        special_care_types=frozenset(t for t, c in DATA_CLASS.items() if c == "special_care"),
        value_types=PSEUDONYMISED_TYPES,
    )
    records, evidence = load_verified_records(_args(), settings, since, until)
    draft = build_draft(records, inputs, evidence, now, [])
    if form == "markdown":
        return render_markdown(draft).encode("utf-8")
    envelope = sign_report(draft, gateway_signer(settings))
    if form == "html":
        return render_incident_html(envelope).encode("utf-8")
    return (json.dumps(envelope, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def receipt_claims(token: str, keys: dict[str, Any]) -> dict[str, Any]:
    """The claims of a receipt signed by one of `keys` (ReceiptError says why not)."""
    from onshore.prove.signer import verify_receipt

    return verify_receipt(token, keys)
