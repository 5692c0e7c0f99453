"""Bearer JWTs from a real OpenID provider (npm oidc-provider) through the real gateway.

The provider imitates Entra ID (two directory tenants), Okta and Keycloak; tokens come from the
client-credentials grant. Forged tokens are signed with the provider's real key (through a test
control) so each differs from a valid one in exactly the way under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import openai
import pytest
from joserfc import jwk, jws

from onshore.settings import Settings, parse_settings
from tests.support.gateway import RunningGateway, add_key, backend, rules
from tests.support.oidc_provider import ClientSpec, IssuerSpec, OidcProvider, node_available
from tests.support.upstream import FakeUpstream

pytestmark = pytest.mark.skipif(not node_available(), reason="needs Node.js and npm for oidc-provider")

TID_A = "11111111-aaaa-4aaa-8aaa-111111111111"
TID_B = "22222222-bbbb-4bbb-8bbb-222222222222"
ENTRA_AUD = "api://onshore"
ENTRA_REMOVE = ["client_id", "scope"]  # Entra sends azp/appid and scp instead


def entra_client(client_id: str, tid: str, **claims: Any) -> ClientSpec:
    base = {"tid": tid, "oid": f"oid-{client_id}", "azp": client_id, "ver": "2.0", "sub": f"pairwise-{client_id}"}
    return ClientSpec(client_id, f"secret-{client_id}", {**base, **claims}, ENTRA_REMOVE)


ISSUERS = [
    IssuerSpec(
        "entra-a",
        f"/entra/{TID_A}/v2.0",
        ENTRA_AUD,
        [
            entra_client("chat-app", TID_A, roles=["Onshore.Chat"]),
            entra_client("secret-app", TID_A, roles=["Onshore.Chat"], groups=["grp-confidential"]),
            entra_client("admin-app", TID_A, roles=["Onshore.Chat", "Onshore.Admin"]),
            entra_client("auditor-app", TID_A, roles=["Onshore.Chat", "Onshore.Auditor"]),
            entra_client("norole-app", TID_A),
            entra_client(
                "overage-app",
                TID_A,
                roles=["Onshore.Chat"],
                _claim_names={"groups": "src1"},
                _claim_sources={"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}},
            ),
        ],
    ),
    IssuerSpec("entra-b", f"/entra/{TID_B}/v2.0", ENTRA_AUD, [entra_client("b-app", TID_B, roles=["Onshore.Chat"])]),
    IssuerSpec(
        "okta",
        "/okta/oauth2/default",
        "api://default",
        [ClientSpec("okta-app", "secret-okta", {"cid": "okta-app", "scp": ["onshore.chat"], "ver": 1}, ["client_id"])],
    ),
    IssuerSpec(
        "keycloak",
        "/keycloak/realms/acme",
        "https://onshore.example/api",
        [
            ClientSpec(
                "kc-app",
                "secret-kc",
                {
                    "aud": "onshore",
                    "azp": "kc-app",
                    "typ": "Bearer",
                    "scope": "profile email",
                    "realm_access": {"roles": ["onshore-user", "confidential-reader", "offline_access"]},
                    "resource_access": {"onshore": {"roles": ["operator"]}},
                },
                ["client_id"],
            )
        ],
        alg="ES256",
    ),
]


def identity_config(idp: OidcProvider) -> dict[str, Any]:
    entra_common = {
        "preset": "entra_v2",
        "audience": ENTRA_AUD,
        "algorithms": ["RS256"],
        "jwks_refresh_seconds": 60,
        "jwks_min_refresh_seconds": 0.3,
        "require": [{"claim": "roles", "any_of": ["Onshore.Chat"]}],
        "floor": {"default": "internal", "claim": "groups", "values": {"grp-confidential": "confidential"}},
        "models": {"values": {"Onshore.Chat": ["chat"]}},
        "roles": {"values": {"Onshore.Admin": "admin", "Onshore.Auditor": "auditor"}},
    }
    return {
        "oidc": {
            "entra-a": {
                **entra_common,
                "issuer": idp.issuer("entra-a"),
                "jwks_url": idp.jwks_url("entra-a"),
                "tenant": {"values": {TID_A: "acme"}},
            },
            "entra-b": {
                **entra_common,
                "issuer": idp.issuer("entra-b"),
                "jwks_url": idp.jwks_url("entra-b"),
                "tenant": {"values": {TID_B: "globex"}},
            },
            "okta": {
                "preset": "okta",
                "issuer": idp.issuer("okta"),
                "audience": "api://default",
                "jwks_url": idp.jwks_url("okta"),
                "jwks_min_refresh_seconds": 30,  # the fetch-storm test counts fetches in this window
                "tenant": {"fixed": "acme"},
                "models": {"claim": "scp", "values": {"onshore.chat": ["chat"]}},
            },
            "keycloak": {
                "preset": "keycloak",
                "issuer": idp.issuer("keycloak"),
                "audience": "onshore",
                "jwks_url": idp.jwks_url("keycloak"),
                "jwks_refresh_seconds": 0.3,
                "jwks_min_refresh_seconds": 0.2,
                "jwks_max_stale_seconds": 1.5,  # the outage test waits this out
                "tenant": {"fixed": "acme"},
                "floor": {"values": {"confidential-reader": "confidential"}},
                "roles": {"claim": "resource_access.onshore.roles", "values": {"operator": "operator"}},
            },
        }
    }


@dataclass
class Rig:
    idp: OidcProvider
    gateway: RunningGateway
    settings: Settings
    upstream: FakeUpstream
    api_key: str

    def chat(self, token: str, model: str = "chat") -> httpx.Response:
        return httpx.post(
            self.gateway.url + "/v1/chat/completions",
            headers={"Authorization": f"Bearer {token}"},
            json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )

    def records(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.settings.data_dir / "onshore.db") as conn:
            return [json.loads(body) for (body,) in conn.execute("SELECT body FROM audit_records ORDER BY seq")]

    def claims(self, issuer: str, **overrides: Any) -> dict[str, Any]:
        """A valid Entra-shaped payload for `issuer`, with overrides (None removes a claim)."""
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": self.idp.issuer(issuer),
            "aud": ENTRA_AUD,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "tid": TID_A,
            "oid": "oid-forged",
            "azp": "chat-app",
            "roles": ["Onshore.Chat"],
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    idp = OidcProvider(ISSUERS).start()
    upstream = FakeUpstream("jp").start()
    try:
        raw = {
            "gateway": {
                "data_dir": str(tmp_path_factory.mktemp("oidc")),
                "key_refresh_seconds": 0.05,
                # The shared Redis (a prefix of its own): the admin API's kill switch lives there.
                "redis": {"url_env": "R", "prefix": f"onshore-oidc-{uuid.uuid4().hex[:8]}:"},
            },
            "backends": {"jp": backend(upstream.base_url, "JP")},
            "models": {m: {"routes": [{"backend": "jp", "model": m}]} for m in ("chat", "other")},
            "tenants": {"acme": rules(["JP"]), "globex": rules(["JP"])},
            "identity": identity_config(idp),
        }
        settings = parse_settings(raw, "test", {"R": "redis://127.0.0.1:6379/0"})
        api_key = add_key(settings, "acme")
        gateway = RunningGateway(settings).start()
    except BaseException:
        idp.stop()
        upstream.stop()
        raise
    try:
        yield Rig(idp, gateway, settings, upstream, api_key)
    finally:
        gateway.stop()
        upstream.stop()
        idp.stop()


def refusal(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "invalid_api_key" and response.headers["WWW-Authenticate"] == "Bearer"
    return str(error["message"])


# --- real tokens, the official SDK -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("issuer", "client", "subject"),
    [("entra-a", "chat-app", "oid-chat-app"), ("okta", "okta-app", "okta-app"), ("keycloak", "kc-app", "kc-app")],
)
def test_the_openai_sdk_gets_answers_with_a_token(rig: Rig, issuer: str, client: str, subject: str) -> None:
    token = rig.idp.token(issuer, client)
    with openai.OpenAI(base_url=rig.gateway.url + "/v1", api_key=token, max_retries=0) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert raw.parse().choices[0].message.content == "Hello from upstream"
    principal = f"oidc:{rig.idp.issuer(issuer)}#{subject}"
    receipt = raw.headers["onshore-receipt"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(receipt + "=" * (-len(receipt) % 4)))
    assert claims["principal"] == principal and claims["tenant"] == "acme"
    record = next(r for r in rig.records() if r["id"] == raw.headers["onshore-request-id"])
    assert record["key_id"] == principal and record["tenant"] == "acme"
    assert token not in json.dumps(rig.records())  # the audit names the principal, never the token


def test_api_keys_still_work_beside_tokens(rig: Rig) -> None:
    assert rig.chat(rig.api_key).status_code == 200


def test_claims_set_floor_and_models(rig: Rig) -> None:
    secret = rig.chat(rig.idp.token("entra-a", "secret-app"))
    assert secret.status_code == 200
    record = next(r for r in rig.records() if r["id"] == secret.headers["onshore-request-id"])
    assert record["data_class"] == "confidential"  # groups -> floor
    plain = rig.chat(rig.idp.token("entra-a", "chat-app"))
    assert next(r for r in rig.records() if r["id"] == plain.headers["onshore-request-id"])["data_class"] == "internal"
    kc = rig.chat(rig.idp.token("keycloak", "kc-app"))
    assert next(r for r in rig.records() if r["id"] == kc.headers["onshore-request-id"])["data_class"] == "confidential"
    # The Entra app role grants "chat" only.
    assert rig.chat(rig.idp.token("entra-a", "chat-app"), model="other").status_code == 404


def test_tenant_b_token_reaches_tenant_b_only(rig: Rig) -> None:
    ok = rig.chat(rig.idp.token("entra-b", "b-app"))
    assert ok.status_code == 200
    record = next(r for r in rig.records() if r["id"] == ok.headers["onshore-request-id"])
    assert record["tenant"] == "globex" and record["key_id"].startswith(f"oidc:{rig.idp.issuer('entra-b')}#")
    # Signed by tenant A's real key but claiming tenant B: A's issuer maps only A's tid.
    crossing = rig.idp.sign("entra-a", rig.claims("entra-a", tid=TID_B))
    assert "(check: tenant)" in refusal(rig.chat(crossing))


# --- forged tokens -------------------------------------------------------------------------------
def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hs256_with_public_key(rig: Rig, payload: dict[str, Any]) -> str:
    """The RS/HS confusion attack: HMAC keyed with the issuer's *public* RSA key."""
    published = httpx.get(rig.idp.jwks_url("entra-a"), timeout=5).json()["keys"][0]
    pem = jwk.import_key(published, "RSA").as_pem(private=False)
    signing_input = f"{_b64({'alg': 'HS256', 'kid': published['kid']})}.{_b64(payload)}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _foreign_key_token(payload: dict[str, Any]) -> str:
    key = jwk.RSAKey.generate_key(2048, parameters={"kid": "attacker-key"})
    return jws.serialize_compact({"alg": "RS256", "kid": "attacker-key"}, json.dumps(payload), key)


