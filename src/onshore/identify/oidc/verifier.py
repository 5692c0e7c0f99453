"""Bearer JWT verification: our one wrapper over the JOSE library (joserfc), with our rules.

In order: the token's shape and header (token.py: size, compact form, no `none`/HS*, no
`jku`/`x5u`/`jwk`/`x5c`/`crit`, a `kid`); the issuer (`iss` is one string, matched exactly against
the configured issuers: a token never picks its issuer's keys, the config does); the algorithm the
issuer allows; the key, from that issuer's cached JWKS only (jwks.py); the signature (joserfc,
which also checks that the key's type and `alg` fit the algorithm); time (`exp` required, `nbf`,
`iat`, with the configured leeway); the audience; then the claim mapping (claims.py). The caller is
keyed by (issuer, subject). Every refusal names its check and never contains the token.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError

from onshore.identify.oidc.claims import ClaimMapping, map_claims
from onshore.identify.oidc.jwks import KeyCache
from onshore.identify.oidc.token import CompactToken, TokenRefused, parse
from onshore.identify.principal import Principal, oidc_principal_id


@dataclass(frozen=True, slots=True)
class IssuerRules:
    name: str  # the config's name for this issuer (messages, readiness)
    issuer: str  # exact `iss`
    audiences: frozenset[str]  # the token's `aud` must contain one of these
    algorithms: frozenset[str]
    leeway_seconds: float


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenRefused(name, f"'{name}' is not a number")
    return float(value)


class IssuerVerifier:
    """Verifies the tokens of one issuer, with its keys and its claim mapping."""

    def __init__(self, rules: IssuerRules, keys: KeyCache, mapping: ClaimMapping) -> None:
        self.rules = rules
        self.keys = keys
        self.mapping = mapping
        # strict_check_header off: our own header rules (token.py) already ran; this registry only
        # holds the algorithms this issuer allows.
        self._registry = jws.JWSRegistry(algorithms=sorted(rules.algorithms), strict_check_header=False)

    def verify(self, token: str, parsed: CompactToken, now: float) -> Principal:
        rules = self.rules
        if parsed.alg not in rules.algorithms:
            raise TokenRefused("alg", f"{parsed.alg} is not allowed for issuer '{rules.name}'")
        key = self.keys.key(parsed.kid)
        try:
            jws.deserialize_compact(token, key, registry=self._registry)
        except BadSignatureError:
            raise TokenRefused("signature", "the signature does not verify with the issuer's key") from None
        except JoseError as exc:  # the key does not fit the algorithm (type or alg), or a malformed part
            raise TokenRefused("signature", f"cannot be verified with the issuer's key ({exc.error})") from None
        self.check_time(parsed.claims, now)
        self._check_audience(parsed.claims)
        identity = map_claims(parsed.claims, self.mapping)
        return Principal(
            oidc_principal_id(rules.issuer, identity.subject),
            identity.tenant,
            identity.floor,
            identity.models,
            identity.roles,
        )

    def check_time(self, claims: dict[str, Any], now: float) -> None:
        leeway = self.rules.leeway_seconds
        exp = _number(claims, "exp")
        if exp is None:
            raise TokenRefused("exp", "the token has no expiry ('exp')")
        if now > exp + leeway:
            raise TokenRefused("exp", "the token has expired")
        nbf = _number(claims, "nbf")
        if nbf is not None and now + leeway < nbf:
            raise TokenRefused("nbf", "the token is not valid yet")
        iat = _number(claims, "iat")
        if iat is not None and now + leeway < iat:
            raise TokenRefused("iat", "the token was issued in the future")

    def _check_audience(self, claims: dict[str, Any]) -> None:
        aud = claims.get("aud")
        if isinstance(aud, str):
            audiences = {aud}
        elif isinstance(aud, list):
            audiences = {a for a in aud if isinstance(a, str)}
        else:
            audiences = set()
        if not audiences & self.rules.audiences:
            raise TokenRefused("aud", "the token was not issued for this gateway (audience)")


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token that passed every check once: what must be re-checked on each use, and who it is."""

    issuer: IssuerVerifier
    kid: str  # its key must still be in the issuer's (fresh enough) JWKS: a withdrawn key ends it
    key: object  # the very key it verified with: other key material under the same kid re-verifies
    exp: float
    nbf: float | None
    iat: float | None
    principal: Principal
    not_before: float  # now within [not_before, expires] passes check_time (leeway included)
    expires: float


VERIFIED_CACHE_SIZE = 4096  # distinct tokens remembered; a client reuses one token for its lifetime


class OidcVerifier:
    """Every configured issuer; picks one by the token's exact `iss`.

    A token that verified is remembered by its SHA-256 (never the token itself), so the signature
    check (~50 µs for RS256) runs once per token rather than once per request. Each use still checks
    what can change: its key is still published and the JWKS not stale (KeyCache.key), and the time
    claims against now, with the same leeway."""

    def __init__(self, issuers: Iterable[IssuerVerifier], now: Callable[[], float]) -> None:
        self.issuers = {v.rules.issuer: v for v in issuers}
        self._now = now
        self._verified: dict[bytes, _Verified] = {}

    def verify(self, token: str) -> Principal:
        digest = hashlib.sha256(token.encode()).digest()
        known = self._verified.get(digest)
        if known is not None:
            # A withdrawn key or a stale JWKS refuses here, as for a new token.
            if known.issuer.keys.key(known.kid) is known.key:
                now = self._now()
                if known.not_before <= now <= known.expires:  # the usual case: no dict, no claim parsing
                    return known.principal
                known.issuer.check_time({"exp": known.exp, "nbf": known.nbf, "iat": known.iat}, now)
                return known.principal
            del self._verified[digest]  # new key material under that kid: verify from scratch
        parsed = parse(token)
        iss = parsed.claims.get("iss")
        if isinstance(iss, list):
            raise TokenRefused("iss", "the issuer must be one string, not a list")
        if not isinstance(iss, str):
            raise TokenRefused("iss", "the token names no issuer")
        issuer = self.issuers.get(iss)
        if issuer is None:
            raise TokenRefused("iss", "the token's issuer is not configured on this gateway")
        principal = issuer.verify(token, parsed, self._now())
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            del self._verified[next(iter(self._verified))]  # the oldest first
        claims = parsed.claims
        key = issuer.keys.key(parsed.kid)  # the key verify() just used (nothing ran in between)
        exp = float(claims["exp"])  # verify() refused a token without a numeric exp
        nbf, iat = _number(claims, "nbf"), _number(claims, "iat")
        leeway = issuer.rules.leeway_seconds
        not_before = max(nbf if nbf is not None else -math.inf, iat if iat is not None else -math.inf) - leeway
        self._verified[digest] = _Verified(
            issuer, parsed.kid, key, exp, nbf, iat, principal, not_before=not_before, expires=exp + leeway
        )
        return principal
