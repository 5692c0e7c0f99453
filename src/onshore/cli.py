"""The `onshore` command: serve, check-config, keys, audit, receipt."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from onshore.settings import ConfigError, Settings, load_settings


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(getattr(args, "config", None))
    data_dir = getattr(args, "data_dir", None)
    if data_dir:
        gateway = settings.file.gateway
        import msgspec

        file = msgspec.structs.replace(settings.file, gateway=msgspec.structs.replace(gateway, data_dir=data_dir))
        settings = Settings(file=file, secrets=settings.secrets, source=settings.source)
    return settings


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from onshore.app import build_app

    settings = _settings(args)
    host = args.host or settings.gateway.host
    port = args.port or settings.gateway.port
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out = sys.stdout
    print(f"Onshore {_version()} — config: {settings.source}; data: {settings.data_dir.resolve()}", file=out)
    if settings.source == "built-in defaults":
        print(
            "Built-in defaults: models 'local' (chat) and 'local-embeddings' are served by SmolLM2-135M-Instruct\n"
            "  running inside this gateway (no network needed). To front your own model servers or clouds,\n"
            "  write a config file (README, 'Configuration') and start with: onshore serve --config FILE",
            file=out,
        )
    _first_run_key(settings, out)
    print(f"Listening on http://{host}:{port}/v1", file=out, flush=True)
    web.run_app(build_app(settings), host=host, port=port, print=None, access_log=None, handler_cancellation=False)
    return 0


def _first_run_key(settings: Settings, out: TextIO) -> None:
    """On the very first start with the built-in defaults, create a key and show it once."""
    import time

    from onshore.app import open_store
    from onshore.identify.keys import KeyRecord, generate_key

    store = open_store(settings)
    try:
        keys = store.list_keys()
        tenant = next(iter(settings.file.tenants))
        if not keys and settings.source == "built-in defaults":
            new = generate_key()
            store.add_key(KeyRecord(new.key_id, "first-run", tenant, "public", None, time.time(), None, new.hash))
            print(
                f"First run: created API key {new.key_id} for tenant '{tenant}'. It is shown only now:\n"
                f"  {new.plaintext}",
                file=out,
            )
        elif not [k for k in keys if k.revoked_at is None]:
            print(f"No active API keys. Create one with: onshore keys create --tenant {tenant}", file=out)
    finally:
        store.close()


def _version() -> str:
    from onshore import __version__

    return __version__


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


def cmd_keys(args: argparse.Namespace) -> int:
    from onshore.app import open_store
    from onshore.decide.classes import is_data_class
    from onshore.identify.keys import KeyRecord, generate_key

    settings = _settings(args)
    store = open_store(settings)
    try:
        if args.keys_command == "create":
            if args.tenant not in settings.file.tenants:
                raise ConfigError(
                    "tenants",
                    f"unknown tenant {args.tenant!r}; the config defines {', '.join(sorted(settings.file.tenants))}",
                )
            if not is_data_class(args.floor):
                raise ConfigError("", f"unknown data class {args.floor!r}")
            models = None
            if args.models:
                models = tuple(m.strip() for m in args.models.split(",") if m.strip())
                unknown = [m for m in models if m not in settings.file.models]
                if unknown:
                    raise ConfigError("models", f"unknown model(s): {', '.join(unknown)}")
            new = generate_key()
            store.add_key(
                KeyRecord(new.key_id, args.name or "", args.tenant, args.floor, models, time.time(), None, new.hash)
            )
            print(
                f"Created key {new.key_id} for tenant {args.tenant} (floor {args.floor}). "
                "It is shown once; store it now:",
                file=sys.stderr,
            )
            print(new.plaintext)
        elif args.keys_command == "list":
            print("KEY_ID        TENANT        FLOOR         MODELS        CREATED               STATUS")
            for k in store.list_keys():
                status = "active" if k.revoked_at is None else f"revoked {_iso(k.revoked_at)}"
                shown = ",".join(k.models) if k.models else "*"
                print(
                    f"{k.key_id:<13} {k.tenant:<13} {k.floor:<13} {shown:<13} {_iso(k.created_at):<21} {status}"
                    + (f"  ({k.name})" if k.name else "")
                )
        elif args.keys_command == "revoke":
            if not store.revoke_key(args.key_id, time.time()):
                print(f"No active key {args.key_id}.", file=sys.stderr)
                return 1
            print(
                f"Revoked {args.key_id}; running gateways stop accepting it within "
                f"{settings.gateway.key_refresh_seconds} s."
            )
    finally:
        store.close()
    return 0


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> float:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError("", f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def cmd_audit(args: argparse.Namespace) -> int:
    from onshore.app import open_store

    settings = _settings(args)
    store = open_store(settings)
    try:
        if args.audit_command == "verify":
            return _audit_verify(args, settings, store)
        return _audit_export(args, settings, store)
    finally:
        store.close()


def _audit_keys(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Public keys by kid: from --jwks (an auditor needs no private key), else the gateway's own."""
    from onshore.prove.signer import public_key_from_jwk

    if getattr(args, "jwks", None):
        document = json.loads(Path(args.jwks).read_text(encoding="utf-8"))
        return {str(jwk.get("kid")): public_key_from_jwk(jwk) for jwk in document.get("keys", [])}
    from onshore.app import SIGNING_KEY_FILE
    from onshore.prove.signer import Signer
    from onshore.store.keyfile import load_signing_key

    signer = Signer(load_signing_key(settings.data_dir / SIGNING_KEY_FILE))
    return {signer.kid: signer.public_key}


