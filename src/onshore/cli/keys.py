"""The `onshore keys` commands: create, list and revoke API keys."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from onshore.cli.common import settings_from
from onshore.settings import ConfigError


def cmd_keys(args: argparse.Namespace) -> int:
    from onshore.app import open_store
    from onshore.decide.classes import is_data_class
    from onshore.identify.keys import KeyRecord, generate_key

    settings = settings_from(args)
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
