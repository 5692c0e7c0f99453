"""The `onshore backends` commands: the kill switch, shared through Redis."""

from __future__ import annotations

import argparse
import time

from onshore.cli.common import choose, note, open_existing_store, settings_from, where
from onshore.settings import ConfigError


def cmd_backends(args: argparse.Namespace) -> int:
    """The kill switch, from the command line: every replica drops the backend within a second."""
    import asyncio
    import getpass

    from onshore.app import open_controls
    from onshore.ids import uuid7
    from onshore.prove.record import admin_entry

    settings = settings_from(args)
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
    actor = f"cli:{getpass.getuser()}"

    async def act() -> int:
        try:
            if args.backends_command == "list":
                disabled = await controls.disabled_backends()
                for name in sorted(known):
                    state = disabled.get(name)
                    print(f"{name:<24} " + ("enabled" if state is None else f"DISABLED {dict(state)}"))
                return 0
            now = time.time()
            if args.backends_command == "disable":
                await controls.disable_backend(args.name, args.reason, actor, now)
            else:
                await controls.enable_backend(args.name, actor, now)
        finally:
            await controls.aclose()
        assert store is not None
        # The change is part of the same tamper-evident record as the requests it affects.
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
        print(f"{args.name}: {args.backends_command}d; every replica applies it within 1 s.")
        return 0

    try:
        return asyncio.run(act())
    finally:
        if store is not None:
            store.close()
