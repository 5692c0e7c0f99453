"""The `onshore keys` commands: create, list and revoke API keys."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from onshore.cli.common import choose, note, open_existing_store, require_role, settings_from, where
from onshore.cli.table import render
from onshore.identify.cli_actor import CliActor
from onshore.prove.ports import AuditStore
from onshore.settings import Settings


def cmd_keys(args: argparse.Namespace) -> int:
    from onshore.app import DB_FILE, open_store
    from onshore.decide.classes import DATA_CLASSES
    from onshore.identify.keys import KeyRecord, generate_key

    settings = settings_from(args)
    # Before anything is opened: a refused command creates no database and changes nothing.
    actor = require_role(args, settings, "keys.read" if args.keys_command == "list" else "keys.write")
    if args.keys_command == "create":
        # Checked before the store is opened: a mistyped argument creates nothing.
        choose(args.tenant, sorted(settings.file.tenants), "tenant", "--tenant")
        choose(args.floor, DATA_CLASSES, "data class", "--floor")
        models = None
        if args.models:
            models = tuple(m.strip() for m in args.models.split(",") if m.strip())
            for model in models:
                choose(model, sorted(settings.file.models), "model", "--models")
        fresh = settings.gateway.storage == "sqlite" and not (settings.data_dir / DB_FILE).exists()
        store = open_store(settings)  # a key may be made before the first start: this may create the database
        note(where(args, settings) + ("; a new database (no gateway has used this directory yet)" if fresh else ""))
    else:
        store = open_existing_store(args, settings)
        note(where(args, settings))
    try:
        if args.keys_command == "create":
            new = generate_key()
            _recorded(store, actor, "key_create", new.key_id, args.tenant)  # before it takes effect
            store.add_key(
                KeyRecord(new.key_id, args.name or "", args.tenant, args.floor, models, time.time(), None, new.hash)
            )
            print(
                f"Created key {new.key_id} for tenant {args.tenant} (floor {args.floor}). "
                "It is shown once; store it now:",
                file=sys.stderr,
            )
            print(new.plaintext)
            _key_event(settings, actor, "created", new.key_id, args.tenant)
        elif args.keys_command == "list":
            rows = [["KEY_ID", "TENANT", "FLOOR", "MODELS", "CREATED", "STATUS", "NAME"]]
            for k in store.list_keys():
                status = "active" if k.revoked_at is None else f"revoked {_iso(k.revoked_at)}"
                shown = ",".join(k.models) if k.models else "*"
                rows.append([k.key_id, k.tenant, k.floor, shown, _iso(k.created_at), status, k.name])
            for line in render(rows, wrap=(3, 6)):
                print(line)
        elif args.keys_command == "revoke":
            known = {k.key_id: k for k in store.list_keys() if k.revoked_at is None}
            if args.key_id in known:
                _recorded(store, actor, "key_revoke", args.key_id, known[args.key_id].tenant)  # before it takes effect
            if not store.revoke_key(args.key_id, time.time()):
                print(f"No active key {args.key_id}.", file=sys.stderr)
                return 1
            _key_event(settings, actor, "revoked", args.key_id, None)
            print(
                f"Revoked {args.key_id}; running gateways stop accepting it within "
                f"{settings.gateway.key_refresh_seconds} s."
            )
    finally:
        store.close()
    return 0


def _recorded(store: AuditStore, actor: CliActor, action: str, key_id: str, tenant: str | None) -> None:
    """The change goes into the audit chain with who made it and the role that let them, before it
    is made: if the chain cannot take it, the command fails and nothing changes."""
    from onshore.ids import uuid7
    from onshore.prove.record import key_entry

    now = time.time()
    entry = key_entry(uuid7(int(now * 1000)), now, action, key_id, tenant, actor.actor, "requested")
    store.append_entries([{**entry, "role": actor.role_for("keys.write")}])


def _key_event(settings: Settings, actor: CliActor, what: str, key_id: str, tenant: str | None) -> None:
    """Tell the SIEM (if configured) who changed which key; a sink that fails is named, not fatal."""
    from onshore.events.model import EventType, SecurityEvent
    from onshore.siem.build import deliver_now

    kind = EventType.API_KEY_CREATED if what == "created" else EventType.API_KEY_REVOKED
    event = SecurityEvent(type=kind, time=time.time(), principal=key_id, tenant=tenant, actor=actor.actor)
    for sink in deliver_now(settings, [event]):
        print(f"warning: the security event for this key was not sent to {sink}", file=sys.stderr)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
