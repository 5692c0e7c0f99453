"""The `onshore serve` command: run the gateway (and, on a first run, create a key).

A first start must not be able to lose its key: the listener is bound and every backend loaded
(embedded model files included) before the key is created and printed. If anything fails first,
no key exists, the error is one line, and the next good start creates it.
"""

from __future__ import annotations

import argparse
import errno
import logging
import socket
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from onshore.cli.common import describe_config, settings_from
from onshore.settings import BUILT_IN, ConfigError, Settings


class StartupFailed(Exception):
    """Start-up stopped before serving; the message is the one line the operator reads."""


def cmd_serve(args: argparse.Namespace) -> int:
    settings = settings_from(args)  # model files are checked here: a missing one stops before anything
    configure_logging(getattr(args, "log_level", "warning"))
    host = args.host or settings.gateway.host
    port = args.port or settings.gateway.port
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out = sys.stdout
    print(f"Onshore {_version()} — config: {describe_config(args, settings)}; data: {settings.data_dir.resolve()}")
    if settings.source == BUILT_IN:
        print(
            "Built-in defaults: models 'local' (chat) and 'local-embeddings' are served by SmolLM2-135M-Instruct\n"
            "  running inside this gateway (no network needed). To front your own model servers or clouds,\n"
            "  write a config file (README, 'Configuration') and start with: onshore serve --config FILE",
            file=out,
            flush=True,
        )
    try:
        sockets = bind(host, port, settings)
    except StartupFailed as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(settings, sockets, host, port, out, lambda: settings_from(args))
    finally:
        for sock in sockets:
            sock.close()


def _run(
    settings: Settings,
    sockets: list[socket.socket],
    host: str,
    port: int,
    out: TextIO,
    reload_from: Callable[[], Settings],
) -> int:
    from onshore.app import BackendStartError, build_app
    from onshore.edge.runner import run_gateway
    from onshore.reload import remove_pid, write_pid

    pid_file: list[Path] = []

    def started() -> None:  # every backend is loaded and the port is ours: a key made now is never lost
        _first_run_key(settings, out)
        # `onshore reload` finds this process here (SIGHUP); only while it serves.
        pid_file.append(write_pid(settings.data_dir))
        print(f"Listening on http://{_url_host(host)}:{port}/v1", file=out, flush=True)

    # Reload (SIGHUP, `onshore reload`) re-reads the config exactly as it was found now: the same
    # --config / $ONSHORE_CONFIG / ./onshore.yaml and --data-dir.
    app = build_app(settings, on_started=started, reload_from=reload_from)
    try:
        run_gateway(app, sockets)
    except (BackendStartError, ConfigError) as exc:
        print(f"Start-up failed: {exc} / 起動に失敗しました（API キーは作成されていません）", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"Start-up failed: {_os_error(exc)} / 起動に失敗しました（API キーは作成されていません）", file=sys.stderr
        )
        return 2
    except Exception as exc:  # noqa: BLE001 - unforeseen: the summary line first, then the details
        print(f"Start-up failed: {type(exc).__name__}: {exc} (no API key was created)", file=sys.stderr)
        traceback.print_exc()
        return 1
    finally:
        for path in pid_file:
            remove_pid(path)
    return 0


def configure_logging(level: str) -> None:
    """The gateway's own log on stderr, one line per event (the access log is separate: gateway.access_log)."""
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # requests are the access log's job


def bind(host: str, port: int, settings: Settings) -> list[socket.socket]:
    """Listening sockets for every address `host` resolves to, before anything else starts."""
    where = f"{_url_host(host)}:{port}"
    change = (
        f"set gateway.port in {settings.source} or pass --port PORT"
        if settings.source != BUILT_IN
        else ("pass --port PORT, or set gateway.port in a config file (--config FILE)")
    )
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupFailed(
            f"cannot listen on {where}: host {host!r} does not resolve ({exc.strerror}); "
            "set gateway.host or pass --host / ホスト名を解決できません: gateway.host か --host を確認してください"
        ) from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio does: restart after a crash
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(1024)
            sock.setblocking(False)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupFailed(
                f"cannot listen on {where}: the port is already in use (another gateway?); {change}. "
                f"No API key was created. / {where} は使用中です: 別のポートを gateway.port または --port で"
                "指定してください（API キーは作成されていません）"
            ) from None
        if exc.errno == errno.EACCES:
            raise StartupFailed(
                f"cannot listen on {where}: permission denied (ports below 1024 need privileges); {change} / "
                f"{where} で待ち受ける権限がありません: 1024 以上のポートを指定してください"
            ) from None
        raise StartupFailed(
            f"cannot listen on {where}: {exc.strerror}; check gateway.host / --host and gateway.port / --port / "
            f"{where} で待ち受けできません: {exc.strerror}"
        ) from None
    return sockets


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _os_error(exc: OSError) -> str:
    name = f" {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{':' if name else ''}{name}"


def _first_run_key(settings: Settings, out: TextIO) -> None:
    """On the very first start with the built-in defaults, create a key and show it once."""
    from onshore.app import open_store
    from onshore.identify.keys import KeyRecord, generate_key

    store = open_store(settings)
    try:
        keys = store.list_keys()
        tenant = next(iter(settings.file.tenants))
        if not keys and settings.source == BUILT_IN:
            new = generate_key()
            store.add_key(KeyRecord(new.key_id, "first-run", tenant, "public", None, time.time(), None, new.hash))
            print(
                f"First run: created API key {new.key_id} for tenant '{tenant}'. It is shown only now:\n"
                f"  {new.plaintext}\n"
                f"More keys: onshore keys create --tenant {tenant}  (list: onshore keys list)\n"
                f"初回起動: テナント '{tenant}' の API キーを作成しました。表示は今回だけです。"
                f"追加のキーは onshore keys create --tenant {tenant} で作成できます。",
                file=out,
            )
        elif not [k for k in keys if k.revoked_at is None]:
            print(
                f"No active API keys. Create one with: onshore keys create --tenant {tenant}\n"
                f"有効な API キーがありません。onshore keys create --tenant {tenant} で作成してください。",
                file=out,
            )
    finally:
        store.close()


def _version() -> str:
    from onshore import __version__

    return __version__
