from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from onshore.prove.signer import ReceiptError, Signer, b64url, b64url_decode, public_key_from_jwk, verify_receipt


def test_receipt_round_trip_through_jwks() -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    token = signer.receipt({"jti": "abc", "backend": {"jurisdiction": "JP"}, "data_class": "personal"})
    jwk = signer.jwks()["keys"][0]
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["alg"] == "EdDSA"
    claims = verify_receipt(token, {jwk["kid"]: public_key_from_jwk(jwk)})
    assert claims == {"jti": "abc", "backend": {"jurisdiction": "JP"}, "data_class": "personal"}


def test_altered_claims_fail() -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    header, payload, signature = signer.receipt({"backend": {"jurisdiction": "JP"}}).split(".")
    forged = b64url(b64url_decode(payload).replace(b"JP", b"US"))
    with pytest.raises(ReceiptError, match="does not verify"):
        verify_receipt(f"{header}.{forged}.{signature}", {signer.kid: signer.public_key})


def test_other_key_and_malformed_tokens_fail() -> None:
    signer, other = Signer(Ed25519PrivateKey.generate()), Signer(Ed25519PrivateKey.generate())
    token = signer.receipt({"a": 1})
    with pytest.raises(ReceiptError, match="unknown key id"):
        verify_receipt(token, {other.kid: other.public_key})
    with pytest.raises(ReceiptError, match="does not verify"):
        verify_receipt(token, {signer.kid: other.public_key})
    with pytest.raises(ReceiptError, match="three"):
        verify_receipt("abc", {})
    with pytest.raises(ReceiptError):
        verify_receipt("a.b.c", {})


def test_libsodium_signatures_are_the_bytes_openssl_gives_and_verify() -> None:
    key = Ed25519PrivateKey.generate()
    signer = Signer(key)
    for message in (b"", b"checkpoint 1", "受領".encode() * 300):
        signature = b64url_decode(signer.sign(message))
        assert signature == key.sign(message)  # Ed25519 is deterministic: one key, one signature
        key.public_key().verify(signature, message)
