"""The `onshore reload` command: ask the gateway running on this data directory to re-read its config
(SIGHUP to the pid `onshore serve` wrote), wait for its own answer, and print it as one line.

The gateway validates the file itself, with its own environment, so the answer is the one that counts;
the caller's name goes into the audit record through a request file beside the pid file. Exit status:
0 applied or unchanged, 1 refused (the old config keeps serving), 2 no running gateway / no answer.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from onshore.cli.common import NoGatewayData, require_role_in, settings_from
from onshore.settings import ConfigError, ConfigErrors, GatewaySettings


def cmd_reload(args: argparse.Namespace) -> int:
    from onshore.reload import CONTROL_DIR, wait_for_result, write_json

    try:
        data_dir = _data_dir(args)
    except _Unparsable as exc:
        return _not_sent(exc.error)
    actor = require_role_in(args, data_dir, _cli_roles(args), "config.write")  # before anything is sent
    pid = running_pid(data_dir)
    control = data_dir / CONTROL_DIR
    control.mkdir(mode=0o700, exist_ok=True)
    nonce = secrets.token_hex(8)
    request = control / f"request-{nonce}.json"
    write_json(request, {"nonce": nonce, "actor": actor.actor, "role": actor.role_for("config.write")})
    try:
        os.kill(pid, signal.SIGHUP)
    except PermissionError:
        request.unlink(missing_ok=True)
        raise NoGatewayData(
            f"not allowed to signal the gateway (pid {pid}): run as its user / "
            f"ゲートウェイ（pid {pid}）にシグナルを送る権限がありません: 同じユーザーで実行してください"
        ) from None
    result = wait_for_result(control, nonce, args.timeout, lambda: _alive(pid))
    if result is None:
        request.unlink(missing_ok=True)
        print(
            f"No answer from the gateway (pid {pid}) within {args.timeout:g} s; see its log / "
            f"ゲートウェイ（pid {pid}）から {args.timeout:g} 秒以内に応答がありません。ログを確認してください",
            file=sys.stderr,
        )
        return 2
    print(result.line())
    for problem in result.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1 if result.outcome == "refused" else 0


def running_pid(data_dir: Path) -> int:
    """The pid of the gateway serving from `data_dir`, refusing a stale file (SIGHUP ends most
    programs: a pid reused by something else must never receive it)."""
    from onshore.reload import PID_FILE

    path = data_dir / PID_FILE
    try:
        pid = int(path.read_text(encoding="utf-8").strip())
    except FileNotFoundError:
        raise NoGatewayData(
            f"no running gateway found: {path} does not exist (`onshore serve` writes it while it runs; "
            f"point at its data with --data-dir DIR or --config FILE) / "
            f"稼働中のゲートウェイが見つかりません（{path} がありません）"
        ) from None
    except (OSError, ValueError):
        raise NoGatewayData(f"cannot read the pid file {path} / pid ファイル {path} を読めません") from None
    if not _alive(pid) or not _is_onshore(pid):
        raise NoGatewayData(
            f"the gateway in {path} (pid {pid}) is not running: the file is left from an earlier run / "
            f"{path} のゲートウェイ（pid {pid}）は稼働していません（前回の実行の残りです）"
        )
    return pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, someone else's: signalling it says so
    return True


def _is_onshore(pid: int) -> bool:
    """Where /proc shows it, the process must be an Onshore gateway."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc here: the pid file is all there is
    return b"onshore" in cmdline


def _data_dir(args: argparse.Namespace) -> Path:
    """The running gateway's data directory, even when the new config is broken (that is when a
    reload is refused, and the gateway's own answer says why)."""
    if getattr(args, "data_dir", None):
        return Path(args.data_dir)
    try:
        return settings_from(args, require_secrets=False).data_dir
    except ConfigError as exc:
        fallback = _data_dir_of_raw(args)
        if fallback is None:
            raise _Unparsable(exc) from None
        return fallback


class _Unparsable(Exception):
    """The config is not even YAML, so it names no data directory (and no gateway could load it)."""

    def __init__(self, error: ConfigError) -> None:
        self.error = error


def _not_sent(error: ConfigError) -> int:
    """Refused here rather than by the gateway: it would refuse the same file (and still can be
    asked with --data-dir DIR, which records the refusal in its audit chain)."""
    print(
        "Reload refused: the config does not parse, so the gateway was not asked and keeps serving its "
        "current config (--data-dir DIR asks it anyway) / 設定ファイルを解析できないため再読み込みしません。"
        "ゲートウェイは現在の設定で運用を継続します"
    )
    lines = error.lines() if isinstance(error, ConfigErrors) else [str(error)]
    for line in lines:
        print(f"  {line}", file=sys.stderr)
    return 1


def _data_dir_of_raw(args: argparse.Namespace) -> Path | None:
    from onshore.cli.common import config_path
    from onshore.settings import read_yaml

    path, _ = config_path(args)
    if path is None:
        return Path(GatewaySettings().data_dir)
    with contextlib.suppress(OSError, UnicodeDecodeError, ConfigError):
        raw, _ = read_yaml(Path(path).read_text(encoding="utf-8"), path)
        gateway = raw.get("gateway") if isinstance(raw, dict) else None
        data_dir = gateway.get("data_dir") if isinstance(gateway, dict) else GatewaySettings().data_dir
        if isinstance(data_dir, str):
            return Path(data_dir)
    return None


def _cli_roles(args: argparse.Namespace) -> Mapping[str, Iterable[str]]:
    """identity.cli_roles of the new config; none when it does not parse (then only the data
    directory's owner may ask: the gateway refuses such a file anyway, and records the attempt)."""
    try:
        return settings_from(args, require_secrets=False).file.identity.cli_roles
    except ConfigError:
        return {}