FORGERIES: dict[str, tuple[str, Callable[[Rig], str]]] = {
    "alg_none": ("alg", lambda r: f"{_b64({'alg': 'none'})}.{_b64(r.claims('entra-a'))}."),
    "alg_none_with_signature": (
        "alg",
        lambda r: f"{_b64({'alg': 'none', 'kid': 'x'})}.{_b64(r.claims('entra-a'))}.c2ln",
    ),
    "hs256_key_confusion": ("alg", lambda r: _hs256_with_public_key(r, r.claims("entra-a"))),
    "unknown_kid": ("kid", lambda r: _foreign_key_token(r.claims("entra-a"))),
    "jku": ("header_jku", lambda r: r.idp.sign("entra-a", r.claims("entra-a"), {"jku": "https://evil.example/jwks"})),
    "x5u": ("header_x5u", lambda r: r.idp.sign("entra-a", r.claims("entra-a"), {"x5u": "https://evil.example/cert"})),
    "jwk": (
        "header_jwk",
        lambda r: r.idp.sign("entra-a", r.claims("entra-a"), {"jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}}),
    ),
    "x5c": ("header_x5c", lambda r: r.idp.sign("entra-a", r.claims("entra-a"), {"x5c": ["MIIB"]})),
    "crit": ("header_crit", lambda r: r.idp.sign("entra-a", r.claims("entra-a"), {"crit": ["b64"], "b64": True})),
    "wrong_aud": ("aud", lambda r: r.idp.sign("entra-a", r.claims("entra-a", aud="api://another-app"))),
    "wrong_iss": ("iss", lambda r: r.idp.sign("entra-a", r.claims("entra-a", iss="https://login.example/evil/v2.0"))),
    "array_iss": ("iss", lambda r: r.idp.sign("entra-a", r.claims("entra-a", iss=[r.idp.issuer("entra-a")]))),
    "other_issuers_key": ("kid", lambda r: r.idp.sign("entra-b", r.claims("entra-a"))),
    "expired": ("exp", lambda r: r.idp.sign("entra-a", r.claims("entra-a", exp=int(time.time()) - 120))),
    "no_exp": ("exp", lambda r: r.idp.sign("entra-a", r.claims("entra-a", exp=None))),
    "not_yet_valid": ("nbf", lambda r: r.idp.sign("entra-a", r.claims("entra-a", nbf=int(time.time()) + 600))),
    "oversized": ("size", lambda r: r.idp.sign("entra-a", r.claims("entra-a", pad="x" * 12100))),
    "jwe": ("format", lambda r: ".".join(["eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ", "a", "b", "c", "d"])),
    "json_serialisation": ("format", lambda r: json.dumps({"payload": _b64(r.claims("entra-a")), "signatures": []})),
    "bad_signature": ("signature", lambda r: r.idp.sign("entra-a", r.claims("entra-a"))[:-6] + "AAAAAA"),
    "overage": ("claims_overage", lambda r: r.idp.token("entra-a", "overage-app")),
    "missing_app_role": ("required_claim", lambda r: r.idp.token("entra-a", "norole-app")),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_forged_tokens_are_refused_naming_the_check(rig: Rig, forgery: str) -> None:
    check, make = FORGERIES[forgery]
    token = make(rig)
    if forgery == "oversized":
        assert 16 * 1024 < len(token) < 17 * 1024  # over the cap, under the HTTP header limit
    response = rig.chat(token)
    message = refusal(response)
    assert f"(check: {check})" in message
    assert token not in response.text and token[:40] not in response.text
    record = rig.records()[-1]  # refusals are audited too, naming no token
    assert record["status"] == 401 and record["key_id"] is None and token[:40] not in json.dumps(record)


# --- keys: rotation, fetch storms, outages -----------------------------------------------------
def _until(predicate: Any, seconds: float = 5.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_key_rotation_is_picked_up_without_restart(rig: Rig) -> None:
    old = rig.idp.token("entra-a", "chat-app")
    assert rig.chat(old).status_code == 200
    new_kid = rig.idp.rotate("entra-a", keep_old=True)
    new = rig.idp.token("entra-a", "chat-app")
    assert json.loads(base64.urlsafe_b64decode(new.split(".")[0] + "=="))["kid"] == new_kid
    # The very first request with a token naming the new kid waits for the fetch it asks for and is
    # served: a rotation at the IdP refuses nobody.
    assert rig.chat(new).status_code == 200
    assert rig.chat(old).status_code == 200  # still published: still good
    rig.idp.rotate("entra-a", keep_old=False)  # the old keys are withdrawn
    newest = rig.idp.token("entra-a", "chat-app")
    assert _until(lambda: rig.chat(newest).status_code == 200)
    assert "(check: kid)" in refusal(rig.chat(old))


def test_unknown_kids_cause_one_fetch_not_a_storm(rig: Rig) -> None:
    claims = rig.claims("okta", aud="api://default")
    assert rig.chat(rig.idp.token("okta", "okta-app")).status_code == 200
    before = rig.idp.jwks_fetches("okta")
    for _ in range(40):
        refusal(rig.chat(_foreign_key_token({**claims, "jti": uuid.uuid4().hex})))
    time.sleep(0.3)
    assert rig.idp.jwks_fetches("okta") - before <= 1


def test_idp_outage_cached_keys_then_fail_closed(rig: Rig) -> None:
    token = rig.idp.token("keycloak", "kc-app")
    assert rig.chat(token).status_code == 200
    rig.idp.jwks_mode("keycloak", "down")
    try:
        assert rig.chat(token).status_code == 200  # cached keys carry on
        message = _until(lambda: (m := rig.chat(token)).status_code == 401 and m.json()["error"]["message"], 4.0)
        assert message and "(check: jwks_stale)" in message
        assert rig.chat(rig.api_key).status_code == 200  # API keys are not affected
    finally:
        rig.idp.jwks_mode("keycloak", "up")
    assert _until(lambda: rig.chat(token).status_code == 200)


# --- admin roles ---------------------------------------------------------------------------------
def test_admin_api_checks_the_role(rig: Rig) -> None:
    def admin(client: str) -> httpx.Response:
        token = rig.idp.token("entra-a", client)
        return httpx.get(rig.gateway.url + "/admin/backends", headers={"Authorization": f"Bearer {token}"}, timeout=5)

    no_role = admin("chat-app")
    assert no_role.status_code == 403 and no_role.json()["error"]["code"] == "insufficient_role"
    assert "needs the role admin or operator or auditor" in no_role.json()["error"]["message"]
    assert admin("admin-app").status_code == 200 and admin("auditor-app").status_code == 200
    assert "(check: format)" in refusal(
        httpx.get(rig.gateway.url + "/admin/backends", headers={"Authorization": "Bearer eyJ.x"}, timeout=5)
    )

    def switch(token: str, action: str) -> httpx.Response:
        return httpx.post(
            f"{rig.gateway.url}/admin/backends/jp/{action}",
            headers={"Authorization": f"Bearer {token}"},
            json={"reason": "maintenance window"},
            timeout=5,
        )

    auditor = rig.idp.token("entra-a", "auditor-app")
    assert switch(auditor, "disable").status_code == 403  # read-only
    operator = rig.idp.token("keycloak", "kc-app")  # operator, from resource_access.onshore.roles
    try:
        assert switch(operator, "disable").status_code == 200
    finally:
        assert switch(operator, "enable").status_code == 200
    actions = [r for r in rig.records() if r["kind"] == "admin"]
    assert [(a["action"], a["actor"]) for a in actions] == [
        ("disable", f"oidc:{rig.idp.issuer('keycloak')}#kc-app"),
        ("enable", f"oidc:{rig.idp.issuer('keycloak')}#kc-app"),
    ]
    assert operator not in json.dumps(actions)
