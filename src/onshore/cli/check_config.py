"""The `onshore check-config` command: validate a config and print the resolved policy."""

from __future__ import annotations

import argparse

from onshore.settings import load_settings


def cmd_check_config(args: argparse.Namespace) -> int:
    from onshore.decide.classes import DATA_CLASSES
    from onshore.decide.decision import RequestFacts, evaluate
    from onshore.decide.declared import build_policy

    settings = load_settings(args.file)
    policy = build_policy(settings.file)
    print(f"Config OK: {args.file}")
    print(f"Policy hash: {policy.hash}\n")
    rows = [("TENANT", "CLASS", "MODEL", "ALLOWED (in order)", "EXCLUDED (why)")]
    for tenant in policy.tenants:
        for data_class in DATA_CLASSES:
            for model in sorted(policy.models):
                verdict = evaluate(policy, RequestFacts(tenant, data_class, model))
                allowed = ", ".join(r.backend.name for r in verdict.allowed) or "DENIED"
                excluded = "; ".join(f"{e.backend}: {', '.join(e.reasons)}" for e in verdict.excluded) or "-"
                rows.append((tenant, data_class, model, allowed, excluded))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    return 0
