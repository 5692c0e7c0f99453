from __future__ import annotations

import pytest

from onshore.identify.authenticator import AuthError, KeyIndex
from onshore.identify.keys import KeyRecord, generate_key, hash_key


def record(tenant: str = "acme", revoked: float | None = None) -> tuple[str, KeyRecord]:
    new = generate_key()
    return new.plaintext, KeyRecord(new.key_id, "", tenant, "internal", ("chat",), 0.0, revoked, new.hash)


def test_keys_are_random_and_stored_as_hashes() -> None:
    a, b = generate_key(), generate_key()
    assert a.plaintext != b.plaintext
    assert a.hash == hash_key(a.plaintext) and a.plaintext not in a.hash
    assert a.plaintext.startswith(f"onsk_{a.key_id}_")
    assert len(a.plaintext) > 50


def test_authenticate() -> None:
    key, rec = record()
    index = KeyIndex([rec])
    principal = index.authenticate(f"Bearer {key}")
    assert (principal.tenant, principal.floor, principal.key_id) == ("acme", "internal", rec.key_id)
    assert principal.may_use("chat") and not principal.may_use("other")


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "Bearer wrong", "Bearer " + "x" * 1000])
def test_rejections(header: str | None) -> None:
    _, rec = record()
    with pytest.raises(AuthError):
        KeyIndex([rec]).authenticate(header)


def test_revoked_keys_are_not_indexed() -> None:
    key, rec = record(revoked=5.0)
    with pytest.raises(AuthError, match="revoked"):
        KeyIndex([rec]).authenticate(f"Bearer {key}")
