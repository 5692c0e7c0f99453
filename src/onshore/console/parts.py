"""What the console needs from the running gateway, as small interfaces app.py fills in. The console
never builds a stage itself: it reads the same policy, kill switch, key store and audit chain."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from onshore.decide.policy import Policy
from onshore.identify.ports import KeyStore
from onshore.identify.principal import Principal
from onshore.prove.chain import ChainHead
from onshore.prove.ports import AuditStore
from onshore.settings import Settings

_T = TypeVar("_T")


class Switches(Protocol):
    """The kill switch shared by every replica (store/redis_controls.py)."""

    async def disabled_backends(self) -> Mapping[str, Mapping[str, object]]: ...

    async def disable_backend(self, name: str, reason: str, actor: str, now: float) -> None: ...

    async def enable_backend(self, name: str, actor: str, now: float) -> bool: ...


class Store(KeyStore, AuditStore, Protocol):
    """The gateway's store (its key and audit ports), read and written on its own worker thread (see `run`)."""

    def close(self) -> None: ...


class Runner(Protocol):
    def __call__(self, fn: Callable[..., _T], /, *args: Any) -> Awaitable[_T]: ...


@dataclass(frozen=True, slots=True)
class ConsoleParts:
    settings: Settings
    policy: Policy
    store: Store
    run: Runner  # the store's worker: every blocking store call goes through it
    open_reader: Callable[[], Store]  # a separate connection for long reads (verify, export, reports)
    identify: Callable[[str], Principal]  # an API key -> its principal (roles from identity.api_key_roles)
    audit_append: Callable[[dict[str, Any]], Awaitable[object]]  # the chain writer (fails: nothing done)
    record_admin: Callable[[str, str, str, str | None, str], Awaitable[None]]  # the admin API's own record
    audit_head: Callable[[], ChainHead]
    public_keys: Mapping[str, Any]  # kid -> the gateway's Ed25519 public key (receipts, checkpoints)
    switches: Switches | None  # None without gateway.redis: no kill switch
    breaker_open: Callable[[str], bool]
    admin_key: str | None
