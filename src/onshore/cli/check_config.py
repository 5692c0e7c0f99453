"""The `onshore check-config` command: validate a config and print the resolved policy."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Iterable
from typing import TYPE_CHECKING

from onshore.cli.common import settings_from
from onshore.cli.table import WIDTH, render
from onshore.settings import nearest

if TYPE_CHECKING:
    from onshore.decide.decision import Verdict
    from onshore.decide.policy import Policy
    from onshore.settings import FileSettings


def cmd_check_config(args: argparse.Namespace) -> int:
    from onshore.decide.declared import build_policy

    if args.file:
        args.config = args.file
    settings = settings_from(args, require_secrets=not args.no_secrets)
    policy = build_policy(settings.file)
    verdicts = _verdicts(policy)
    print(f"Config OK: {settings.source}" + (" (secrets and model files not checked)" if args.no_secrets else ""))
    print(f"Policy hash: {policy.hash}\n")
    rows = [["TENANT", "CLASS", "MODEL", "ALLOWED (in order)"]]
    excluded: list[list[tuple[str, tuple[str, ...]]]] = [[]]
    for (tenant, data_class, model), verdict in verdicts.items():
        rows.append([tenant, data_class, model, ", ".join(r.backend.name for r in verdict.allowed) or "DENIED"])
        excluded.append([(e.backend, e.reasons) for e in verdict.excluded])
    for line in render(rows):
        print(line)
    # Why each other backend was excluded, one per line under its row (render wraps only ALLOWED).
    print()
    for line in _exclusions(rows[1:], excluded[1:]):
        print(line)
    warnings = config_warnings(settings.file, policy, verdicts)
    if not args.no_secrets:  # --no-secrets checks the file for another machine (CI): its users are not here
        warnings += cli_user_warnings(settings.file)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cli_user_warnings(file: FileSettings) -> list[str]:
    """identity.cli_roles entries naming no user of this machine: a typo grants nothing, silently."""
    import pwd

    names = [entry.pw_name for entry in pwd.getpwall()]
    warnings = []
    for user in file.identity.cli_roles:
        if user in names or user.startswith("uid:"):
            continue
        near = nearest(user, names)
        hint = f"; did you mean {near!r}?" if near else ""
        warnings.append(f"identity.cli_roles.{user}: no OS user {user!r} on this machine{hint}")
    return warnings


def _verdicts(policy: Policy) -> dict[tuple[str, str, str], Verdict]:
    from onshore.decide.classes import DATA_CLASSES
    from onshore.decide.decision import RequestFacts, evaluate

    return {
        (tenant, data_class, model): evaluate(policy, RequestFacts(tenant, data_class, model))
        for tenant in policy.tenants
        for data_class in DATA_CLASSES
        for model in sorted(policy.models)
    }


def _exclusions(rows: list[list[str]], excluded: list[list[tuple[str, tuple[str, ...]]]]) -> Iterable[str]:
    """Under each tenant/class/model, each excluded backend with one reason per line."""
    yield "EXCLUDED (why)"
    for row, backends in zip(rows, excluded, strict=True):
        if not backends:
            continue
        yield " ".join(row[:3])
        for backend, reasons in backends:
            lead = f"  {backend}: "
            for n, reason in enumerate(reasons):
                first = lead if n == 0 else " " * len(lead)
                yield from textwrap.wrap(reason, WIDTH, initial_indent=first, subsequent_indent=" " * (len(lead) + 2))


def config_warnings(file: FileSettings, policy: Policy, verdicts: dict[tuple[str, str, str], Verdict]) -> list[str]:
    """What is valid but probably not meant: parts nothing uses, rules that refuse everything."""
    warnings = []
    routed = {route.backend for model in file.models.values() for route in model.routes}
    for name in file.backends:
        if name not in routed:
            warnings.append(f"backends.{name}: no model routes to it (unused)")
    for model in sorted(policy.models):
        if not any(v.allowed for (_, _, m), v in verdicts.items() if m == model):
            warnings.append(f"models.{model}: no tenant can reach it at any data class (every route is excluded)")
    for tenant, data_class in sorted({(t, c) for t, c, _ in verdicts}):
        if not any(v.allowed for (t, c, _), v in verdicts.items() if (t, c) == (tenant, data_class)):
            warnings.append(
                f"tenants.{tenant}.classes.{data_class}: allows no backend of any model "
                "(every request of this class is refused)"
            )
    return warnings
