"""Responses API conversation state, kept by Onshore in its own store (never at the provider: the
upstream always gets `store: false`).

A kept turn is the whole conversation up to it, as chat messages with the original values (what the
client sent and what it was answered, restored), the data class it was decided under, and the
Response object the client received. It is sealed here, before any store sees it: AES-256-GCM under
the gateway's responses key (data_dir/responses.key), a fresh random nonce per turn, and the turn's
id, owner and expiry as associated data, so a row moved to another owner or given a longer life in
the database no longer opens. A store holds ids, owners and times in the clear, nothing else.

Ids: a turn's Response id is `resp_` + the audit record id of the request that produced it (a
UUIDv7), so an auditor goes from one to the other by the prefix alone (`request_id_of`).

Owner: the tenant and the principal as the audit record names them (an API key's id, or
`oidc:<issuer>#<subject>`). Anyone else, and anyone after the retention period, finds nothing: the
same answer as for an id that never existed. Reads and deletes through GET/DELETE
/v1/responses/{id} are written to the audit chain (kind "stored_response"), by whom, before the
caller gets the answer.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from typing import Any

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from onshore.identify.principal import Principal
from onshore.prove.record import stored_response_entry
from onshore.prove.writer import AuditWriter
from onshore.refusal import Kind, Refusal
from onshore.service.ports import ResponseStore

log = logging.getLogger("onshore.responses")
RESPONSE_PREFIX = "resp_"
_VERSION = b"\x01"
_KEY_ID_BYTES = 8
_NONCE_BYTES = 12
_HEADER = len(_VERSION) + _KEY_ID_BYTES + _NONCE_BYTES


def response_id_for(request_id: str) -> str:
    """The Response id of the request recorded under `request_id`."""
    return RESPONSE_PREFIX + request_id


def request_id_of(response_id: str) -> str | None:
    """The audit record id behind a Response id (None: not one of Onshore's)."""
    return response_id.removeprefix(RESPONSE_PREFIX) if response_id.startswith(RESPONSE_PREFIX) else None


class WrongKey(Exception):
    """The turn was sealed under another responses key (another replica's, or a replaced key file)."""


class Sealer:
    """AES-256-GCM with a key id in every sealed value, so a turn sealed under another key is told
    apart from a tampered one."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"onshore responses key id\x00" + key).digest()[:_KEY_ID_BYTES]

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + self.key_id + nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes | None:
        """The plaintext; None if it was altered or sealed for another context. WrongKey: another key's."""
        if len(sealed) <= _HEADER or sealed[:1] != _VERSION:
            return None
        if sealed[1 : 1 + _KEY_ID_BYTES] != self.key_id:
            raise WrongKey
        nonce = sealed[1 + _KEY_ID_BYTES : _HEADER]
        try:
            return self._aead.decrypt(nonce, sealed[_HEADER:], context)
        except InvalidTag:
            return None


class Turn(msgspec.Struct, frozen=True):
    """One kept turn, as sealed."""

    data_class: str  # the class this turn was decided under: a later turn is decided under at least it
    messages: list[dict[str, Any]]  # the conversation so far as chat messages (no instructions), originals
    response: dict[str, Any]  # the Response object as the client received it
    input_items: list[dict[str, Any]] = []  # this turn's input as items (GET .../input_items)


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Turn).decode


def _context(response_id: str, tenant: str, owner: str, expires_at: float) -> bytes:
    return "\x00".join((response_id, tenant, owner, repr(expires_at))).encode()


def _unavailable(exc: Exception) -> Refusal:
    log.warning("response store failed: %s", type(exc).__name__)
    return Refusal(Kind.RESPONSES_STORE_UNAVAILABLE, "The store of kept Responses turns is unavailable just now.")


class Conversations:
    """Keep, find and delete turns for their owner; `now` is the gateway's clock."""

    def __init__(
        self,
        store: ResponseStore,
        sealer: Sealer,
        retention_seconds: float,
        audit: AuditWriter,
        now: Callable[[], float],
        new_id: Callable[[float], str],
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._retention = retention_seconds
        self._audit = audit
        self._now = now
        self._new_id = new_id

    async def keep(self, response_id: str, tenant: str, owner: str, turn: Turn) -> None:
        """Seal and store a turn; a Refusal if the store cannot take it."""
        now = self._now()
        expires_at = now + self._retention
        sealed = self._sealer.seal(_encode(turn), _context(response_id, tenant, owner, expires_at))
        try:
            await self._store.put(response_id, tenant, owner, now, expires_at, sealed)
        except Exception as exc:  # noqa: BLE001 - any store failure is "unavailable", never silence
            raise _unavailable(exc) from None

    async def find(self, response_id: str, principal: Principal) -> tuple[Turn, int] | None:
        """The caller's live turn and its plaintext size, or None (absent, expired or someone else's)."""
        tenant, owner = principal.tenant, principal.key_id
        try:
            found = await self._store.get(response_id, tenant, owner, self._now())
        except Exception as exc:  # noqa: BLE001
            raise _unavailable(exc) from None
        if found is None:
            return None
        sealed, expires_at = found
        try:
            plaintext = self._sealer.open(sealed, _context(response_id, tenant, owner, expires_at))
        except WrongKey:
            log.warning("stored response %s is sealed under another responses key: not readable here", response_id)
            return None
        if plaintext is None:
            log.warning("stored response %s does not open: altered in the store", response_id)
            return None
        return _decode(plaintext), len(plaintext)

    async def read(self, response_id: str, principal: Principal, action: str = "read") -> Turn | None:
        """The owner's kept turn, the read recorded first (None: not found). `action` as recorded:
        "read" (the Response) or "read_input_items"."""
        found = await self.find(response_id, principal)
        await self._record(action, response_id, principal, "ok" if found else "not_found")
        return None if found is None else found[0]

    async def delete(self, response_id: str, principal: Principal) -> bool:
        """Delete the owner's turn, recorded before it takes effect; False: there was none to delete."""
        found = await self.find(response_id, principal)
        await self._record("delete", response_id, principal, "requested" if found else "not_found")
        if found is None:
            return False
        try:
            return await self._store.delete(response_id, principal.tenant, principal.key_id, self._now())
        except Exception as exc:  # noqa: BLE001
            raise _unavailable(exc) from None

    async def purge(self) -> int:
        """Delete every expired turn (run periodically by app.py)."""
        return await self._store.purge(self._now())

    async def _record(self, action: str, response_id: str, principal: Principal, outcome: str) -> None:
        now = self._now()
        await self._audit.append(
            stored_response_entry(
                self._new_id(now), now, action, response_id, principal.tenant, principal.key_id, outcome
            )
        )
