"""Who runs an `onshore` command, and with which admin-side roles. Pure: cli/common.py reads the
uids and names from the operating system and hands them in.

The OS user who owns the gateway's data directory is `admin`: they can already write its database
and signing key, so refusing them would protect nothing. Any other user (root included: the rule is
one rule) holds only the roles `identity.cli_roles` lists for them, and none by default. The check
is policy and a record of authority, not a wall: the data directory's permissions are the wall.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from onshore.identify.roles import ROLES, Action, Role, granting, needed_for, refusal


@dataclass(frozen=True, slots=True)
class CliActor:
    user: str  # the OS user name, or "uid:N" for a uid with no name
    roles: frozenset[Role]
    owner: str  # who owns the data directory (name or "uid:N")
    is_owner: bool

    @property
    def actor(self) -> str:
        """How audit records and security events name this caller."""
        return f"cli:{self.user}"

    def role_for(self, action: Action) -> Role | None:
        return granting(self.roles, action)


def os_user_name(uid: int, name: str | None) -> str:
    """The name a uid is known by here; a uid with no passwd entry (an arbitrary container uid) is "uid:N"."""
    return name if name else f"uid:{uid}"


def resolve(uid: int, user: str, owner_uid: int, owner: str, granted: Mapping[str, Iterable[str]]) -> CliActor:
    """The caller's roles: `admin` if they own the data directory, plus whatever `granted`
    (identity.cli_roles) lists for their name."""
    roles: set[Role] = {role for role in ROLES if role in set(granted.get(user, ()))}
    if uid == owner_uid:
        roles.add("admin")
    return CliActor(user, frozenset(roles), owner, uid == owner_uid)


def cli_refusal(actor: CliActor, action: Action, command: str, data_dir: str) -> str | None:
    """One line, English then Japanese, saying why `actor` may not run `command` (None: they may):
    the action, the roles it needs, the OS user, and how to grant it."""
    why = refusal(actor.roles, action)
    if why is None:
        return None
    needed = " or ".join(needed_for(action))
    has = ", ".join(role for role in ROLES if role in actor.roles) or "none"
    # The grant suggested is the least role that suffices (ROLES runs from most to least).
    grant = f"identity.cli_roles: {{{actor.user}: [{needed_for(action)[-1]}]}}"
    return (
        f"`{command}` refused: {why} OS user {actor.user} has roles: {has} (not the owner of {data_dir}, "
        f"which is {actor.owner}). Grant it in the config with {grant}, or run it as {actor.owner}. "
        f"Nothing was changed. / `{command}` を拒否しました: この操作（{action}）にはロール {needed} が必要ですが、"
        f"OS ユーザー {actor.user} のロールは{' ' + has if actor.roles else 'ありません'}"
        f"（データディレクトリ {data_dir} の所有者は {actor.owner}）。"
        f"設定ファイルの {grant} で付与するか、{actor.owner} として実行してください。何も変更していません。"
    )
