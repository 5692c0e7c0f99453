"""identity.oidc in the config: what is refused at start-up, with the key path."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from onshore.app import claim_mapping
from onshore.route.jwks_fetch import JwksFetchError, fetch_jwks
from onshore.settings import ConfigError, parse_settings
from tests.support.gateway import backend, rules


def config(**issuer: Any) -> dict[str, Any]:
    entra = {
        "preset": "entra_v2",
        "issuer": "https://login.microsoftonline.com/tid-a/v2.0",
        "audience": "api://onshore",
        "jwks_url": "https://login.microsoftonline.com/tid-a/discovery/v2.0/keys",
        "tenant": {"values": {"tid-a": "acme"}},
        **issuer,
    }
    return {
        "backends": {"jp": backend("http://127.0.0.1:1/v1")},
        "models": {"chat": {"routes": [{"backend": "jp", "model": "q"}]}},
        "tenants": {"acme": rules(["JP"])},
        "identity": {"oidc": {"entra": {k: v for k, v in entra.items() if v is not None}}},
    }


def problem(**issuer: Any) -> str:
    with pytest.raises(ConfigError) as info:
        parse_settings(config(**issuer), "test", {})
    return str(info.value)


def test_a_good_entra_config_and_its_preset_defaults() -> None:
    settings = parse_settings(config(roles={"values": {"Onshore.Admin": "admin"}}), "test", {})
    oidc = settings.file.identity.oidc["entra"]
    assert oidc.algorithms == ["RS256", "ES256", "EdDSA"] and oidc.leeway_seconds == 30
    mapping = claim_mapping(oidc)
    assert mapping.subject == ("oid",) and mapping.tenant is not None and mapping.tenant.claim == "tid"
    assert mapping.roles is not None and mapping.roles.claim == "roles" and mapping.entra_overage


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        ({"audience": None}, "identity.oidc.entra: Object missing required field `audience`"),
        ({"audience": []}, "identity.oidc.entra.audience: required"),
        ({"audience": " "}, "identity.oidc.entra.audience: required"),
        ({"jwks_url": "http://idp.example/keys"}, "identity.oidc.entra.jwks_url: must be an https:// URL"),
        ({"algorithms": ["HS256"]}, "identity.oidc.entra.algorithms[0]: 'HS256' is not allowed (symmetric"),
        ({"algorithms": ["none"]}, "'none' is not allowed (symmetric and unsigned"),
        ({"algorithms": []}, "identity.oidc.entra.algorithms: at least one"),
        ({"leeway_seconds": 61}, "identity.oidc.entra.leeway_seconds: must be between 0 and 60"),
        ({"issuer": "login.microsoftonline.com"}, "identity.oidc.entra.issuer: must be the issuer URL"),
        ({"tenant": {"values": {"tid-a": "nobody"}}}, "identity.oidc.entra.tenant: unknown tenant 'nobody'"),
        ({"tenant": {}}, "identity.oidc.entra.tenant: give either fixed"),
        ({"tenant": {"fixed": "acme", "values": {"x": "acme"}}}, "give either fixed"),
        ({"floor": {"default": "secret"}}, "identity.oidc.entra.floor.default: unknown data class"),
        ({"models": {"values": {"r": ["nope"]}}}, "identity.oidc.entra.models.values.r: unknown model 'nope'"),
        ({"preset": "okta", "models": {"values": {}}, "tenant": {"values": {"x": "acme"}}}, "tenant.claim: the okta"),
        ({"roles": {"values": {"r": "root"}}}, "identity.oidc.entra.roles.values[...]: Invalid enum value 'root'"),
        ({"jwks_min_refresh_seconds": 7200}, "jwks_min_refresh_seconds: must not exceed"),
        ({"jwks_max_stale_seconds": 0}, "jwks_max_stale_seconds: must be positive"),
        ({"require": [{"claim": "roles", "any_of": []}]}, "require[0].any_of"),
        ({"surprise": 1}, "unknown field `surprise`"),
    ],
)
def test_refused_configs(issuer: dict[str, Any], expected: str) -> None:
    assert expected in problem(**issuer)


def test_loopback_http_is_allowed_for_tests_only() -> None:
    for url in ("http://127.0.0.1:8080/keys", "http://[::1]:8080/keys", "http://localhost/keys"):
        parse_settings(config(jwks_url=url), "test", {})
    assert "https://" in problem(jwks_url="http://127.0.0.2.example/keys")


def test_one_issuer_configured_once() -> None:
    raw = config()
    raw["identity"]["oidc"]["copy"] = dict(raw["identity"]["oidc"]["entra"])
    with pytest.raises(ConfigError, match="the same issuer is configured as 'entra'"):
        parse_settings(raw, "test", {})


# --- the JWKS fetch (a real loopback server) ---------------------------------------------------------
async def _fetch(handler: Any, max_bytes: int = 1024) -> bytes:
    app = web.Application()
    app.router.add_get("/keys", handler)

    async def elsewhere(_request: web.Request) -> web.Response:
        return web.json_response({"keys": []})

    app.router.add_get("/elsewhere", elsewhere)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            return await fetch_jwks(session, f"http://127.0.0.1:{port}/keys", max_bytes)
    finally:
        await runner.cleanup()


async def _chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for _ in range(10):
        await response.write(b"x" * 200)
    return response


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (lambda _r: web.HTTPFound("/elsewhere"), "HTTP 302: redirects are not followed"),
        (lambda _r: web.Response(status=503), "HTTP 503"),
        (lambda _r: web.Response(body=b"x" * 2000), "larger than 1024 bytes"),
        (_chunked, "larger than 1024 bytes"),
    ],
)
def test_fetch_refuses_redirects_errors_and_oversized_answers(handler: Any, message: str) -> None:
    with pytest.raises(JwksFetchError, match=message):
        asyncio.run(_fetch(handler))


def test_fetch_returns_the_body() -> None:
    assert asyncio.run(_fetch(lambda _r: web.json_response({"keys": []}))) == b'{"keys": []}'
