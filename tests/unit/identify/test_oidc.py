"""The OIDC verifier with locally made keys and tokens: shape, keys, signature, time, audience, claims."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from joserfc import jwk, jws

from onshore.decide.classes import DATA_CLASSES
from onshore.identify.authenticator import AuthError, KeyIndex
from onshore.identify.composite import Authenticator, KeysUnavailable
from onshore.identify.keys import KeyRecord, generate_key
from onshore.identify.oidc.claims import ClaimMapping, Requirement, ValueMap, claim_values, map_claims
from onshore.identify.oidc.jwks import JwksError, KeyCache, RefreshPolicy, parse_jwks
from onshore.identify.oidc.token import MAX_TOKEN_BYTES, TokenRefused, looks_like_jwt, parse
from onshore.identify.oidc.verifier import IssuerRules, IssuerVerifier, OidcVerifier
from onshore.identify.roles import permits, refusal

ISS = "https://login.microsoftonline.com/tid-a/v2.0"
NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def rsa(kid: str) -> jwk.RSAKey:
    return jwk.RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})


KEY = rsa("k1")
FORGER = rsa("made-up")  # RSA key generation is slow: one forger key for every test
EC_KEY = jwk.ECKey.generate_key("P-256", parameters={"kid": "e1", "alg": "ES256"})


def jwks_body(*keys: jwk.Key, extra: list[Any] | None = None) -> bytes:
    return json.dumps({"keys": [k.as_dict(private=False) for k in keys] + (extra or [])}).encode()


def token(claims: dict[str, Any] | None = None, key: jwk.Key = KEY, **header: Any) -> str:
    body = {
        "iss": ISS,
        "aud": "api://onshore",
        "exp": NOW + 300,
        "iat": NOW,
        "oid": "o-1",
        "tid": "tid-a",
        **(claims or {}),
    }
    body = {k: v for k, v in body.items() if v is not None}
    alg = "ES256" if isinstance(key, jwk.ECKey) else "RS256"
    return jws.serialize_compact({"alg": alg, "kid": key.kid, **header}, json.dumps(body), key, algorithms=[alg])


MAPPING = ClaimMapping(
    subject=("oid",),
    classes=DATA_CLASSES,
    tenant=ValueMap("tid", {"tid-a": "acme", "tid-b": "globex"}),
    floor_default="internal",
    floor=ValueMap("groups", {"g-conf": "confidential", "g-personal": "personal"}),
    models=ValueMap("roles", {"Chat": ("chat",), "Embed": ("embed",)}),
    roles=ValueMap("roles", {"Admin": "admin"}),
    entra_overage=True,
)


def verifier(clock: Clock | None = None, mapping: ClaimMapping = MAPPING) -> tuple[OidcVerifier, KeyCache]:
    mono = clock or Clock()
    algorithms = frozenset({"RS256", "ES256"})
    cache = KeyCache("entra", "https://x/keys", algorithms, RefreshPolicy(3600, 30, 600), mono)
    cache.attempting()
    cache.install(jwks_body(KEY, EC_KEY))
    rules = IssuerRules("entra", ISS, frozenset({"api://onshore"}), algorithms, 30)
    return OidcVerifier([IssuerVerifier(rules, cache, mapping)], lambda: NOW), cache


def refused(v: OidcVerifier, raw: str) -> str:
    with pytest.raises(TokenRefused) as info:
        v.verify(raw)
    assert raw not in info.value.message
    return info.value.check


def test_a_valid_token_names_issuer_and_subject() -> None:
    v, _ = verifier()
    p = v.verify(token({"roles": ["Chat", "Admin"], "groups": ["g-conf"]}))
    assert p.key_id == f"oidc:{ISS}#o-1"
    assert (p.tenant, p.floor, p.models, p.roles) == ("acme", "confidential", frozenset({"chat"}), frozenset({"admin"}))
    assert v.verify(token(key=EC_KEY)).tenant == "acme"


@pytest.mark.parametrize(
    ("claims", "check"),
    [
        ({"exp": NOW - 31}, "exp"),
        ({"exp": None}, "exp"),
        ({"exp": "soon"}, "exp"),
        ({"exp": True}, "exp"),
        ({"nbf": NOW + 31}, "nbf"),
        ({"iat": NOW + 31}, "iat"),
        ({"aud": "api://other"}, "aud"),
        ({"aud": ["api://other", 5]}, "aud"),
        ({"aud": None}, "aud"),
        ({"iss": [ISS]}, "iss"),
        ({"iss": ISS + "/"}, "iss"),
        ({"iss": None}, "iss"),
        ({"oid": None}, "subject"),
        ({"tid": "tid-z"}, "tenant"),
        ({"tid": ["tid-a", "tid-b"]}, "tenant"),
        ({"_claim_names": {"groups": "src1"}}, "claims_overage"),
        ({"hasgroups": True}, "claims_overage"),
    ],
)
def test_claim_checks(claims: dict[str, Any], check: str) -> None:
    v, _ = verifier()
    assert refused(v, token(claims)) == check


def test_leeway_is_honoured() -> None:
    v, _ = verifier()
    assert v.verify(token({"exp": NOW - 29, "nbf": NOW + 29, "iat": NOW + 29})).tenant == "acme"
    assert v.verify(token({"aud": ["api://other", "api://onshore"]})).tenant == "acme"


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("header", "check"),
    [
        ({"alg": "none"}, "alg"),
        ({"alg": "NONE", "kid": "k1"}, "alg"),
        ({"alg": "HS256", "kid": "k1"}, "alg"),
        ({"kid": "k1"}, "alg"),
        ({"alg": "RS256"}, "kid"),
        ({"alg": "RS256", "kid": 5}, "kid"),
        ({"alg": "RS256", "kid": "k1", "jku": "https://e"}, "header_jku"),
        ({"alg": "RS256", "kid": "k1", "x5u": "https://e"}, "header_x5u"),
        ({"alg": "RS256", "kid": "k1", "jwk": {}}, "header_jwk"),
        ({"alg": "RS256", "kid": "k1", "x5c": []}, "header_x5c"),
        ({"alg": "RS256", "kid": "k1", "crit": ["exp"]}, "header_crit"),
        ({"alg": "RS256", "kid": "k1", "b64": False}, "format"),
        ({"alg": "RS256", "kid": "nope"}, "kid"),
        ({"alg": "ES256", "kid": "k1"}, "signature"),  # an RSA key named for an EC algorithm
        ({"alg": "RS512", "kid": "k1"}, "alg"),  # not allowed for this issuer
    ],
)
def test_header_rules(header: dict[str, Any], check: str) -> None:
    v, _ = verifier()
    raw = f"{_b64(header)}.{_b64({'iss': ISS})}.c2lnbmF0dXJl"
    assert refused(v, raw) == check


@pytest.mark.parametrize(
    ("raw", "check"),
    [
        ("a.b", "format"),
        ("a.b.c.d", "format"),
        ("a.b.c.d.e", "format"),  # JWE
        ('{"payload":"e30","signatures":[]}', "format"),  # JSON serialisation
        ("eyJ.eyJ.", "alg"),  # unsigned
        ("e30=.e30.c2ln", "format"),  # padding
        ("!!!.e30.c2ln", "format"),
        ("W10.e30.c2ln", "format"),  # header is a list
        ("x" * (MAX_TOKEN_BYTES + 1), "size"),
    ],
)
def test_form_rules(raw: str, check: str) -> None:
    with pytest.raises(TokenRefused) as info:
        parse(raw)
    assert info.value.check == check


def test_tampered_signature_and_payload_are_refused() -> None:
    v, _ = verifier()
    good = token()
    h, p, s = good.split(".")
    assert refused(v, f"{h}.{p}.{s[:-4]}AAAA") == "signature"
    forged_payload = _b64({**json.loads(base64.urlsafe_b64decode(p + "==")), "tid": "tid-b"})
    assert refused(v, f"{h}.{forged_payload}.{s}") == "signature"


def test_a_key_from_another_issuer_or_a_forger_is_refused() -> None:
    v, _ = verifier()
    assert refused(v, token(key=rsa("k1"))) == "signature"  # same kid, different key
    assert refused(v, token(key=FORGER)) == "kid"


def test_jwks_parsing_keeps_only_usable_public_signing_keys() -> None:
    other = rsa("k2")
    extra = [
        {"kty": "oct", "kid": "s", "k": "c2VjcmV0"},  # symmetric: never
        {**rsa("enc").as_dict(private=False), "use": "enc"},
        {**rsa("priv").as_dict(private=True)},
        {**rsa("ps").as_dict(private=False), "alg": "PS256"},  # not an allowed algorithm
        {"kty": "RSA", "n": "AQAB"},  # no kid
        {"kty": "RSA", "kid": "broken", "n": "!", "e": "AQAB"},
        {**other.as_dict(private=False)},  # duplicate kid: ambiguous, dropped
        "not a key",
    ]
    keys = parse_jwks(jwks_body(KEY, other, EC_KEY, extra=extra), frozenset({"RS256", "ES256"}))
    assert set(keys) == {"k1", "e1"}
    for body in (b"[]", b"{}", b"not json", json.dumps({"keys": []}).encode(), b" " * (300 * 1024)):
        with pytest.raises(JwksError):
            parse_jwks(body, frozenset({"RS256"}))


def test_refresh_policy_unknown_kids_failures_and_staleness() -> None:
    clock = Clock()
    v, cache = verifier(clock)
    wakes: list[int] = []
    cache.wake = lambda: wakes.append(1)
    assert cache.seconds_until_fetch() == pytest.approx(3600)
    for n in range(50):  # a flood of made-up kids asks once, and the fetch waits for the min interval
        refused(v, token({"jti": str(n)}, key=FORGER))
    assert wakes == [1] and cache.seconds_until_fetch() == pytest.approx(30)
    clock.t += 30
    assert cache.seconds_until_fetch() == 0
    cache.attempting()
    cache.failed("HTTP 503")  # the IdP is down: retry every min interval, keys still served
    assert cache.seconds_until_fetch() == pytest.approx(30)
    clock.t += 569  # 599 s after the last good fetch
    assert v.verify(token()).tenant == "acme"
    clock.t += 2  # 601 s: fail closed
    assert refused(v, token()) == "jwks_stale"
    cache.attempting()
    cache.install(b"{}")  # a bad document does not replace the keys
    assert cache.last_error is not None and cache.kids == {"k1", "e1"}
    cache.attempting()
    cache.install(jwks_body(KEY))
    assert v.verify(token()).tenant == "acme" and cache.kids == {"k1"}


def test_no_keys_yet_is_refused_and_asks_for_a_fetch() -> None:
    cache = KeyCache("x", "https://x", frozenset({"RS256"}), RefreshPolicy(60, 1, 60), Clock())
    with pytest.raises(TokenRefused) as info:
        cache.key("k1")
    assert info.value.check == "jwks_unavailable" and cache.refresh_wanted
    cache.attempting()  # a start-up fetch cut short (timeout): neither installed nor failed
    assert cache.seconds_until_fetch() == pytest.approx(1)  # retried after the min interval, not the period


def test_claim_values_paths_and_scopes() -> None:
    claims = {
        "scp": "chat.read  chat.write",
        "scope": "openid profile",
        "realm_access": {"roles": ["a", 5, "b"]},
        "resource_access": {"onshore": {"roles": ["operator"]}},
        "https://example.com/tenant": "acme",
        "roles": "single",
        "n": 3,
    }
    assert claim_values(claims, "scp") == {"chat.read", "chat.write"}
    assert claim_values(claims, "scope") == {"openid", "profile"}
    assert claim_values(claims, "realm_access.roles") == {"a", "b"}
    assert claim_values(claims, "resource_access.onshore.roles") == {"operator"}
    assert claim_values(claims, "https://example.com/tenant") == {"acme"}
    assert claim_values(claims, "roles") == {"single"}
    assert claim_values(claims, "n") == frozenset() and claim_values(claims, "missing.path") == frozenset()


def test_mapping_floor_models_require_and_fixed_tenant() -> None:
    base = {"oid": "o", "tid": "tid-a"}
    assert map_claims({**base, "groups": ["g-conf", "g-personal"]}, MAPPING).floor == "personal"  # strictest wins
    assert map_claims(base, MAPPING).floor == "internal" and map_claims(base, MAPPING).models == frozenset()
    okta = ClaimMapping(
        subject=("uid", "cid"),
        classes=DATA_CLASSES,
        tenant_fixed="acme",
        require=(Requirement("scp", frozenset({"onshore.chat"})),),
    )
    assert map_claims({"cid": "app", "scp": ["onshore.chat"]}, okta).subject == "app"
    assert map_claims({"uid": "00u1", "cid": "app", "scp": ["onshore.chat"]}, okta).subject == "00u1"
    assert map_claims({"cid": "app", "scp": ["onshore.chat"]}, okta).models is None
    with pytest.raises(TokenRefused, match="required_claim"):
        map_claims({"cid": "app", "scp": ["other"]}, okta)
    # Overage only matters to a mapping that reads the left-out claim.
    assert map_claims({"cid": "app", "scp": ["onshore.chat"], "_claim_names": {"groups": "s"}}, okta).tenant == "acme"


def test_entra_v1_shape() -> None:
    """Entra v1: sts.windows.net issuer, appid instead of azp; the same tid/oid/roles mapping."""
    v1_iss = "https://sts.windows.net/tid-a/"
    cache = KeyCache("v1", "https://x", frozenset({"RS256"}), RefreshPolicy(60, 1, 60), Clock())
    cache.attempting()
    cache.install(jwks_body(KEY))
    rules = IssuerRules("v1", v1_iss, frozenset({"api://onshore"}), frozenset({"RS256"}), 0)
    v = OidcVerifier([IssuerVerifier(rules, cache, MAPPING)], lambda: NOW)
    p = v.verify(token({"iss": v1_iss, "appid": "app-1", "ver": "1.0", "roles": ["Chat"]}))
    assert p.key_id == f"oidc:{v1_iss}#o-1" and p.models == frozenset({"chat"})


def test_the_same_subject_at_two_issuers_is_two_principals() -> None:
    other_iss = "https://login.microsoftonline.com/tid-b/v2.0"
    caches = []
    issuers = []
    for name, iss in (("a", ISS), ("b", other_iss)):
        cache = KeyCache(name, "https://x", frozenset({"RS256"}), RefreshPolicy(60, 1, 60), Clock())
        cache.attempting()
        cache.install(jwks_body(KEY))
        caches.append(cache)
        mapping = ClaimMapping(subject=("oid",), classes=DATA_CLASSES, tenant_fixed="acme" if name == "a" else "globex")
        issuers.append(
            IssuerVerifier(
                IssuerRules(name, iss, frozenset({"api://onshore"}), frozenset({"RS256"}), 0), cache, mapping
            )
        )
    v = OidcVerifier(issuers, lambda: NOW)
    a, b = v.verify(token()), v.verify(token({"iss": other_iss}))
    assert a.key_id != b.key_id and (a.tenant, b.tenant) == ("acme", "globex")


def test_composite_dispatches_keys_and_tokens() -> None:
    new = generate_key()
    record = KeyRecord(new.key_id, "", "acme", "public", None, 0.0, None, new.hash)
    index = KeyIndex([record], roles={new.key_id: frozenset({"operator"})})
    v, _ = verifier()
    auth = Authenticator(index, v)
    assert auth.authenticate(f"Bearer {new.plaintext}").roles == {"operator"}
    assert auth.authenticate(f"Bearer {token()}").key_id.startswith("oidc:")
    assert auth.authenticate(f"bearer  {token()}").tenant == "acme"
    with pytest.raises(AuthError, match="not enabled"):
        Authenticator(index, None).authenticate(f"Bearer {token()}")
    with pytest.raises(AuthError, match="revoked"):
        auth.authenticate("Bearer onsk_abc_def")
    index.stale = True  # the key store unreadable too long: API keys fail closed, tokens still verify
    with pytest.raises(KeysUnavailable):
        auth.authenticate(f"Bearer {new.plaintext}")
    assert auth.authenticate(f"Bearer {token()}").key_id.startswith("oidc:")
    assert looks_like_jwt("a.b.c") and looks_like_jwt("{}") and not looks_like_jwt(new.plaintext)


def test_roles() -> None:
    assert permits({"operator"}, "backends.switch") and not permits({"auditor"}, "backends.switch")
    assert permits({"auditor"}, "audit.export") and not permits({"operator"}, "audit.read")
    assert permits({"admin"}, "keys.write") and not permits(set(), "backends.read")
    assert (
        refusal({"auditor"}, "backends.switch")
        == "This admin action (backends.switch) needs the role admin or operator."
    )
    assert refusal({"admin"}, "config.write") is None


# --- a verified token is remembered: what can change is re-checked on every use ------------------------
def remembering_verifier() -> tuple[OidcVerifier, KeyCache, list[float]]:
    now = [NOW]
    _, cache = verifier()
    rules = IssuerRules("entra", ISS, frozenset({"api://onshore"}), frozenset({"RS256", "ES256"}), 30)
    return OidcVerifier([IssuerVerifier(rules, cache, MAPPING)], lambda: now[0]), cache, now


def test_a_remembered_token_skips_the_signature_but_not_the_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    v, _, now = remembering_verifier()
    raw = token()
    first = v.verify(raw)
    calls: list[str] = []
    real = jws.deserialize_compact

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append("signature")
        return real(*args, **kwargs)

    monkeypatch.setattr(jws, "deserialize_compact", counted)
    assert v.verify(raw) == first and calls == []  # the second use: no signature check
    now[0] = NOW + 300 + 31  # past exp + leeway
    assert refused(v, raw) == "exp"


def test_a_remembered_token_stops_when_its_key_is_withdrawn_or_replaced() -> None:
    v, cache, _ = remembering_verifier()
    raw = token()
    v.verify(raw)
    cache.attempting()
    cache.install(jwks_body(EC_KEY))  # k1 withdrawn at the IdP
    assert refused(v, raw) == "kid"
    cache.attempting()
    cache.install(jwks_body(rsa("k1")))  # other key material under the same kid: verified afresh, and fails
    assert refused(v, raw) == "signature"
    cache.attempting()
    cache.install(jwks_body(KEY))
    assert v.verify(raw).tenant == "acme"


def test_only_digests_are_remembered_and_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from onshore.identify.oidc import verifier as module

    monkeypatch.setattr(module, "VERIFIED_CACHE_SIZE", 3)
    v, _, _ = remembering_verifier()
    tokens = [token({"oid": f"o-{i}"}) for i in range(5)]
    for raw in tokens:
        v.verify(raw)
    remembered = v._verified
    assert len(remembered) == 3 and all(isinstance(k, bytes) and len(k) == 32 for k in remembered)
    assert all(raw.encode() not in remembered for raw in tokens)
