"""API keys: random, shown once, stored only as SHA-256 hashes.

A key looks like `onsk_<id>_<secret>`. The id is not secret (it names the key in audit records and
listings); the secret holds 256 random bits, so a fast hash is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass

PREFIX = "onsk_"


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    plaintext: str  # shown to the operator once, never stored
    hash: str


@dataclass(frozen=True, slots=True)
class KeyRecord:
    key_id: str
    name: str
    tenant: str
    floor: str  # data-class floor: requests are at least this sensitive
    models: tuple[str, ...] | None  # None: every model the tenant's policy allows
    created_at: float
    revoked_at: float | None
    hash: str


KeyRow = tuple[str, str, str, str, str | None, float, float | None, str]


def key_row(record: KeyRecord) -> KeyRow:
    """A key record as the column values every store writes (models as a JSON list, or NULL)."""
    models = None if record.models is None else json.dumps(list(record.models))
    return (
        record.key_id,
        record.name,
        record.tenant,
        record.floor,
        models,
        record.created_at,
        record.revoked_at,
        record.hash,
    )


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()


def generate_key() -> NewKey:
    key_id = secrets.token_hex(6)
    plaintext = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return NewKey(key_id=key_id, plaintext=plaintext, hash=hash_key(plaintext))
