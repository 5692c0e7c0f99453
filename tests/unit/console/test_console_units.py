"""The console's pure parts: sessions and their expiry, sign-in bookkeeping, PKCE, the residency and
decision tables, the words in both languages, and the console's config checks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from onshore.console import decisions, residency
from onshore.console.i18n import TEXT, pick_language, translate
from onshore.console.login import safe_next
from onshore.console.oidc_login import Endpoints, code_challenge
from onshore.console.sessions import LOGIN_TTL_SECONDS, PendingLogins, Sessions
from onshore.decide.declared import build_policy
from onshore.settings import ConfigError, parse_settings
from tests.support.gateway import backend, rules

TEMPLATES = Path(__file__).resolve().parents[3] / "src" / "onshore" / "console" / "templates"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_session_expires_when_idle_and_at_its_absolute_limit() -> None:
    async def run() -> None:
        clock = Clock()
        sessions = Sessions(idle_seconds=60, max_seconds=150, now=clock)
        token, session = await sessions.create("console:admin-key", "admin key", frozenset({"admin"}))
        assert await sessions.get(token) is session
        clock.t += 59
        assert await sessions.get(token) is session  # use restarts the idle clock
        clock.t += 59
        assert await sessions.get(token) is session
        clock.t += 40  # 158 s after creation: past the absolute limit although not idle
        assert await sessions.get(token) is None
        token, _ = await sessions.create("a", "a", frozenset())
        clock.t += 61
        assert await sessions.get(token) is None
        assert len(sessions) == 0

    asyncio.run(run())


def test_sessions_are_keyed_by_digest_and_each_sign_in_is_new() -> None:
    async def run() -> None:
        sessions = Sessions(60, 600, Clock())
        one, first = await sessions.create("a", "a", frozenset({"admin"}))
        two, second = await sessions.create("a", "a", frozenset({"admin"}))
        assert one != two and first.csrf != second.csrf
        assert one not in repr(sessions._by_digest)
        assert await sessions.get("made-up") is None and await sessions.get(None) is None
        await sessions.drop(one)
        assert await sessions.get(one) is None and await sessions.get(two) is second

    asyncio.run(run())


def test_a_pending_sign_in_is_used_once_and_expires() -> None:
    async def run() -> None:
        clock = Clock()
        pending = PendingLogins(clock)
        token, login = await pending.start("/audit")
        assert await pending.take(token) == login
        assert await pending.take(token) is None  # a callback cannot be replayed
        token, _ = await pending.start("/")
        clock.t += LOGIN_TTL_SECONDS + 1
        assert await pending.take(token) is None

    asyncio.run(run())


def test_pkce_s256_challenge_matches_rfc_7636_appendix_b() -> None:
    assert (
        code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    verifier = "x" * 64
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert code_challenge(verifier) == expected


def test_the_authorization_request_carries_state_nonce_and_challenge() -> None:
    from onshore.console.oidc_login import OidcLogin

    login = OidcLogin.__new__(OidcLogin)  # only the URL builder: no verifier needed
    login.client_id, login.redirect_url, login.scopes = "console", "https://c.example/auth/callback", ("openid",)
    _, started = asyncio.run(PendingLogins(Clock()).start("/"))
    url = login.authorization_url(Endpoints("https://idp.example/authorize", "https://idp.example/token"), started)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == code_challenge(started.verifier)
    assert started.verifier not in url
    assert query["state"] == started.state and query["nonce"] == started.nonce
    assert query["response_type"] == "code" and query["redirect_uri"] == "https://c.example/auth/callback"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/audit?x=1", "/audit?x=1"),
        ("//evil.example/", "/residency"),
        ("https://evil.example", "/residency"),
        ("/\\evil.example", "/residency"),
        (None, "/residency"),
        ("", "/residency"),
    ],
)
def test_after_sign_in_only_paths_of_the_console(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected


def test_every_word_exists_in_both_languages_and_every_template_key_is_defined() -> None:
    for key, (english, japanese) in TEXT.items():
        assert english.strip() and japanese.strip(), key
        assert set(re.findall(r"{(\w+)}", english)) == set(re.findall(r"{(\w+)}", japanese)), key
    used = set()
    for template in TEMPLATES.glob("*.j2"):
        used |= set(re.findall(r"""\bt\(\s*["']([\w.]*\w)["']""", template.read_text(encoding="utf-8")))
    used |= {f"state.{s}" for s in ("enabled", "disabled", "breaker_open")}
    assert used - set(TEXT) == set()
    assert translate("ja", "audit.records", n=3) == "3 件"
    assert translate("en", "audit.records", n=3) == "3 records"


@pytest.mark.parametrize(
    ("cookie", "accept", "expected"),
    [("en", "ja", "en"), (None, "en-GB,en;q=0.9", "en"), (None, "ja-JP", "ja"), (None, None, "ja"), ("xx", "de", "ja")],
)
def test_language_is_the_remembered_choice_else_the_browser_s(
    cookie: str | None, accept: str | None, expected: str
) -> None:
    assert pick_language(cookie, accept) == expected


def _file(**gateway: Any) -> dict[str, Any]:
    return {
        "gateway": gateway,
        "backends": {
            "jp": backend("http://127.0.0.1:1/v1", "JP", region="tokyo"),
            "us": backend("http://127.0.0.1:2/v1", "US", operator="Hyperscaler Inc", retention_days=30),
        },
        "models": {"chat": {"routes": [{"backend": "jp", "model": "m"}, {"backend": "us", "model": "m"}]}},
        "tenants": {"acme": rules(["JP", "US"], confidential={"jurisdictions": ["JP"]})},
    }


def test_residency_rows_show_state_and_exclusions() -> None:
    policy = build_policy(parse_settings(_file(), "test", {}).file)
    disabled = {"jp": residency.Switched("maintenance", "alice", 5.0)}
    rows = residency.backend_rows(policy, disabled, lambda name: name == "us")
    assert [(r.facts.name, r.state, r.models) for r in rows] == [
        ("jp", "disabled", ("chat",)),
        ("us", "breaker_open", ("chat",)),
    ]
    table = residency.policy_rows(policy, {"jp"}.__contains__, "acme")
    confidential = next(r for r in table if r.data_class == "confidential")
    assert confidential.allowed == ("jp",) and confidential.unavailable == ("jp",)
    assert confidential.excluded[0].backend == "us"
    assert "processing jurisdiction US not in [JP]" in confidential.excluded[0].reasons[0]
    assert residency.countries_in_use(policy) == ["JP", "US"]


RECORD = {
    "id": "rid-1",
    "ts": 10.0,
    "kind": "request",
    "endpoint": "chat",
    "tenant": "acme",
    "key_id": "k1",
    "model": "chat",
    "data_class": "personal",
    "status": 200,
    "outcome": "ok",
    "decision": {
        "id": "d1",
        "rule": "tenants.acme.classes.personal",
        "policy_hash": "ph",
        "excluded": [{"backend": "us", "reasons": ["x"]}],
        "chosen": {"name": "jp", "jurisdiction": "JP", "operator": "Local KK", "operator_jurisdiction": "JP"},
    },
    "personal_data": {"found": {"phone": 2}, "pseudonymised_for": [], "blocked_backends": ["us"]},
}


def test_a_decision_row_has_where_and_what_kind_never_a_value() -> None:
    row = decisions.row(7, RECORD)
    assert row is not None
    assert (row.backend, row.jurisdiction, row.rule) == ("jp", "JP", "tenants.acme.classes.personal")
    assert row.personal_types == (("phone", 2),) and row.blocked_backends == ("us",) and row.excluded == ("us",)
    assert decisions.row(8, {"kind": "admin", "action": "disable"}) is None
    assert decisions.row(9, {"kind": "request", "decision": "garbage", "personal_data": 3}) is not None


def test_filters_and_the_newest_first() -> None:
    records = [(i, {**RECORD, "id": f"r{i}", "model": "chat" if i % 2 else "other"}) for i in range(7, 0, -1)]
    read: list[int] = []

    def newest_first() -> Iterator[tuple[int, dict[str, Any]]]:
        for seq, body in records:
            read.append(seq)
            yield seq, body

    rows = decisions.recent(newest_first(), {"model": "chat"}, limit=2)
    assert [r.seq for r in rows] == [7, 5]
    assert read == [7, 6, 5]  # reading stopped at the second match
    assert decisions.recent(records, {"rule": "tenants.acme"}, 10)[0].seq == 7  # rule by prefix
    assert decisions.recent(records, {"principal": "nobody"}, 10) == []


def test_a_receipt_is_compared_with_its_record() -> None:
    claims = {
        "tenant": "acme",
        "principal": "k1",
        "model": "chat",
        "data_class": "personal",
        "decision": "d1",
        "rule": "tenants.acme.classes.personal",
        "policy_hash": "ph",
        "backend": {"name": "jp", "jurisdiction": "JP"},
    }
    assert decisions.receipt_matches(claims, RECORD) == []
    assert decisions.receipt_matches({**claims, "backend": {"name": "us", "jurisdiction": "US"}}, RECORD) == [
        "backend",
        "jurisdiction",
    ]


def _console_settings(console: dict[str, Any], **gateway: Any) -> None:
    parse_settings(_file(console=console, **gateway), "test", {"A": "admin-key"})


@pytest.mark.parametrize(
    ("console", "gateway", "path", "words"),
    [
        ({"port": 8080}, {"admin_key_env": "A"}, "gateway.console.port", "differ from gateway.port"),
        (
            {"host": "0.0.0.0", "secure_cookies": False},
            {"admin_key_env": "A"},
            "gateway.console.secure_cookies",
            "loopback",
        ),
        ({}, {}, "gateway.console", "nobody could sign in"),
        (
            {"session_idle_seconds": 100, "session_max_seconds": 50},
            {"admin_key_env": "A"},
            "gateway.console.session_idle_seconds",
            "at most",
        ),
        (
            {"oidc": {"issuer": "nope", "client_id": "c", "redirect_url": "https://c.example/auth/callback"}},
            {},
            "gateway.console.oidc.issuer",
            "no identity.oidc issuer",
        ),
    ],
)
def test_console_config_refusals(console: dict[str, Any], gateway: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(ConfigError) as refused:
        _console_settings(console, **gateway)
    assert refused.value.path == path and words in str(refused.value)


def test_the_console_is_off_unless_configured_and_on_loopback_by_default() -> None:
    assert parse_settings(_file(), "test", {}).gateway.console is None
    settings = parse_settings(_file(console={}, admin_key_env="A"), "test", {"A": "k"})
    assert settings.gateway.console is not None
    assert (settings.gateway.console.host, settings.gateway.console.secure_cookies) == ("127.0.0.1", True)
