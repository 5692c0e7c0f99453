"""The `onshore` command: serve, reload, check-config, keys, audit, receipt, pii, db, backends.

One module per command group; each imports what it needs inside the command, so `onshore keys list`
never loads the HTTP server nor the name dictionary.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from onshore.cli.audit import cmd_audit
from onshore.cli.backends import add_drill_parser, cmd_backends
from onshore.cli.check_config import cmd_check_config
from onshore.cli.common import EXIT_NO_PERMISSION, NoGatewayData, RoleRefused, UsageError, command_line
from onshore.cli.db import cmd_db
from onshore.cli.incident import add_incident_parser
from onshore.cli.keys import cmd_keys
from onshore.cli.pii import cmd_pii
from onshore.cli.receipt import cmd_receipt
from onshore.cli.reload import cmd_reload
from onshore.cli.report import add_report_parser
from onshore.cli.serve import cmd_serve
from onshore.settings import ConfigError, ConfigErrors


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onshore", description="Onshore sovereign AI gateway")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--config", help="YAML config file (default: $ONSHORE_CONFIG, else ./onshore.yaml, else built-in defaults)"
        )
        p.add_argument("--data-dir", help="override gateway.data_dir")
        return p

    serve = with_config(sub.add_parser("serve", help="run the gateway"))
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="warning",
        help="the gateway's own log (stderr); failovers and breaker changes are warnings (default: warning)",
    )
    serve.set_defaults(func=cmd_serve)

    reload = with_config(
        sub.add_parser("reload", help="make the running gateway re-read its config (no restart; refused if invalid)")
    )
    reload.add_argument(
        "--timeout", type=float, default=60.0, metavar="SECONDS", help="how long to wait for its answer (default: 60)"
    )
    reload.set_defaults(func=cmd_reload)

    check = sub.add_parser("check-config", help="validate a config and print the resolved policy")
    check.add_argument("file", nargs="?", help="default: $ONSHORE_CONFIG, else ./onshore.yaml, else built-in defaults")
    check.add_argument(
        "--no-secrets",
        action="store_true",
        help="check the file alone (CI): environment variables and model files need not exist here",
    )
    check.set_defaults(func=cmd_check_config)

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = with_config(keys_sub.add_parser("create", help="create a key (printed once)"))
    create.add_argument("--tenant", required=True)
    create.add_argument("--floor", default="public", help="data-class floor (default: public)")
    create.add_argument("--models", help="comma-separated models this key may use (default: all)")
    create.add_argument("--name", help="a label for the key")
    with_config(keys_sub.add_parser("list", help="list keys (never the secrets)"))
    revoke = with_config(keys_sub.add_parser("revoke", help="revoke a key by id"))
    revoke.add_argument("key_id")
    keys.set_defaults(func=cmd_keys)

    audit = sub.add_parser("audit", help="verify or export the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_verify = with_config(audit_sub.add_parser("verify", help="check the hash chain and signed checkpoints"))
    audit_verify.add_argument(
        "--max-uncovered-age",
        type=float,
        metavar="SECONDS",
        help="records older than this must be under a signed checkpoint (default: 2 intervals + 5 s)",
    )
    audit_verify.add_argument(
        "--witness",
        action="append",
        metavar="FILE",
        help="checkpoint witness file, repeatable, one per gateway (default: DATA_DIR/audit-witness.jsonl if present)",
    )
    audit_verify.add_argument("--jwks", help="verify signatures with this JWKS instead of the data directory's key")
    export = with_config(audit_sub.add_parser("export", help="write records as JSON lines"))
    export.add_argument("--since", help="ISO 8601 time (inclusive)")
    export.add_argument("--until", help="ISO 8601 time (exclusive)")
    export.add_argument("--output", "-o", help="file to write (default: stdout)")
    export.add_argument(
        "--with-checkpoints", action="store_true", help="append the signed checkpoints (for tools/verify-audit.mjs)"
    )
    export.add_argument("--jwks", metavar="FILE", help="also write the public key as a JWKS file")
    audit.set_defaults(func=cmd_audit)

    receipt = sub.add_parser("receipt", help="verify a receipt offline")
    receipt_sub = receipt.add_subparsers(dest="receipt_command", required=True)
    verify = with_config(receipt_sub.add_parser("verify", help="verify an Onshore-Receipt token"))
    verify.add_argument("token")
    verify.add_argument("--jwks", help="JWKS file (e.g. saved from /.well-known/jwks.json)")
    receipt.set_defaults(func=cmd_receipt)

    db = sub.add_parser("db", help="database schema (PostgreSQL)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    with_config(db_sub.add_parser("upgrade", help="apply pending schema migrations"))
    with_config(db_sub.add_parser("status", help="show the schema revision"))
    db.set_defaults(func=cmd_db)

    backends = sub.add_parser("backends", help="the kill switch (needs gateway.redis)")
    backends_sub = backends.add_subparsers(dest="backends_command", required=True)
    with_config(backends_sub.add_parser("list", help="show which backends are disabled"))
    disable = with_config(backends_sub.add_parser("disable", help="take a backend out of every replica"))
    disable.add_argument("name")
    disable.add_argument("--reason", required=True, help="why (kept in the audit log)")
    enable = with_config(backends_sub.add_parser("enable", help="put a backend back"))
    enable.add_argument("name")
    add_drill_parser(backends_sub, with_config)
    backends.set_defaults(func=cmd_backends)

    pii = sub.add_parser("pii", help="personal-data detection tools")
    pii_sub = pii.add_subparsers(dest="pii_command", required=True)
    scan = with_config(pii_sub.add_parser("scan", help="print findings in text as JSON lines"))
    scan.add_argument("file", nargs="?", help="text file (default: stdin)")
    scan.add_argument("--jsonl", action="store_true", help="input is JSON lines with a 'text' field")
    scan.add_argument("--no-names", action="store_true", help="pattern layer only (no name analyser)")
    scan.add_argument("--allow", action="append", help="a value never reported (repeatable)")
    pii.set_defaults(func=cmd_pii)
    add_report_parser(sub, with_config)
    add_incident_parser(sub, with_config)
    _add_version(parser)
    return parser


def _add_version(parser: argparse.ArgumentParser) -> None:
    """`--version` on the top-level parser and on every subcommand, however deep."""
    from onshore import __version__

    parser.add_argument("--version", action="version", version=f"onshore {__version__}")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _add_version(child)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        status = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
        return status
    except BrokenPipeError:
        return _closed_pipe()
    except ConfigErrors as exc:
        for line in exc.lines():
            print(f"Config error: {line}", file=sys.stderr)
        if len(exc.errors) > 1:
            print(f"{len(exc.errors)} config errors in {exc.source}.", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"Config error: {exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"{command_line(args)}: error: {exc}", file=sys.stderr)
        return 2
    except RoleRefused as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_NO_PERMISSION
    except NoGatewayData as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2


def _closed_pipe() -> int:
    """The reader went away (`onshore audit export | head -1`): stop quietly, as `cat` does.

    stdout is pointed at /dev/null so the interpreter's final flush does not print a second
    BrokenPipeError; the status is the shell's for a process ended by SIGPIPE (128 + 13).
    """
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (captured output in tests)
        pass
    return 141
