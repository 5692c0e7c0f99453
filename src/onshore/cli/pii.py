"""The `onshore pii scan` command: print personal-data findings as JSON lines."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from onshore.cli.common import settings_from


def cmd_pii(args: argparse.Namespace) -> int:
    """Print findings as JSON lines, so a team can test detection on its own data."""
    from onshore.protect.detect import Detector, DetectorConfig

    protect = settings_from(args).gateway.protect
    allow = frozenset(protect.allow_list) | frozenset(args.allow or [])
    detector = Detector.from_config(
        DetectorConfig(allow_list=allow, enable_names=protect.names and not args.no_names, min_score=protect.min_score)
    )
    source = sys.stdin if args.file in (None, "-") else open(args.file, encoding="utf-8")  # noqa: SIM115
    try:
        if args.jsonl:
            for number, line in enumerate(source, 1):
                if not line.strip():
                    continue
                try:
                    document = json.loads(line)
                except json.JSONDecodeError as exc:
                    print(f"line {number}: not JSON: {exc}", file=sys.stderr)
                    return 1
                text = document.get("text") if isinstance(document, dict) else None
                if not isinstance(text, str):
                    print(f"line {number}: no string field 'text'", file=sys.stderr)
                    return 1
                _print_findings(detector.scan(text), {"line": number})
        else:
            _print_findings(detector.scan(source.read()), {})
    finally:
        if source is not sys.stdin:
            source.close()
    return 0


def _print_findings(findings: Sequence[Any], extra: dict[str, Any]) -> None:
    for f in findings:
        row = {**extra, "type": f.type, "start": f.start, "end": f.end, "text": f.text, "score": round(f.score, 3)}
        print(json.dumps(row, ensure_ascii=False))