def _audit_verify(args: argparse.Namespace, settings: Settings, store: Any) -> int:
    from cryptography.exceptions import InvalidSignature

    from onshore.prove.chain import Checkpoint, checkpoint_messages, verify
    from onshore.prove.signer import b64url_decode
    from onshore.prove.witness import read_witness

    keys = _audit_keys(args, settings)

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

    default_witness = settings.data_dir / settings.gateway.audit.witness_file
    paths = [Path(p) for p in args.witness] if args.witness else [default_witness] if default_witness.exists() else []
    witnessed: list[Checkpoint] = []
    for path in paths:
        if not path.is_file():
            print(f"error: witness file {path} does not exist", file=sys.stderr)
            return 2
        contents = read_witness(path)
        witnessed += contents.checkpoints
        if contents.unreadable:
            lines = ", ".join(str(n) for n in contents.unreadable)
            print(f"warning: {path} line(s) {lines} hold no checkpoint (a torn write?): ignored", file=sys.stderr)
    checkpoints = store.checkpoints()
    report = verify(store.iter_records(), checkpoints, signature_ok, witnessed)
    if not report.ok:
        print(f"BROKEN: {report.first_break}", file=sys.stderr)
        return 1
    # Records older than two checkpoint intervals must be under a signed checkpoint; if they are
    # not, checkpoints were deleted (and the chain may have been rewritten) or none was ever signed.
    covered = max((cp.seq for cp in [*checkpoints, *witnessed]), default=0)
    max_age = args.max_uncovered_age
    if max_age is None:
        max_age = 2 * settings.gateway.audit.checkpoint_interval_seconds + 5
    cutoff = time.time() - max_age
    stale = [r.seq for r in store.iter_records(until=cutoff) if r.seq > covered]
    if stale:
        print(
            f"BROKEN: records seq {stale[0]}..{stale[-1]} are older than two checkpoint intervals but "
            f"no signed checkpoint covers them (last covers seq {covered}): checkpoints were removed "
            "or the chain was rewritten",
            file=sys.stderr,
        )
        return 1
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


def _audit_export(args: argparse.Namespace, settings: Settings, store: Any) -> int:
    from onshore.prove.chain import checkpoint_document

    since = _parse_time(args.since) if args.since else None
    until = _parse_time(args.until) if args.until else None
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
    if args.jwks:
        from onshore.app import SIGNING_KEY_FILE
        from onshore.prove.signer import Signer
        from onshore.store.keyfile import load_signing_key

        signer = Signer(load_signing_key(settings.data_dir / SIGNING_KEY_FILE))
        Path(args.jwks).write_text(json.dumps(signer.jwks(), indent=2) + "\n", encoding="utf-8")
    extra = f" and {written} checkpoints" if args.with_checkpoints else ""
    print(f"Exported {count} records{extra}.", file=sys.stderr)
    return 0


