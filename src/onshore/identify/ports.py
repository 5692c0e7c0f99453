"""The port the identify stage reads API keys through; a store implements it (sqlite, postgres, memory).

Blocking methods: the gateway calls them on the store's own thread (its worker), the CLI directly.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from onshore.identify.keys import KeyRecord


@runtime_checkable
class KeyStore(Protocol):
    def add_key(self, record: KeyRecord) -> None:
        """Store a new key; raises if its id or hash is already stored (the revision is then unchanged)."""
        ...

    def revoke_key(self, key_id: str, now: float) -> bool:
        """Mark a key revoked at `now`; False if there is no such key or it was already revoked."""
        ...

    def list_keys(self) -> list[KeyRecord]:
        """Every key, revoked ones included, oldest first."""
        ...

    def keys_revision(self) -> int:
        """A number that changes whenever a key is added or revoked: the refresher reloads on a change."""
        ...
