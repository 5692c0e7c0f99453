"""Tenant crossing: whatever claims a token carries, a token of tenant A's issuer never reaches
tenant B's tenant, models or data classes (hypothesis over claim sets, issuers and signing keys)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from joserfc import jwk, jws

from onshore.decide.classes import DATA_CLASSES
from onshore.identify.oidc.claims import ClaimMapping, ValueMap
from onshore.identify.oidc.jwks import KeyCache, RefreshPolicy
from onshore.identify.oidc.token import TokenRefused
from onshore.identify.oidc.verifier import IssuerRules, IssuerVerifier, OidcVerifier

NOW = 1_800_000_000.0
ISSUERS = {"a": "https://login.microsoftonline.com/tid-a/v2.0", "b": "https://login.microsoftonline.com/tid-b/v2.0"}
TENANT = {"a": "acme", "b": "globex"}
MODELS = {"a": {"acme-chat", "acme-embed"}, "b": {"globex-chat"}}
KEYS = {name: jwk.RSAKey.generate_key(2048, parameters={"kid": f"k-{name}"}) for name in ISSUERS}
FLOOR_DEFAULT = {"a": "internal", "b": "public"}


def _issuer(name: str) -> IssuerVerifier:
    cache = KeyCache(name, "https://x", frozenset({"RS256"}), RefreshPolicy(60, 1, 60), lambda: 0.0)
    cache.attempting()
    cache.install(json.dumps({"keys": [KEYS[name].as_dict(private=False)]}).encode())
    mapping = ClaimMapping(
        subject=("oid",),
        classes=DATA_CLASSES,
        tenant=ValueMap("tid", {f"tid-{name}": TENANT[name]}),
        floor_default=FLOOR_DEFAULT[name],
        floor=ValueMap("groups", {"conf": "confidential"} if name == "a" else {"pub": "public"}),
        models=ValueMap("roles", {"Chat": (f"{TENANT[name]}-chat",), "All": tuple(sorted(MODELS[name]))}),
    )
    rules = IssuerRules(name, ISSUERS[name], frozenset({"api://onshore"}), frozenset({"RS256"}), 30)
    return IssuerVerifier(rules, cache, mapping)


VERIFIER = OidcVerifier([_issuer("a"), _issuer("b")], lambda: NOW)
values = st.sampled_from(["tid-a", "tid-b", "tid-c", "Chat", "All", "conf", "pub", "acme", "globex", ""])
claim_value = st.one_of(values, st.lists(values, max_size=4), st.integers(), st.none())
tids = st.one_of(
    st.sampled_from(["tid-a", "tid-b"]), st.lists(st.sampled_from(["tid-a", "tid-b"]), max_size=2), claim_value
)
OTHER = {"a": "b", "b": "a"}


@settings(max_examples=300, deadline=None)
@given(
    iss=st.sampled_from(["a", "b"]),
    signer=st.sampled_from(["own", "own", "other"]),
    kid=st.sampled_from(["own", "own", "other"]),
    tid=tids,
    claims=st.dictionaries(st.sampled_from(["roles", "groups", "oid", "tenant", "azp"]), claim_value),
)
@example(iss="a", signer="own", kid="own", tid="tid-a", claims={"roles": ["All"], "groups": ["conf"]})
@example(iss="b", signer="own", kid="own", tid=["tid-b"], claims={"roles": "Chat"})
def test_a_token_never_crosses_into_another_tenant(
    iss: str, signer: str, kid: str, tid: Any, claims: dict[str, Any]
) -> None:
    signer = iss if signer == "own" else OTHER[iss]
    kid = iss if kid == "own" else OTHER[iss]
    claims = {**claims, "tid": tid}
    payload = {
        **{k: v for k, v in claims.items() if v is not None},
        "iss": ISSUERS[iss],
        "aud": "api://onshore",
        "exp": NOW + 60,
        "oid": claims.get("oid") or "someone",
    }
    raw = jws.serialize_compact({"alg": "RS256", "kid": f"k-{kid}"}, json.dumps(payload), KEYS[signer])
    try:
        principal = VERIFIER.verify(raw)
    except TokenRefused as exc:
        event(f"refused: {exc.check}")
        return
    event("accepted")
    # Accepted: then it was signed by its own issuer's key, and it lands in that issuer's tenant only.
    assert signer == kid == iss
    assert principal.tenant == TENANT[iss]
    assert principal.models is not None and principal.models <= MODELS[iss]
    assert principal.key_id.startswith(f"oidc:{ISSUERS[iss]}#")
    assert DATA_CLASSES.index(principal.floor) >= DATA_CLASSES.index(FLOOR_DEFAULT[iss])
