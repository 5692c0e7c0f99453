"""What every command shares: finding the config, the settings with --data-dir applied, the state
of an existing gateway (never a new, empty one by mistake), and usage errors."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from onshore.settings import BUILT_IN, Settings, load_settings, nearest

if TYPE_CHECKING:
    from onshore.app import Store
    from onshore.identify.cli_actor import CliActor
    from onshore.identify.roles import Action

CONFIG_ENV = "ONSHORE_CONFIG"
LOCAL_CONFIG = "onshore.yaml"


class UsageError(Exception):
    """A mistake in how a command was called (an argument, not the config file): exit status 2."""


class RoleRefused(Exception):
    """The OS user running the command lacks the role its action needs: exit status 77
    (EX_NOPERM, sysexits.h), before anything is opened or changed."""


EXIT_NO_PERMISSION = 77


class NoGatewayData(Exception):
    """A command that reads a gateway's state found none where it looked: it refuses rather than
    create an empty database and report on that."""


def config_path(args: argparse.Namespace) -> tuple[str | None, str]:
    """The config file to use and how it was found: --config, then $ONSHORE_CONFIG, then ./onshore.yaml;
    (None, ...) means the built-in defaults."""
    explicit = getattr(args, "config", None)
    if explicit:
        return explicit, "--config"
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return from_env, f"${CONFIG_ENV}"
    if Path(LOCAL_CONFIG).is_file():
        return LOCAL_CONFIG, "found in the current directory"
    return None, f"no --config, ${CONFIG_ENV} or ./{LOCAL_CONFIG}"


def settings_from(args: argparse.Namespace, *, require_secrets: bool = True) -> Settings:
    path, _ = config_path(args)
    settings = load_settings(path, require_secrets=require_secrets)
    data_dir = getattr(args, "data_dir", None)
    if data_dir:
        gateway = settings.file.gateway
        import msgspec

        file = msgspec.structs.replace(settings.file, gateway=msgspec.structs.replace(gateway, data_dir=data_dir))
        settings = Settings(file=file, secrets=settings.secrets, source=settings.source)
    return settings


def describe_config(args: argparse.Namespace, settings: Settings) -> str:
    _, how = config_path(args)
    return f"{settings.source} ({how})" if settings.source != BUILT_IN else f"{BUILT_IN} ({how})"


def where(args: argparse.Namespace, settings: Settings) -> str:
    """One line naming the state a command acts on, for stderr: the SRE sees which gateway it was."""
    if settings.gateway.storage == "postgresql":
        data = f"PostgreSQL from ${settings.secrets['#storage'].env_name}"
    else:
        data = str(settings.data_dir.resolve())
    return f"data: {data}; config: {describe_config(args, settings)}"


def _point_elsewhere(
    args: argparse.Namespace, settings: Settings, missing: str, japanese: str, jwks_hint: bool = False
) -> NoGatewayData:
    directory = settings.data_dir.resolve()
    jwks, jwks_ja = (
        (" Or verify with the public key alone: --jwks FILE.", "公開鍵だけで検証するなら --jwks FILE。")
        if jwks_hint
        else ("", "")
    )
    return NoGatewayData(
        f"no {missing} in {directory} (config: {describe_config(args, settings)}). "
        f"Point at the gateway's data with --data-dir DIR, or at its config with --config FILE or "
        f"${CONFIG_ENV}; `onshore serve` creates it on its first start.{jwks} / "
        f"{directory} に{japanese}がありません。--data-dir DIR、または --config FILE か ${CONFIG_ENV} で"
        f"ゲートウェイのデータの場所を指定してください（初回の `onshore serve` で作成されます）。{jwks_ja}"
    )


def open_existing_store(args: argparse.Namespace, settings: Settings) -> Store:
    """The gateway's store, only if it exists: SQLite's file must already be there."""
    from onshore.app import DB_FILE, open_store

    if settings.gateway.storage == "sqlite" and not (settings.data_dir / DB_FILE).is_file():
        raise _point_elsewhere(args, settings, f"Onshore database ({DB_FILE})", f" Onshore のデータベース（{DB_FILE}）")
    return open_store(settings)


def existing_signing_key(args: argparse.Namespace, settings: Settings, *, jwks_hint: bool) -> Path:
    """The data directory's signing key file, which must exist (a new key would make every valid
    checkpoint and receipt look forged)."""
    from onshore.app import SIGNING_KEY_FILE

    path = settings.data_dir / SIGNING_KEY_FILE
    if not path.is_file():
        raise _point_elsewhere(
            args, settings, f"signing key ({SIGNING_KEY_FILE})", f"署名鍵（{SIGNING_KEY_FILE}）", jwks_hint
        )
    return path


def current_actor(settings: Settings) -> CliActor:
    return actor_for(settings.data_dir, settings.file.identity.cli_roles)


def actor_for(data_dir: Path, granted: Mapping[str, Iterable[str]]) -> CliActor:
    """Who is running this command and with which roles: the effective uid as the password database
    names it (never $USER or $LOGNAME, which the caller sets), against the data directory's owner.
    A data directory not made yet belongs to whoever can make it: its nearest existing parent's owner."""
    import pwd

    from onshore.identify.cli_actor import os_user_name, resolve

    def name_of(uid: int) -> str:
        try:
            return os_user_name(uid, pwd.getpwuid(uid).pw_name)
        except KeyError:
            return os_user_name(uid, None)

    directory = data_dir.resolve()
    existing = next((p for p in (directory, *directory.parents) if p.exists()), directory.anchor)
    owner_uid = os.stat(existing).st_uid
    uid = os.geteuid()
    return resolve(uid, name_of(uid), owner_uid, name_of(owner_uid), granted)


