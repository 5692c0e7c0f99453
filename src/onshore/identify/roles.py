"""Roles for the admin side, and what each may do. Pure: the admin API, the console and the CLI ask
`permits` (or `refusal`).

`admin` changes configuration, the kill switch and keys; `operator` runs the kill switch and reads
backends; `auditor` only reads (audit, export, reports, the key list). Anything not listed is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Role = Literal["admin", "operator", "auditor"]
ROLES: tuple[Role, ...] = ("admin", "operator", "auditor")

Action = Literal[
    "backends.read", "backends.switch", "audit.read", "audit.export", "keys.read", "keys.write", "config.write"
]

_PERMISSIONS: dict[Action, frozenset[Role]] = {
    "backends.read": frozenset({"admin", "operator", "auditor"}),
    "backends.switch": frozenset({"admin", "operator"}),
    "audit.read": frozenset({"admin", "auditor"}),
    "audit.export": frozenset({"admin", "auditor"}),
    "keys.read": frozenset({"admin", "auditor"}),  # ids, tenants, floors: never a secret
    "keys.write": frozenset({"admin"}),
    "config.write": frozenset({"admin"}),  # also the database schema (`onshore db upgrade`)
}


def permits(roles: Iterable[str], action: Action) -> bool:
    allowed = _PERMISSIONS[action]
    return any(role in allowed for role in roles)


def needed_for(action: Action) -> tuple[Role, ...]:
    """The roles that may perform `action`, in a fixed order (for refusal messages)."""
    return tuple(role for role in ROLES if role in _PERMISSIONS[action])


def granting(roles: Iterable[str], action: Action) -> Role | None:
    """The role that lets a caller holding `roles` perform `action` (the strongest, for the audit
    record), or None."""
    held = set(roles)
    return next((role for role in needed_for(action) if role in held), None)


def refusal(roles: Iterable[str], action: Action) -> str | None:
    """Why a caller with `roles` may not perform `action` (None: it may)."""
    if permits(roles, action):
        return None
    return f"This admin action ({action}) needs the role {' or '.join(needed_for(action))}."