def cmd_receipt(args: argparse.Namespace) -> int:
    from onshore.prove.signer import ReceiptError, public_key_from_jwk, verify_receipt

    if args.jwks:
        document = json.loads(Path(args.jwks).read_text(encoding="utf-8"))
        keys = {}
        for jwk in document.get("keys", []):
            keys[str(jwk.get("kid"))] = public_key_from_jwk(jwk)
    else:
        from onshore.app import SIGNING_KEY_FILE
        from onshore.prove.signer import Signer
        from onshore.store.keyfile import load_signing_key

        signer = Signer(load_signing_key(_settings(args).data_dir / SIGNING_KEY_FILE))
        keys = {signer.kid: signer.public_key}
    try:
        claims = verify_receipt(args.token, keys)
    except ReceiptError as exc:
        print(f"INVALID: {exc}", file=sys.stderr)
        return 1
    print("VALID receipt, signed by key " + ", ".join(keys))
    print(json.dumps(claims, indent=2, ensure_ascii=False, sort_keys=True))
    return 0


def cmd_pii(args: argparse.Namespace) -> int:
    """Print findings as JSON lines, so a team can test detection on its own data."""
    from onshore.protect.detect import Detector, DetectorConfig

    protect = _settings(args).gateway.protect
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


def cmd_db(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings.gateway.storage != "postgresql":
        print("SQLite: the schema is created and kept current by the gateway itself; nothing to do.")
        return 0
    from onshore.store.postgres import REQUIRED_REVISION, current_revision, upgrade

    dsn = settings.secrets["#storage"].value
    if args.db_command == "upgrade":
        print(f"Schema upgraded to revision {upgrade(dsn)} (this gateway needs {REQUIRED_REVISION}).")
        return 0
    current = current_revision(dsn)
    state = "current" if current == REQUIRED_REVISION else "BEHIND: run `onshore db upgrade`"
    print(f"Schema revision {current or 'none'}; this gateway needs {REQUIRED_REVISION} ({state}).")
    return 0 if current == REQUIRED_REVISION else 1


def cmd_backends(args: argparse.Namespace) -> int:
    """The kill switch, from the command line: every replica drops the backend within a second."""
    import asyncio
    import getpass

    from onshore.app import open_controls, open_store
    from onshore.ids import uuid7
    from onshore.prove.record import admin_entry

    settings = _settings(args)
    controls = open_controls(settings)
    if controls is None:
        raise ConfigError("gateway.redis", "the kill switch is shared through Redis: set gateway.redis")
    known = settings.file.backends
    actor = f"cli:{getpass.getuser()}"

    async def act() -> int:
        try:
            if args.backends_command == "list":
                disabled = await controls.disabled_backends()
                for name in sorted(known):
                    state = disabled.get(name)
                    print(f"{name:<24} " + ("enabled" if state is None else f"DISABLED {dict(state)}"))
                return 0
            if args.name not in known:
                raise ConfigError("backends", f"unknown backend {args.name!r}")
            now = time.time()
            if args.backends_command == "disable":
                await controls.disable_backend(args.name, args.reason, actor, now)
            else:
                await controls.enable_backend(args.name, actor, now)
        finally:
            await controls.aclose()
        store = open_store(settings)
        try:  # the change is part of the same tamper-evident record as the requests it affects
            store.append_entries(
                [
                    admin_entry(
                        uuid7(int(now * 1000)),
                        now,
                        args.backends_command,
                        args.name,
                        actor,
                        getattr(args, "reason", None),
                        "ok",
                    )
                ]
            )
        finally:
            store.close()
        print(f"{args.name}: {args.backends_command}d; every replica applies it within 1 s.")
        return 0

    return asyncio.run(act())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onshore", description="Onshore sovereign AI gateway")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", help="YAML config file (default: built-in defaults)")
        p.add_argument("--data-dir", help="override gateway.data_dir")
        return p

    serve = with_config(sub.add_parser("serve", help="run the gateway"))
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check-config", help="validate a config and print the resolved policy")
    check.add_argument("file")
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
    backends.set_defaults(func=cmd_backends)

    pii = sub.add_parser("pii", help="personal-data detection tools")
    pii_sub = pii.add_subparsers(dest="pii_command", required=True)
    scan = with_config(pii_sub.add_parser("scan", help="print findings in text as JSON lines"))
    scan.add_argument("file", nargs="?", help="text file (default: stdin)")
    scan.add_argument("--jsonl", action="store_true", help="input is JSON lines with a 'text' field")
    scan.add_argument("--no-names", action="store_true", help="pattern layer only (no name analyser)")
    scan.add_argument("--allow", action="append", help="a value never reported (repeatable)")
    pii.set_defaults(func=cmd_pii)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"Config error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
