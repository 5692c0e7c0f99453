"""The `onshore serve` command: run the gateway (and, on a first run, create a key)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from onshore.cli.common import settings_from
from onshore.settings import Settings


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from onshore.app import build_app

    settings = settings_from(args)
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
