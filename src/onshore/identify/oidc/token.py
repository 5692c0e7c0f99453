"""The shape of a bearer JWT, checked before any key is looked at. Pure.

Only the compact JWS form (three base64url segments) is accepted. Everything a token could use to
choose its own key (`jku`, `x5u`, `jwk`, `x5c`), extensions we would have to understand (`crit`),
unsigned tokens (`alg: none`) and symmetric algorithms (HS*: the RS/HS key-confusion attack) are
refused here, each with the name of the check, so the signature step only ever sees a token whose
key comes from the issuer's configured JWKS.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

from onshore.identify.authenticator import AuthError

MAX_TOKEN_BYTES = 16 * 1024
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")
# Header parameters that name or carry a key, or demand extensions: the key must come from config.
FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c", "crit")
# What could sign a token; `none` and HS* are never accepted, whatever the config says.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"}
)


class TokenRefused(AuthError):
    """A bearer token failed a check. `check` names it; the message never contains the token.
    `refreshing` is the key set a refresh was just asked of (an unknown `kid`): the caller may wait
    for that fetch and try once more, so the first token signed with a rotated key is not refused."""

    def __init__(self, check: str, detail: str, *, refreshing: KeySet | None = None) -> None:
        super().__init__(f"Bearer token refused (check: {check}): {detail}")
        self.check = check
        self.refreshing = refreshing


class KeySet(Protocol):
    """What a waiter needs to know of an issuer's key cache (jwks.KeyCache)."""

    name: str
    completed: int  # fetch attempts finished, successful or not

    def seconds_until_fetch(self) -> float: ...


@dataclass(frozen=True, slots=True)
class CompactToken:
    header: dict[str, Any]
    claims: dict[str, Any]
    alg: str
    kid: str


def looks_like_jwt(token: str) -> bool:
    """Whether a bearer credential is meant as a JWT (any JOSE form), not an API key: dispatch only,
    the real checks are in `parse`. API keys (`onsk_...`) contain no dots and never start with '{'."""
    return token.startswith(("eyJ", "{")) or token.count(".") in (2, 4)


def _json_segment(segment: str, what: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        raise TokenRefused("format", f"the {what} is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise TokenRefused("format", f"the {what} is not a JSON object")
    return value


def parse(token: str) -> CompactToken:
    """Decode (not verify) a compact JWS and apply the header rules."""
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenRefused("size", f"longer than {MAX_TOKEN_BYTES} bytes")
    if token.startswith("{"):
        raise TokenRefused("format", "JSON serialisation is not accepted: send the compact form")
    segments = token.split(".")
    if len(segments) == 5:
        raise TokenRefused("format", "encrypted tokens (JWE) are not accepted: send a signed JWT")
    if len(segments) != 3:
        raise TokenRefused("format", "not a compact JWS (three base64url segments)")
    header_segment, payload_segment, signature = segments
    if not signature:
        raise TokenRefused("alg", "unsigned tokens are never accepted")
    if not all(_SEGMENT.match(s) for s in segments):
        raise TokenRefused("format", "segments must be base64url without padding")
    header = _json_segment(header_segment, "header")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise TokenRefused("alg", "the header names no algorithm")
    if alg.lower() == "none":
        raise TokenRefused("alg", "'none' is never accepted")
    if alg not in ASYMMETRIC_ALGORITHMS:
        raise TokenRefused("alg", f"{alg!r} is not an asymmetric signature algorithm")
    for name in FORBIDDEN_HEADERS:
        if name in header:
            raise TokenRefused(f"header_{name}", f"tokens carrying '{name}' are refused: keys come only from the JWKS")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenRefused("kid", "the header names no key id (kid)")
    if header.get("b64", True) is not True:
        raise TokenRefused("format", "unencoded payloads (b64: false) are not accepted")
    return CompactToken(header, _json_segment(payload_segment, "payload"), alg, kid)
