"""Console sign-in by OpenID Connect: authorization code flow with PKCE (RFC 7636, S256).

The browser goes to the IdP with a fresh state, nonce and code challenge; the callback's code is
exchanged at the token endpoint with the verifier (and the client secret, if any); the ID token is
checked by identify's verifier for that issuer (its JWKS cache, its header rules, signature, time),
with the console's client id as the audience, then its issuer, nonce and authorized party here. The
roles come from the issuer's claim mapping (identity.oidc.<name>.roles).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

import aiohttp

from onshore.console.sessions import PendingLogin
from onshore.identify.authenticator import AuthError
from onshore.identify.oidc.token import parse
from onshore.identify.oidc.verifier import IssuerVerifier

MAX_DOCUMENT_BYTES = 256 * 1024


class LoginRefused(Exception):
    """The sign-in failed; the message says which check, never a token or secret."""


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _acceptable_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1", "localhost"))


@dataclass(frozen=True, slots=True)
class SignedIn:
    actor: str  # oidc:<issuer>#<subject>, as the API names the same person
    display: str
    roles: frozenset[str]


@dataclass(frozen=True, slots=True)
class Endpoints:
    authorization: str
    token: str


class OidcLogin:
    def __init__(
        self,
        verifier: IssuerVerifier,
        client_id: str,
        client_secret: str | None,
        redirect_url: str,
        scopes: tuple[str, ...],
        token_auth: str,
        now: Callable[[], float],
    ) -> None:
        self.verifier = verifier
        self.issuer = verifier.rules.issuer
        self.client_id = client_id
        self._secret = client_secret
        self.redirect_url = redirect_url
        self.scopes = scopes
        self._token_auth = token_auth
        self._now = now
        self._endpoints: Endpoints | None = None

    async def endpoints(self, http: aiohttp.ClientSession) -> Endpoints:
        """From the issuer's discovery document (fetched once; its `issuer` must be ours exactly)."""
        if self._endpoints is None:
            document = await _get_json(http, self.issuer.rstrip("/") + "/.well-known/openid-configuration")
            if document.get("issuer") != self.issuer:
                raise LoginRefused("the discovery document names another issuer")
            authorization, token = document.get("authorization_endpoint"), document.get("token_endpoint")
            if not (isinstance(authorization, str) and isinstance(token, str)):
                raise LoginRefused("the discovery document names no authorization or token endpoint")
            if not (_acceptable_url(authorization) and _acceptable_url(token)):
                raise LoginRefused("the discovery document's endpoints are not https URLs")
            self._endpoints = Endpoints(authorization, token)
        return self._endpoints

    def authorization_url(self, endpoints: Endpoints, login: PendingLogin) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_url,
            "scope": " ".join(self.scopes),
            "state": login.state,
            "nonce": login.nonce,
            "code_challenge": code_challenge(login.verifier),
            "code_challenge_method": "S256",
        }
        separator = "&" if "?" in endpoints.authorization else "?"
        return endpoints.authorization + separator + urlencode(query)

    async def complete(
        self, http: aiohttp.ClientSession, login: PendingLogin, state: str, code: str, iss: str | None
    ) -> SignedIn:
        if not hmac.compare_digest(state.encode(), login.state.encode()):
            raise LoginRefused("the state does not match this browser's sign-in (check: state)")
        if iss is not None and iss != self.issuer:  # RFC 9207: an answer from another IdP (mix-up)
            raise LoginRefused("the answer comes from another issuer (check: iss)")
        endpoints = await self.endpoints(http)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_url,
            "code_verifier": login.verifier,
        }
        headers = {"Accept": "application/json"}
        if self._secret is not None and self._token_auth == "client_secret_basic":  # noqa: S105 - a method name
            # RFC 6749 section 2.3.1: each part form-encoded, then Basic.
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self._secret)}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            form["client_id"] = self.client_id
            if self._secret is not None:
                form["client_secret"] = self._secret
        answer = await _post_form(http, endpoints.token, form, headers)
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise LoginRefused("the token endpoint returned no ID token")
        return self.check_id_token(id_token, login)

    def check_id_token(self, id_token: str, login: PendingLogin) -> SignedIn:
        try:
            parsed = parse(id_token)
            if parsed.claims.get("iss") != self.issuer:
                raise LoginRefused("the ID token names another issuer (check: iss)")
            principal = self.verifier.verify(id_token, parsed, self._now())
        except AuthError as exc:
            raise LoginRefused(str(exc)) from None
        claims = parsed.claims
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), login.nonce.encode()):
            raise LoginRefused("the ID token was not issued for this sign-in (check: nonce)")
        azp = claims.get("azp")
        if azp is not None and azp != self.client_id:
            raise LoginRefused("the ID token was issued to another client (check: azp)")
        display = next(
            (str(claims[c]) for c in ("name", "preferred_username", "email") if isinstance(claims.get(c), str)),
            principal.key_id,
        )
        return SignedIn(principal.key_id, display, principal.roles)


async def _get_json(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    try:
        async with http.get(url, allow_redirects=False) as response:
            return await _document(response)
    except aiohttp.ClientError as exc:
        raise LoginRefused(f"the identity provider is unreachable ({type(exc).__name__})") from None


async def _post_form(
    http: aiohttp.ClientSession, url: str, form: dict[str, str], headers: dict[str, str]
) -> dict[str, Any]:
    try:
        async with http.post(url, data=form, headers=headers, allow_redirects=False) as response:
            return await _document(response)
    except aiohttp.ClientError as exc:
        raise LoginRefused(f"the identity provider is unreachable ({type(exc).__name__})") from None


async def _document(response: aiohttp.ClientResponse) -> dict[str, Any]:
    body = await response.content.read(MAX_DOCUMENT_BYTES + 1)
    if len(body) > MAX_DOCUMENT_BYTES:
        raise LoginRefused("the identity provider's answer is too large")
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if response.status != 200:
        error = document.get("error") if isinstance(document, dict) else None
        raise LoginRefused(
            f"the identity provider refused (HTTP {response.status}{', ' + str(error) if error else ''})"
        )
    if not isinstance(document, dict):
        raise LoginRefused("the identity provider's answer is not a JSON object")
    return document
