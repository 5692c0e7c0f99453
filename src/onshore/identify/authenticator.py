"""Bearer-token authentication against an in-memory index of active key hashes.

The index is rebuilt from the key store whenever its revision changes (see app.py), so a revoked
key stops working within the refresh interval without a database round trip per request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from onshore.identify.keys import KeyRecord, hash_key
from onshore.identify.principal import Principal


class AuthError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_MAX_KEY_LENGTH = 256


class KeyIndex:
    __slots__ = ("_by_hash", "_roles", "stale")

    def __init__(self, records: Iterable[KeyRecord] = (), roles: Mapping[str, frozenset[str]] | None = None) -> None:
        self._by_hash: dict[str, Principal] = {}
        self._roles = roles or {}  # key id -> admin-side roles (from config: identity.api_key_roles)
        self.stale = False  # set when the key store has been unreadable too long
        self.replace(records)

    def replace(self, records: Iterable[KeyRecord]) -> None:
        by_hash: dict[str, Principal] = {}
        for record in records:
            if record.revoked_at is not None:
                continue
            models = None if record.models is None else frozenset(record.models)
            roles = self._roles.get(record.key_id, frozenset())
            by_hash[record.hash] = Principal(record.key_id, record.tenant, record.floor, models, roles)
        self._by_hash = by_hash  # swap in one step: readers never see a half-built index

    def __len__(self) -> int:
        return len(self._by_hash)

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise AuthError("Missing API key: send 'Authorization: Bearer <key>'.")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("Malformed Authorization header: expected 'Bearer <key>'.")
        if len(token) > _MAX_KEY_LENGTH:
            raise AuthError("Invalid API key.")
        # Looking up by SHA-256 of the key means lookup timing reveals nothing useful about stored keys.
        principal = self._by_hash.get(hash_key(token))
        if principal is None:
            raise AuthError("Invalid or revoked API key.")
        return principal
