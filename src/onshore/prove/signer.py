"""Ed25519 signing: compact JWS receipts and checkpoint signatures. Pure computation, no I/O."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from nacl.bindings import crypto_sign, crypto_sign_seed_keypair

RECEIPT_TYPE = "onshore-receipt+jws"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_jwk(public: Ed25519PublicKey) -> dict[str, str]:
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw), "kid": key_id(public), "alg": "EdDSA", "use": "sig"}


def public_key_from_jwk(jwk: dict[str, Any]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise ValueError("not an Ed25519 OKP key")
    return Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))


class Signer:
    """Holds the gateway's private key; the JWS header is encoded once at start-up.

    Signing runs on every request (one receipt; two for a stream), so it goes through libsodium
    (PyNaCl): 278k instructions a signature against 470k through cryptography's OpenSSL, whose
    per-call set-up is most of its cost. Ed25519 is deterministic, so both give the same bytes: the
    signer checks that once here, and verification (cryptography) is unchanged."""

    __slots__ = ("_encoder", "_header", "_secret", "kid", "public_key")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self.public_key = private_key.public_key()
        self.kid = key_id(self.public_key)
        self._secret = _libsodium_secret(private_key)
        self._encoder = msgspec.json.Encoder(order="sorted")
        header = {"alg": "EdDSA", "kid": self.kid, "typ": RECEIPT_TYPE}
        self._header = b64url(self._encoder.encode(header))

    def sign(self, message: bytes) -> str:
        return b64url(crypto_sign(message, self._secret)[:64])

    def receipt(self, claims: dict[str, Any]) -> str:
        signing_input = self._header + "." + b64url(self._encoder.encode(claims))
        return signing_input + "." + b64url(crypto_sign(signing_input.encode("ascii"), self._secret)[:64])

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [public_jwk(self.public_key)]}


def _libsodium_secret(private_key: Ed25519PrivateKey) -> bytes:
    """libsodium's 64-byte secret key for `private_key`, once its signature is checked to match."""
    seed = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public, secret = crypto_sign_seed_keypair(seed)
    probe = b"onshore signer self-check"
    if public != private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) or (
        crypto_sign(probe, secret)[:64] != private_key.sign(probe)
    ):
        raise RuntimeError("libsodium and OpenSSL disagree on this Ed25519 key's signature")
    return secret


class ReceiptError(Exception):
    pass


def verify_receipt(token: str, keys: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    """Verify a compact JWS receipt against public keys by kid; return its claims."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise ReceiptError("not a compact JWS (expected three dot-separated parts)")
    try:
        header = msgspec.json.decode(b64url_decode(parts[0]))
        claims = msgspec.json.decode(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, msgspec.DecodeError) as exc:
        raise ReceiptError(f"malformed receipt: {exc}") from None
    if not isinstance(header, dict) or header.get("alg") != "EdDSA":
        raise ReceiptError("unsupported algorithm: only EdDSA receipts are accepted")
    public = keys.get(str(header.get("kid")))
    if public is None:
        raise ReceiptError(f"unknown key id {header.get('kid')!r}")
    try:
        public.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
    except InvalidSignature:
        raise ReceiptError("signature does not verify: the receipt was altered or signed by another key") from None
    if not isinstance(claims, dict):
        raise ReceiptError("receipt payload is not a JSON object")
    return claims
