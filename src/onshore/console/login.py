"""Sign-in and sign-out: by OpenID Connect (oidc_login.py), or without an IdP by the admin key or an
API key that carries a console role (identity.api_key_roles). Every sign-in gets a fresh session."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from onshore.console.i18n import translate
from onshore.console.oidc_login import LoginRefused
from onshore.console.web import (
    CONSOLE,
    LANG_COOKIE,
    Console,
    Refused,
    current_session,
    form_with_csrf,
    language,
    render,
    same_origin,
    set_cookie,
)
from onshore.identify.authenticator import AuthError
from onshore.identify.roles import ROLES
from onshore.refusal import Refusal

log = logging.getLogger("onshore.console")
ADMIN_KEY_ACTOR = "console:admin-key"


def safe_next(value: str | None) -> str:
    """Only a path on this console: never `//host` or a URL (no open redirect)."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/residency"


async def login_page(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    return render(
        request,
        "login.html.j2",
        next=safe_next(request.query.get("next")),
        oidc=console.oidc is not None,
        key_login=console.parts.admin_key is not None or bool(console.parts.settings.file.identity.api_key_roles),
        error=None,
    )


async def _signed_in(
    console: Console, response: web.StreamResponse, actor: str, display: str, roles: frozenset[str]
) -> None:
    token, _ = await console.sessions.create(actor, display, roles)
    set_cookie(console, response, console.session_cookie, token)
    log.info("console sign-in: %s (%s)", actor, ", ".join(sorted(roles)))


async def login_key(request: web.Request) -> web.StreamResponse:
    """The admin key (role admin), or an API key with console roles. Same-origin only (no session yet)."""
    same_origin(request)
    console = request.app[CONSOLE]
    form = await request.post()
    key = str(form.get("key", "")).strip()
    next_path = safe_next(str(form.get("next", "")))
    admin_key = console.parts.admin_key
    if key and admin_key is not None and hmac.compare_digest(key.encode(), admin_key.encode()):
        actor, display, roles = ADMIN_KEY_ACTOR, "admin key", frozenset({"admin"})
    else:
        try:
            principal = console.parts.identify(f"Bearer {key}") if key.startswith("onsk_") else None
        except (AuthError, Refusal):
            principal = None
        roles = frozenset(r for r in principal.roles if r in ROLES) if principal is not None else frozenset()
        if principal is None or not roles:
            why = translate(language(request), "login.nokey")
            return render(
                request,
                "login.html.j2",
                status=401,
                next=next_path,
                oidc=console.oidc is not None,
                key_login=True,
                error=why,
            )
        actor, display = principal.key_id, f"API key {principal.key_id}"
    response = web.HTTPSeeOther(next_path)
    await _signed_in(console, response, actor, display, roles)
    raise response


async def login_oidc(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    if console.oidc is None or console.http is None:
        raise Refused(404, "OpenID Connect sign-in is not configured (gateway.console.oidc).")
    try:
        endpoints = await console.oidc.endpoints(console.http)
    except LoginRefused as exc:
        raise Refused(502, translate(language(request), "login.failed", why=str(exc))) from None
    token, login = await console.pending.start(safe_next(request.query.get("next")))
    response = web.HTTPSeeOther(console.oidc.authorization_url(endpoints, login))
    # Lax, not Strict: the IdP's redirect back is a cross-site navigation, and must carry this cookie.
    set_cookie(console, response, console.login_cookie, token, samesite="Lax", max_age=600)
    raise response


async def callback(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    if console.oidc is None or console.http is None:
        raise Refused(404, "OpenID Connect sign-in is not configured (gateway.console.oidc).")
    login = await console.pending.take(request.cookies.get(console.login_cookie))
    lang = language(request)
    if "error" in request.query:
        raise Refused(401, translate(lang, "login.failed", why=f"the identity provider said {request.query['error']}"))
    if login is None:
        raise Refused(401, translate(lang, "login.failed", why="no sign-in was started in this browser, or it expired"))
    try:
        signed = await console.oidc.complete(
            console.http, login, request.query.get("state", ""), request.query.get("code", ""), request.query.get("iss")
        )
    except LoginRefused as exc:
        log.warning("console OIDC sign-in refused: %s", exc)
        raise Refused(401, translate(lang, "login.failed", why=str(exc))) from None
    roles = frozenset(r for r in signed.roles if r in ROLES)
    if not roles:
        raise Refused(403, translate(lang, "login.norole"))
    # A page, not a redirect: the session cookie is SameSite=Strict, so the first request carrying it
    # must start on this site (a redirect chain that began at the IdP would not send it).
    response = render(request, "continue.html.j2", session=None, next=login.next_path)
    await _signed_in(console, response, signed.actor, signed.display, roles)
    response.del_cookie(console.login_cookie, path="/")
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    session = current_session(request)
    if session is not None:
        await form_with_csrf(request, session)
        await console.sessions.drop(request.cookies.get(console.session_cookie))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(console.session_cookie, path="/")
    raise response


async def switch_language(request: web.Request) -> web.StreamResponse:
    """Remember the language (a preference, not a change of anything: GET is fine)."""
    console = request.app[CONSOLE]
    chosen = request.match_info["lang"]
    response = web.HTTPSeeOther(safe_next(request.query.get("next")))
    set_cookie(console, response, LANG_COOKIE, chosen, max_age=365 * 86400, samesite="Lax")
    raise response
