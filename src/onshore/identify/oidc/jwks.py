"""An issuer's signing keys: parsing a JWKS document and deciding when to fetch it again. Pure.

The fetch itself is done by whoever owns the network (route/jwks_fetch.py, wired in app.py); this
module only says *when* (periodically, early on an unknown `kid` but at most once per interval, more
often while the IdP is failing) and whether cached keys may still be used (for a bounded time after
the last successful fetch; after that, tokens of this issuer fail closed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey, import_key

from onshore.identify.oidc.token import TokenRefused

MAX_JWKS_BYTES = 256 * 1024  # Entra ID's is ~10 KiB; a larger answer is a fault or an attack
MAX_KEYS = 64
_KEY_TYPES = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}  # no "oct": a JWKS never gives us a shared secret


class JwksError(Exception):
    """The JWKS document cannot be used (the cached keys stay in place)."""


def parse_jwks(body: bytes, algorithms: frozenset[str]) -> dict[str, Key]:
    """Public signing keys by `kid`. Keys we could never use are left out: symmetric or private
    ones, encryption keys, keys for algorithms not allowed, keys without a kid; a kid that appears
    twice is left out entirely (which key it means is ambiguous)."""
    if len(body) > MAX_JWKS_BYTES:
        raise JwksError(f"the JWKS is larger than {MAX_JWKS_BYTES} bytes")
    try:
        document = json.loads(body)
    except ValueError:
        raise JwksError("the JWKS is not JSON") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise JwksError("the JWKS has no 'keys' list")
    keys: dict[str, Key] = {}
    seen: set[str] = set()
    for entry in entries[:MAX_KEYS]:
        if not isinstance(entry, dict):
            continue
        kid, kty, alg = entry.get("kid"), entry.get("kty"), entry.get("alg")
        if not isinstance(kid, str) or not kid or kty not in _KEY_TYPES:
            continue
        if entry.get("use", "sig") != "sig" or "d" in entry or (alg is not None and alg not in algorithms):
            continue
        if kid in seen:
            keys.pop(kid, None)
            continue
        seen.add(kid)
        try:
            keys[kid] = import_key(entry, kty)
        except (JoseError, ValueError, TypeError):
            continue  # a malformed key is skipped, not fatal: the others may be fine
    if not keys:
        raise JwksError("the JWKS holds no usable signing key")
    return keys


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    every_seconds: float  # periodic fetch
    min_interval_seconds: float  # at most one fetch per this, whatever asks (unknown kids, failures)
    max_stale_seconds: float  # cached keys serve this long after the last successful fetch


class KeyCache:
    """The keys of one issuer, and when to fetch them next. `wake` is set by the refresher (an
    early fetch is wanted); `monotonic` is the clock (injected, so tests control time)."""

    def __init__(
        self, name: str, url: str, algorithms: frozenset[str], policy: RefreshPolicy, monotonic: Callable[[], float]
    ) -> None:
        self.name = name
        self.url = url  # from config only, never from a token
        self.algorithms = algorithms
        self.policy = policy
        self._monotonic = monotonic
        self._keys: dict[str, Key] = {}
        self.fetched_at: float | None = None  # last successful fetch
        self.attempted_at: float | None = None
        self.last_error: str | None = None
        self.refresh_wanted = False
        self.fetches = 0  # attempts started
        self.completed = 0  # attempts finished (installed or failed): what a waiting request watches
        self.wake: Callable[[], None] = lambda: None

    # --- the request path --------------------------------------------------------------------
    def key(self, kid: str) -> Key:
        now = self._monotonic()
        if self.fetched_at is None:
            self.want_refresh()
            raise TokenRefused(
                "jwks_unavailable",
                f"the signing keys of issuer '{self.name}' could not be fetched yet",
                refreshing=self,
            )
        if now - self.fetched_at > self.policy.max_stale_seconds:
            raise TokenRefused(
                "jwks_stale",
                f"the signing keys of issuer '{self.name}' could not be refreshed for over "
                f"{self.policy.max_stale_seconds:g} s (identity provider unreachable)",
            )
        key = self._keys.get(kid)
        if key is None:
            self.want_refresh()
            raise TokenRefused(
                "kid", f"key id not in the JWKS of issuer '{self.name}' (a refresh was requested)", refreshing=self
            )
        return key

    def want_refresh(self) -> None:
        if not self.refresh_wanted:
            self.refresh_wanted = True
            self.wake()

    # --- the refresher -----------------------------------------------------------------------
    def seconds_until_fetch(self) -> float:
        if self.attempted_at is None:
            return 0.0
        since = self._monotonic() - self.attempted_at
        if self.refresh_wanted or self.last_error is not None or self.fetched_at is None:
            # Wanted early, failing, or never fetched (a start-up fetch cut short): retry soon.
            return max(0.0, self.policy.min_interval_seconds - since)
        return max(0.0, self.policy.every_seconds - since)

    def attempting(self) -> None:
        self.attempted_at = self._monotonic()
        self.refresh_wanted = False
        self.fetches += 1

    def install(self, body: bytes) -> None:
        try:
            keys = parse_jwks(body, self.algorithms)
        except JwksError as exc:
            self.failed(str(exc))
            return
        self._keys = keys  # swapped in one step
        self.fetched_at = self._monotonic()
        self.last_error = None
        self.completed += 1

    def failed(self, error: str) -> None:
        self.last_error = error
        self.completed += 1

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)
