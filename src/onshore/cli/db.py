"""The `onshore db` commands: PostgreSQL schema status and upgrade."""

from __future__ import annotations

import argparse

from onshore.cli.common import settings_from


def cmd_db(args: argparse.Namespace) -> int:
    settings = settings_from(args)
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
