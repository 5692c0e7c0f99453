"""The `onshore incident draft` command: an APPI breach-report draft from the verified audit chain."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from onshore.cli.common import require_role, settings_from


def add_incident_parser(sub: Any, with_config: Any) -> None:
    incident = sub.add_parser("incident", help="help with a personal-data incident (a draft, never a filing)")
    incident_sub = incident.add_subparsers(dest="incident_command", required=True)
    draft = with_config(
        incident_sub.add_parser("draft", help="draft the APPI breach report (施行規則 第8条第1項) for a window")
    )
    draft.add_argument("--since", required=True, help="start of the incident window, ISO 8601 (inclusive)")
    draft.add_argument("--until", required=True, help="end of the window, ISO 8601 (exclusive)")
    draft.add_argument("--tenant", help="only this tenant's requests (default: every tenant)")
    draft.add_argument(
        "--backend", action="append", default=[], metavar="NAME", help="only requests that reached it (repeatable)"
    )
    draft.add_argument("--discovered-at", help="when the incident became known, ISO 8601 (default: now)")
    draft.add_argument(
        "--public-body", action="store_true", help="a public body (行政機関等): the 100-person threshold"
    )
    draft.add_argument("--events", metavar="FILE", help="security events as OCSF JSON lines (optional)")
    draft.add_argument("--format", choices=("markdown", "html", "json"), default="markdown")
    draft.add_argument("--output", "-o", help="file to write (default: stdout)")
    draft.add_argument("--witness", action="append", metavar="FILE", help="checkpoint witness file, repeatable")
    draft.add_argument("--jwks", help="verify the checkpoints with this JWKS instead of the data directory's key")
    draft.add_argument("--max-uncovered-age", type=float, metavar="SECONDS", help="as for `audit verify`")
    incident.set_defaults(func=cmd_incident)


def cmd_incident(args: argparse.Namespace) -> int:
    from onshore.cli.audit import _parse_time
    from onshore.cli.report import gateway_signer, load_verified_records, write_output
    from onshore.protect.findings import DATA_CLASS, PSEUDONYMISED_TYPES
    from onshore.prove.incident import DraftInputs, build_draft
    from onshore.prove.incident_render import render_incident_html, render_markdown
    from onshore.prove.report.evidence import ChainBroken
    from onshore.prove.report.signed import sign_report

    settings = settings_from(args)
    require_role(args, settings, "audit.export")  # as the console's drafts: a document made from the chain
    since, until = _parse_time(args.since), _parse_time(args.until)
    if until <= since:
        raise ValueError("--until must be after --since")
    now = time.time()
    inputs = DraftInputs(
        since=since,
        until=until,
        discovered_at=_parse_time(args.discovered_at) if args.discovered_at else now,
        tenant=args.tenant,
        backends=frozenset(args.backend),
        public_body=args.public_body,
        special_care_types=frozenset(t for t, c in DATA_CLASS.items() if c == "special_care"),
        value_types=PSEUDONYMISED_TYPES,
    )
    try:
        records, evidence = load_verified_records(args, settings, since, until)
    except ChainBroken as exc:
        print(f"REFUSED: {exc}", file=sys.stderr)
        return 1
    events = _events(Path(args.events)) if args.events else []
    draft = build_draft(records, inputs, evidence, now, events)
    if args.format == "markdown":
        data = render_markdown(draft).encode("utf-8")
    else:
        envelope = sign_report(draft, gateway_signer(settings))
        if args.format == "html":
            data = render_incident_html(envelope).encode("utf-8")
        else:
            data = (json.dumps(envelope, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    write_output(args.output, data)
    requests = draft["items"][0]["gateway"]["requests_reaching_backends"]
    if requests == 0:  # backends are named as the records name them, not checked against today's config
        print("warning: no request in the window reached the backends concerned", file=sys.stderr)
    if args.output:
        print(f"Wrote the DRAFT {args.output}: {requests} requests reached the backends concerned.", file=sys.stderr)
    return 0


def _events(path: Path) -> list[dict[str, Any]]:
    events = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        event = json.loads(line)
        if not isinstance(event, dict):
            raise ValueError(f"{path} line {number}: not a JSON object")
        events.append(event)
    return events
