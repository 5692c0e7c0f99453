"""The `onshore db` commands: PostgreSQL schema status and upgrade."""

from __future__ import annotations

import argparse
import time

from onshore.cli.common import require_role, settings_from


def cmd_db(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    # A schema change is a configuration change (admin); reading the revision needs no role.
    actor = require_role(args, settings, "config.write") if args.db_command == "upgrade" else None
    if settings.gateway.storage != "postgresql":
        print("SQLite: the schema is created and kept current by the gateway itself; nothing to do.")
        return 0
    from onshore.store.postgres import REQUIRED_REVISION, PostgresStore, current_revision, upgrade

    dsn = settings.secrets["#storage"].value
    if actor is not None:
        before = current_revision(dsn)
        after = upgrade(dsn)
        if after != before:
            # Recorded once the schema can hold it (a record cannot precede the table it goes in).
            from onshore.ids import uuid7

            now = time.time()
            entry = {
                "id": uuid7(int(now * 1000)),
                "ts": round(now, 6),
                "kind": "admin",
                "action": "db_upgrade",
                "revision": after,
                "previous_revision": before,
                "actor": actor.actor,
                "role": actor.role_for("config.write"),
                "outcome": "ok",
            }
            store = PostgresStore(dsn)
            try:
                store.append_entries([entry])
            finally:
                store.close()
        print(f"Schema upgraded to revision {after} (this gateway needs {REQUIRED_REVISION}).")
        return 0
    current = current_revision(dsn)
    state = "current" if current == REQUIRED_REVISION else "BEHIND: run `onshore db upgrade`"
    print(f"Schema revision {current or 'none'}; this gateway needs {REQUIRED_REVISION} ({state}).")
    return 0 if current == REQUIRED_REVISION else 1
