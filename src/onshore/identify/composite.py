"""One authenticator for every endpoint: an API key goes to the key index, a JWT to the OIDC verifier.

Same interface as KeyIndex (`authenticate`, `stale`), so the request path does not care which kind
of credential it was given.
"""

from __future__ import annotations

from onshore.identify.authenticator import AuthError, KeyIndex
from onshore.identify.oidc.token import looks_like_jwt
from onshore.identify.oidc.verifier import OidcVerifier
from onshore.identify.principal import Principal


class Authenticator:
    __slots__ = ("_keys", "_tokens")

    def __init__(self, keys: KeyIndex, tokens: OidcVerifier | None) -> None:
        self._keys = keys
        self._tokens = tokens

    def authenticate(self, authorization: str | None) -> Principal:
        if authorization:
            scheme, _, credential = authorization.partition(" ")
            credential = credential.strip()
            if scheme.lower() == "bearer" and looks_like_jwt(credential):
                if self._tokens is None:
                    raise AuthError("Bearer tokens (JWT) are not enabled here (identity.oidc): use an API key.")
                return self._tokens.verify(credential)  # the key store's health does not matter to a JWT
        if self._keys.stale:
            raise KeysUnavailable("API keys cannot be checked right now (key store unreadable); retry later.")
        return self._keys.authenticate(authorization)


class KeysUnavailable(AuthError):
    """The key index is too old to trust (the key store has been unreadable too long): fail closed."""
