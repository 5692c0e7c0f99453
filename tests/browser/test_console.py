"""The admin console, end to end in Chromium: sign in, the residency map, live decisions, the kill
switch, receipts, audit verification, reports; and what must be refused."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import World, keep, sign_in_with_key, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


def test_admin_key_sign_in_shows_the_residency_map(page: Page, world: World, artifacts: Path) -> None:
    sign_in_with_key(page, world)
    assert page.get_by_test_id("user").inner_text() == "admin key"
    backends = page.get_by_test_id("backends")
    for name in ("jp-tokyo", "jp-osaka", "us-east", "de-frankfurt"):
        assert backends.locator(f"tr[data-backend='{name}']").count() == 1
    us = backends.locator("tr[data-backend='us-east']").inner_text()
    assert "US (United States)" in us and "Hyperscaler Inc" in us and "30" in us
    assert page.locator(".country").all_inner_texts() == ["DE (Germany)", "JP (Japan)", "US (United States)"]
    # The check-config table, live: confidential data of acme may only go to the Japanese operators.
    row = page.locator("tr[data-tenant='acme'][data-class='confidential'][data-model='chat']")
    assert row.locator(".allowed .chip").all_inner_texts() == ["jp-tokyo", "jp-osaka"]
    excluded = row.locator(".excluded").inner_text()
    assert "us-east: processing jurisdiction US not in [JP]" in excluded
    assert "de-frankfurt" in excluded
    keep(page, artifacts, "residency")


PROMPT = "顧客 山田太郎 の電話番号は 090-1234-5678 です。住所を確認して"
PHONE = "090-1234-5678"


def _chat(world: World, data_class: str = "public", text: str = "hello") -> str:
    """One request through the SDK; returns its receipt."""
    raw = world.client().chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": text}], extra_headers={"X-Onshore-Data-Class": data_class}
    )
    raw.parse()
    return str(raw.headers["onshore-receipt"])


def test_requests_appear_on_decisions_without_their_content(page: Page, world: World, artifacts: Path) -> None:
    sign_in_with_key(page, world)
    page.goto(world.console + "/decisions")
    before = page.locator("tbody[data-live] tr[data-seq]").count()
    _chat(world, "personal", PROMPT)
    _chat(world, "public", "What is the capital of Japan?")
    # The table refreshes itself: both requests appear without a reload.
    live = page.locator("tbody[data-live] tr[data-seq]")
    wait_until(lambda: live.count() >= before + 2, timeout=10)
    newest = page.locator("tbody[data-live] tr[data-seq]").nth(1)  # newest first: the personal one is second
    text = newest.inner_text()
    assert "personal" in text and "acme" in text and "tenants.acme.classes.personal" in text
    assert "jp-tokyo — JP" in text  # where it went, and under whose law
    assert "phone" in text.lower()  # the type of personal data found, never its value
    html = page.content()
    assert PHONE not in html and "山田太郎" not in html and "capital of Japan" not in html
    # Filters: by data class and by outcome.
    page.select_option("select[name=data_class]", "personal")
    page.click("form[data-testid=filters] button")
    rows = page.locator("tbody[data-live] tr[data-seq]")
    assert rows.count() >= 1
    assert all("personal" in r for r in rows.all_inner_texts())
    keep(page, artifacts, "decisions")
    # One record in full: still no content, only digests.
    rows.first.locator("a").click()
    record = page.get_by_test_id("record").inner_text()
    assert "request_sha256" in record and PHONE not in page.content()
    keep(page, artifacts, "record")


def test_disable_a_backend_and_traffic_stops(page: Page, world: World, artifacts: Path) -> None:
    sign_in_with_key(page, world)
    _chat(world)
    assert world.upstreams["jp-tokyo"].received, "public traffic goes to the first route"
    page.goto(world.console + "/controls")
    page.fill("[data-testid=reason-jp-tokyo]", "Incident INC-42: provider breach under investigation")
    page.click("[data-testid=disable-jp-tokyo]")
    page.wait_for_url("**/controls?done=*")
    assert "停止スイッチで停止" in page.get_by_test_id("state-jp-tokyo").inner_text()
    assert "INC-42" in page.get_by_test_id("state-jp-tokyo").inner_text()
    keep(page, artifacts, "controls")
    try:
        tokyo = len(world.upstreams["jp-tokyo"].received)
        for _ in range(20):  # the switch reaches the router through Redis within moments
            if len(world.upstreams["jp-tokyo"].received) == tokyo:
                osaka = len(world.upstreams["jp-osaka"].received)
                _chat(world)
                if len(world.upstreams["jp-osaka"].received) > osaka:
                    break
        tokyo = len(world.upstreams["jp-tokyo"].received)
        for _ in range(3):
            _chat(world)
        assert len(world.upstreams["jp-tokyo"].received) == tokyo, "a disabled backend gets no traffic"
        page.goto(world.console + "/residency")
        row = page.locator("tr[data-tenant='acme'][data-class='confidential'][data-model='chat']")
        assert "現在停止中" in row.locator(".allowed").inner_text()
    finally:
        page.goto(world.console + "/controls")
        page.click("[data-testid=enable-jp-tokyo]")
        page.wait_for_url("**/controls?done=*")
    assert "稼働中" in page.get_by_test_id("state-jp-tokyo").inner_text()
    # Both actions are in the audit chain, with the actor, recorded before they took effect.
    page.goto(world.console + "/decisions")  # (admin records are not request rows)
    admin = _admin_records(world)
    assert [(r["action"], r["actor"]) for r in admin[-2:]] == [
        ("disable", "console:admin-key"),
        ("enable", "console:admin-key"),
    ]
    assert admin[-2]["reason"] == "Incident INC-42: provider breach under investigation"


def _admin_records(world: World) -> list[dict[str, object]]:
    import json
    import sqlite3

    with sqlite3.connect(world.settings.data_dir / "onshore.db") as db:
        bodies = [json.loads(b) for (b,) in db.execute("SELECT body FROM audit_records ORDER BY seq")]
    return [b for b in bodies if b.get("kind") == "admin"]


def test_verify_a_receipt(page: Page, world: World, artifacts: Path) -> None:
    receipt = _chat(world, "internal", "Summarise the meeting")
    sign_in_with_key(page, world)
    page.goto(world.console + "/decisions")
    page.fill("[data-testid=receipt-form] textarea", receipt)
    page.click("[data-testid=receipt-form] button")
    assert page.get_by_test_id("receipt-result").inner_text().startswith("有効")
    assert "一致します" in page.get_by_test_id("receipt-record").inner_text()
    keep(page, artifacts, "receipt")
    head, claims, signature = receipt.split(".")
    forged = ".".join([head, claims, ("A" if signature[0] != "A" else "B") + signature[1:]])
    page.fill("[data-testid=receipt-form] textarea", forged)
    page.click("[data-testid=receipt-form] button")
    assert page.get_by_test_id("receipt-result").inner_text().startswith("無効")


def test_audit_verify_now(page: Page, world: World, artifacts: Path) -> None:
    _chat(world)
    sign_in_with_key(page, world)
    page.goto(world.console + "/audit")
    length = int(page.get_by_test_id("chain-length").inner_text().split()[0])
    assert length >= 1
    page.click("[data-testid=verify-now]")
    out = page.get_by_test_id("verify-result")
    wait_until(lambda: out.get_attribute("data-running") == "no" and "正常" in out.inner_text(), timeout=15)
    result = page.get_by_test_id("verify-result").inner_text()
    assert "チェーンは完全" in result and "console:admin-key" in result
    assert "署名は有効" in page.get_by_test_id("checkpoint").inner_text()
    keep(page, artifacts, "audit")


def test_reports_download(page: Page, world: World, artifacts: Path) -> None:
    _chat(world, "personal", PROMPT)
    sign_in_with_key(page, world)
    page.goto(world.console + "/reports")
    keep(page, artifacts, "reports")
    form = page.get_by_test_id("report-sovereignty")
    form.locator("select[name=format]").select_option("json")
    with page.expect_download() as download:
        form.locator("button").click()
    import json

    envelope = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert envelope["report"]["type"] == "onshore-sovereignty-report" and envelope["kid"]
    assert PHONE not in json.dumps(envelope, ensure_ascii=False)
    form.locator("select[name=format]").select_option("pdf")
    with page.expect_download() as download:
        form.locator("button").click()
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    draft = page.get_by_test_id("report-incident")
    with page.expect_download() as download:
        draft.locator("button").click()
    assert download.value.suggested_filename.endswith(".md")
    assert "第8条" in Path(download.value.path()).read_text(encoding="utf-8")


def test_language_switch_is_remembered(page: Page, world: World) -> None:
    sign_in_with_key(page, world)
    assert page.locator("h1").inner_text() == "データ所在マップ"
    with page.expect_navigation():
        page.click("a.lang")
    assert page.locator("h1").inner_text() == "Residency map"
    page.goto(world.console + "/controls")
    assert page.locator("h1").inner_text() == "Kill switch"
    with page.expect_navigation():
        page.click("a.lang")
    assert page.locator("h1").inner_text() == "停止スイッチ"


def test_an_auditor_cannot_press_the_kill_switch(page: Page, world: World) -> None:
    sign_in_with_key(page, world, world.auditor_key)
    page.goto(world.console + "/controls")
    assert page.locator("[data-testid^=disable-]").count() == 0  # the button is absent
    assert page.get_by_test_id("readonly").is_visible()
    assert page.locator("[data-testid=create-key]").count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    assert csrf
    # ... and the POST is refused even with a valid session and CSRF token.
    answer = page.request.post(
        world.console + "/controls/backends/jp-tokyo/disable", form={"csrf": csrf, "reason": "try anyway"}
    )
    assert answer.status == 403
    assert "backends.switch" not in answer.text() and "operator" in answer.text()
    assert all(r.get("reason") != "try anyway" for r in _admin_records(world))


def test_key_create_and_revoke_by_an_admin(page: Page, world: World) -> None:
    sign_in_with_key(page, world)
    page.goto(world.console + "/controls")
    form = page.get_by_test_id("create-key")
    form.locator("input[name=name]").fill("batch-job")
    form.locator("select[name=floor]").select_option("internal")
    form.locator("button").click()
    secret = page.locator("[data-testid=created-key] code").inner_text()
    assert secret.startswith("onsk_")
    key_id = secret.split("_")[1]
    models = world.client(secret).models.list()  # the new key works at once
    assert [m.id for m in models.data] == ["chat"]
    page.goto(world.console + "/controls")  # the secret is shown once only
    assert secret not in page.content()
    page.click(f"[data-testid=revoke-{key_id}]")
    page.wait_for_url("**/controls?done=*")
    actions = [(r["action"], r.get("key_id")) for r in _admin_records(world)[-2:]]
    assert actions == [("key_create", key_id), ("key_revoke", key_id)]


# --- sign-in by OpenID Connect (authorization code + PKCE against the real oidc-provider) -------
def _oidc_sign_in(page: Page, world: World, user: str) -> None:
    if world.idp is None:
        pytest.skip("needs Node.js and npm for oidc-provider")
    page.goto(world.console + "/login")
    page.click("[data-testid=oidc-login]")
    page.wait_for_url(world.idp.base + "/**")  # the provider's own sign-in page
    page.fill("input[name=login]", user)
    page.click("button[type=submit]")


def test_oidc_sign_in_with_code_and_pkce(page: Page, world: World, artifacts: Path) -> None:
    _oidc_sign_in(page, world, "alice")
    page.wait_for_url("**/residency")
    assert page.get_by_test_id("user").inner_text() == "Alice Admin"
    assert "admin" in page.locator(".who").inner_text()
    page.goto(world.console + "/controls")
    assert page.locator("[data-testid=disable-jp-tokyo]").count() == 1
    # The session is the console's own: no token in a cookie, and the login cookie is gone.
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert "onshore-login" not in cookies
    assert len(cookies["onshore-console"]["value"]) >= 40 and "." not in cookies["onshore-console"]["value"]
    page.goto(world.console + "/login")
    keep(page, artifacts, "login")


def test_oidc_auditor_sees_no_kill_switch(page: Page, world: World) -> None:
    _oidc_sign_in(page, world, "audrey")
    page.wait_for_url("**/residency")
    page.goto(world.console + "/controls")
    assert page.locator("[data-testid^=disable-]").count() == 0
    page.goto(world.console + "/decisions")  # an auditor reads the chain
    assert page.get_by_test_id("decisions").is_visible()


def test_oidc_operator_may_switch_but_not_read_the_chain(page: Page, world: World) -> None:
    _oidc_sign_in(page, world, "oscar")
    page.wait_for_url("**/residency")
    assert page.locator("nav a[href='/decisions']").count() == 0
    page.goto(world.console + "/controls")
    assert page.locator("[data-testid=disable-jp-tokyo]").count() == 1
    page.goto(world.console + "/decisions")
    assert page.get_by_test_id("refusal").is_visible()


def test_oidc_user_without_a_console_role_is_refused(page: Page, world: World) -> None:
    _oidc_sign_in(page, world, "nobody")
    assert "ロール" in page.get_by_test_id("refusal").inner_text()
    assert "onshore-console" not in {c["name"] for c in page.context.cookies()}


def test_a_callback_from_another_browser_is_refused(page: Page, world: World) -> None:
    """Login CSRF: a callback URL (code and state) only completes in the browser that started it."""
    if world.idp is None:
        pytest.skip("needs Node.js and npm for oidc-provider")
    page.goto(world.console + "/auth/callback?code=stolen&state=whatever")
    assert page.get_by_test_id("refusal").is_visible()
    assert "onshore-console" not in {c["name"] for c in page.context.cookies()}


# --- what must be refused, and the headers ------------------------------------------------------
def test_no_session_and_forged_csrf_are_refused(page: Page, world: World) -> None:
    import httpx2 as httpx

    with httpx.Client(base_url=world.console, follow_redirects=False) as http:
        answer = http.post("/controls/backends/jp-tokyo/disable", data={"reason": "x", "csrf": "x"})
        assert answer.status_code == 401
        assert http.get("/controls").status_code == 303  # pages send you to sign in
        assert http.get("/controls").headers["Location"].startswith("/login")
    sign_in_with_key(page, world)
    page.goto(world.console + "/controls")
    forged = page.request.post(
        world.console + "/controls/backends/jp-tokyo/disable", form={"csrf": "forged-token", "reason": "x"}
    )
    assert forged.status == 403 and "CSRF" in forged.text()
    missing = page.request.post(world.console + "/controls/backends/jp-tokyo/disable", form={"reason": "x"})
    assert missing.status == 403
    csrf = page.locator("input[name=csrf]").first.get_attribute("value") or ""
    cross_site = page.request.post(
        world.console + "/controls/backends/jp-tokyo/disable",
        form={"csrf": csrf, "reason": "x"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert cross_site.status == 403
    assert all(r.get("reason") != "x" for r in _admin_records(world))
    page.goto(world.console + "/residency")
    assert "稼働中" in page.get_by_test_id("state-jp-tokyo").inner_text()


def test_security_headers_and_cookies(page: Page, world: World) -> None:
    sign_in_with_key(page, world)
    response = page.goto(world.console + "/decisions")
    assert response is not None
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff"
    session = next(c for c in page.context.cookies() if c["name"] == "onshore-console")
    assert session["httpOnly"] is True and session["sameSite"] == "Strict"
    # No page has inline script or style, nothing is loaded from another origin, and no page shows
    # the prompt or a personal-data value of a request that carried both.
    _chat(world, "personal", PROMPT)
    for path in ("/residency", "/decisions", "/audit", "/controls", "/reports", "/login"):
        page.goto(world.console + path)
        assert PHONE not in page.content() and "山田太郎" not in page.content()
        assert page.locator("script:not([src])").count() == 0
        assert page.locator("[style]").count() == 0
        sources = page.eval_on_selector_all("[src], link[href]", "els => els.map(e => e.src || e.href)")
        assert all(str(s).startswith(world.console) for s in sources), sources


def test_the_public_port_does_not_serve_the_console(world: World) -> None:
    import httpx2 as httpx

    with httpx.Client(base_url=world.gateway.url, follow_redirects=False) as http:
        for path in ("/", "/login", "/residency", "/controls", "/static/console.css", "/auth/callback"):
            assert http.get(path).status_code == 404, path
        assert http.post("/login/key", data={"key": "x"}).status_code in (404, 405)
    assert world.gateway.url != world.console