def require_role(args: argparse.Namespace, settings: Settings, action: Action) -> CliActor:
    """The caller, if a role they hold permits `action`; else RoleRefused, saying how to grant it
    (and the SIEM, if configured, hears of the refusal: who, which action, never more)."""
    try:
        return require_role_in(args, settings.data_dir, settings.file.identity.cli_roles, action)
    except RoleRefused:
        _refusal_event(settings, actor_for(settings.data_dir, settings.file.identity.cli_roles).actor, action)
        raise


def _refusal_event(settings: Settings, actor: str, action: str) -> None:
    import time

    from onshore.events.model import EventType, SecurityEvent
    from onshore.siem.build import deliver_now

    event = SecurityEvent(type=EventType.ADMIN_ACTION_REFUSED, time=time.time(), actor=actor, reason=action)
    for sink in deliver_now(settings, [event]):
        print(f"warning: the security event for this refusal was not sent to {sink}", file=sys.stderr)


def require_role_in(
    args: argparse.Namespace, data_dir: Path, granted: Mapping[str, Iterable[str]], action: Action
) -> CliActor:
    from onshore.identify.cli_actor import cli_refusal

    actor = actor_for(data_dir, granted)
    why = cli_refusal(actor, action, command_line(args), str(data_dir.resolve()))
    if why is not None:
        raise RoleRefused(why)
    return actor


def command_line(args: argparse.Namespace) -> str:
    """`onshore keys create` and the like, for messages."""
    words = ["onshore", args.command]
    words += [v for k, v in vars(args).items() if k.endswith("_command") and isinstance(v, str)]
    return " ".join(words)


def choose(value: str, choices: Sequence[str], what: str, option: str) -> str:
    """`value` if it is one of `choices`, else a UsageError listing them and the nearest."""
    if value in choices:
        return value
    near = nearest(value, list(choices))
    hint = f"; did you mean {near!r}?" if near else ""
    raise UsageError(f"{option}: unknown {what} {value!r}; valid: {', '.join(choices)}{hint}")


def note(message: str) -> None:
    print(message, file=sys.stderr)
