"""The `onshore backends` commands: the kill switch, shared through Redis, and the exit drill."""

from __future__ import annotations

import argparse
import time
from typing import Any

from onshore.cli.common import choose, note, open_existing_store, require_role, settings_from, where
from onshore.settings import ConfigError

OUTCOME_LABELS = {
    "loses_every_route": "経路なし / NO COMPLIANT ROUTE",
    "fails_over": "切替 / fails over",
    "unaffected": "経路は維持 / still routed",
}


def add_drill_parser(backends_sub: Any, with_config: Any) -> None:
    drill = with_config(
        backends_sub.add_parser("drill", help="exit drill: what if this backend disappeared or changed its terms")
    )
    drill.add_argument("name")
    drill.add_argument("--json", action="store_true", help="print JSON instead of a table")
    drill.add_argument("--trains-on-data", action="store_true", help="simulate: it starts training on inputs")
    drill.add_argument("--jurisdiction", metavar="XX", help="simulate: it processes in this country")
    drill.add_argument("--storage-jurisdiction", metavar="XX", help="simulate: it stores in this country")
    drill.add_argument("--operator-jurisdiction", metavar="XX", help="simulate: its operator falls under this law")
    drill.add_argument("--retention-days", type=int, metavar="N", help="simulate: it retains data N days")


def drill_table(result: Any) -> str:
    """The drill as a bilingual text table."""
    scenario = (
        "停止（利用不可） / gone" if result.change is None else f"条件変更 / changed terms: {result.change.describe()}"
    )
    lines = [f"Exit drill / 撤退訓練: {result.backend} — {scenario}", ""]
    header = (
        "テナント/tenant",
        "区分/class",
        "モデル/model",
        "結果/outcome",
        "切替先/then served by",
        "個人情報/personal data",
    )
    rows = [
        (
            r.tenant,
            r.data_class,
            r.model,
            OUTCOME_LABELS[r.outcome],
            " > ".join(r.after) or "-",
            "-" if r.protection_before == r.protection_after else f"{r.protection_before} -> {r.protection_after}",
        )
        for r in result.rows
    ]
    if not rows:
        return "\n".join(
            [*lines, "影響なし: このバックエンドが担う経路はありません / no route depends on this backend."]
        )
    widths = [max(_width(x) for x in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        lines.append("  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(row, widths, strict=True)).rstrip())
    stranded = result.stranded()
    lines += [
        "",
        f"経路を失う組合せ / combinations left with no compliant route: {len(stranded)}; "
        f"切替 / failing over: {sum(r.outcome == 'fails_over' for r in result.rows)}",
    ]
    return "\n".join(lines)


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def cmd_drill(args: argparse.Namespace) -> int:
    """No traffic, no Redis: the decision re-run on the configured policy with the backend changed.
    It reads the config file alone and changes nothing, so it needs no role."""
    import json

    from onshore.decide.declared import build_policy
    from onshore.decide.drill import TermsChange, drill

    settings = settings_from(args)
    policy = build_policy(settings.file)
    choose(args.name, sorted(policy.backends), "backend", "NAME")
    change = TermsChange(
        jurisdiction=args.jurisdiction,
        storage_jurisdiction=args.storage_jurisdiction,
        operator_jurisdiction=args.operator_jurisdiction,
        retention_days=args.retention_days,
        trains_on_inputs=True if args.trains_on_data else None,
    )
    result = drill(policy, args.name, None if change == TermsChange() else change)
    print(json.dumps(result.document(), ensure_ascii=False, indent=2) if args.json else drill_table(result))
    return 0


def cmd_backends(args: argparse.Namespace) -> int:
    """The kill switch, from the command line: every replica drops the backend within a second."""
    if args.backends_command == "drill":
        return cmd_drill(args)
    import asyncio

    from onshore.app import open_controls
    from onshore.ids import uuid7
    from onshore.prove.record import admin_entry

    settings = settings_from(args)
    # Before Redis or the store is touched.
    cli = require_role(args, settings, "backends.read" if args.backends_command == "list" else "backends.switch")
    known = settings.file.backends
    if settings.gateway.redis is None:
        raise ConfigError("gateway.redis", "the kill switch is shared through Redis: set gateway.redis")
    store = None
    if args.backends_command != "list":
        choose(args.name, sorted(known), "backend", "NAME")
        # Before acting: the change is recorded in this gateway's audit chain, never in a new, empty one.
        store = open_existing_store(args, settings)
    note(where(args, settings))
    controls = open_controls(settings)
    assert controls is not None
    actor = cli.actor

    async def act() -> int:
        try:
            if args.backends_command == "list":
                disabled = await controls.disabled_backends()
                for name in sorted(known):
                    state = disabled.get(name)
                    print(f"{name:<24} " + ("enabled" if state is None else f"DISABLED {dict(state)}"))
                return 0
            now = time.time()
            assert store is not None
            # Recorded before it takes effect, as the admin API does: if the chain cannot take the
            # record, the command fails and no replica changes; the change sits in the same
            # tamper-evident record as the requests it affects.
            reason = getattr(args, "reason", None)
            record_id = uuid7(int(now * 1000))
            entry = admin_entry(record_id, now, args.backends_command, args.name, actor, reason, "requested")
            store.append_entries([{**entry, "role": cli.role_for("backends.switch")}])
            if args.backends_command == "disable":
                await controls.disable_backend(args.name, args.reason, actor, now)
            else:
                await controls.enable_backend(args.name, actor, now)
        finally:
            await controls.aclose()
        print(f"{args.name}: {args.backends_command}d; every replica applies it within 1 s.")
        return 0

    try:
        return asyncio.run(act())
    finally:
        if store is not None:
            store.close()
