"""A report signed so that a reader can check it was not edited: a JWS (RFC 7515, EdDSA) with a
detached payload (Appendix F) over the report's RFC 8785 canonical JSON. Pure computation.

To check one without Onshore: JCS-canonicalise `report`, base64url it, put it between the two dots
of `jws`, and verify the EdDSA signature with the gateway's public key (its /.well-known/jwks.json,
or `onshore audit export --jwks`) whose kid the JWS header names.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from onshore.prove.chain import canonical
from onshore.prove.signer import Signer, b64url, b64url_decode

SIGNED_TYPE = "onshore-signed-report"
JWS_TYPE = "onshore-report+jws"


class ReportSignatureError(Exception):
    pass


def _protected(kid: str) -> str:
    return b64url(canonical({"alg": "EdDSA", "kid": kid, "typ": JWS_TYPE}))


def sign_report(document: dict[str, Any], signer: Signer) -> dict[str, Any]:
    payload = canonical(document)
    protected = _protected(signer.kid)
    signature = signer.sign(f"{protected}.{b64url(payload)}".encode("ascii"))
    return {
        "type": SIGNED_TYPE,
        "report": document,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "kid": signer.kid,
        "jws": f"{protected}..{signature}",
    }


def verify_report(envelope: Any, keys: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    """The report inside `envelope` if its signature verifies under `keys` (by kid); else
    ReportSignatureError saying what failed."""
    if not isinstance(envelope, dict) or envelope.get("type") != SIGNED_TYPE:
        raise ReportSignatureError(f"not a signed Onshore report (expected type {SIGNED_TYPE!r})")
    document, jws = envelope.get("report"), envelope.get("jws")
    if not isinstance(document, dict) or not isinstance(jws, str):
        raise ReportSignatureError("the signed report has no 'report' object or no 'jws' string")
    parts = jws.split(".")
    if len(parts) != 3 or parts[1]:
        raise ReportSignatureError("jws is not a compact JWS with a detached payload (header..signature)")
    try:
        header = msgspec.json.decode(b64url_decode(parts[0]))
        signature = b64url_decode(parts[2])
    except (ValueError, msgspec.DecodeError) as exc:
        raise ReportSignatureError(f"malformed jws: {exc}") from None
    if not isinstance(header, dict) or header.get("alg") != "EdDSA" or header.get("typ") != JWS_TYPE:
        raise ReportSignatureError(f"unsupported jws header: only EdDSA {JWS_TYPE} is accepted")
    public = keys.get(str(header.get("kid")))
    if public is None:
        raise ReportSignatureError(f"unknown key id {header.get('kid')!r}: not one of the keys given")
    try:
        payload = canonical(document)
    except TypeError as exc:
        raise ReportSignatureError(f"the report is not plain JSON: {exc}") from None
    try:
        public.verify(signature, f"{parts[0]}.{b64url(payload)}".encode("ascii"))
    except InvalidSignature:
        raise ReportSignatureError(
            "signature does not verify: the report was edited after signing, or signed by another key"
        ) from None
    if envelope.get("sha256") != hashlib.sha256(payload).hexdigest():
        raise ReportSignatureError("the stated sha256 does not match the report")
    return document
