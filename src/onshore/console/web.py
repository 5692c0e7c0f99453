"""What every console handler shares: the console's state, security headers, sessions from cookies,
CSRF checks, role checks, and rendering. The security rules live here once, not per page."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import jinja2
from aiohttp import web

from onshore.console.i18n import pick_language, translate
from onshore.console.oidc_login import OidcLogin
from onshore.console.parts import ConsoleParts
from onshore.console.proofs import VerifyOutcome
from onshore.console.redis_sessions import SessionsUnavailable
from onshore.console.sessions import LoginStore, Session, SessionStore
from onshore.identify.roles import Action, needed_for, permits
from onshore.worker import Worker

# No inline script or style anywhere: everything comes from /static on this origin.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
log = logging.getLogger("onshore.console")
LANG_COOKIE = "onshore-console-lang"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(slots=True)
class VerifyJob:
    running: bool = False
    done: int = 0
    total: int = 0
    actor: str = ""
    outcome: VerifyOutcome | None = None
    error: str | None = None


@dataclass(slots=True)
class Console:
    parts: ConsoleParts
    sessions: SessionStore  # in memory, or in Redis when the gateway has one (shared by replicas)
    pending: LoginStore
    templates: jinja2.Environment
    jobs: Worker  # one thread for long reads (verify, export, reports): one at a time
    secure_cookies: bool
    oidc: OidcLogin | None = None
    http: aiohttp.ClientSession | None = None
    verify: VerifyJob = field(default_factory=VerifyJob)
    busy: bool = False
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def session_cookie(self) -> str:
        # __Host-: only over HTTPS, for this host and path / only (no Domain): no subdomain can set it.
        return "__Host-onshore-console" if self.secure_cookies else "onshore-console"

    @property
    def login_cookie(self) -> str:
        return "__Host-onshore-login" if self.secure_cookies else "onshore-login"


CONSOLE = web.AppKey("console", Console)


class Refused(Exception):
    """A request the console refuses: status and a message key (or text) for the error page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def console_of(request: web.Request) -> Console:
    return request.app[CONSOLE]


def language(request: web.Request) -> str:
    return pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("Accept-Language"))


SESSION = web.RequestKey("console_session", Session)  # set once per request by `guard`


def current_session(request: web.Request) -> Session | None:
    return request.get(SESSION)


def require(request: web.Request, action: Action) -> Session:
    """The signed-in user, allowed to do `action`; otherwise sign in (pages) or be refused (changes)."""
    session = current_session(request)
    if session is None:
        if request.method == "GET":
            raise web.HTTPSeeOther("/login?next=" + request.path_qs.replace("&", "%26"))
        raise Refused(401, "Not signed in, or the session has expired: sign in again.")
    if not permits(session.roles, action):
        raise Refused(403, translate(language(request), "forbidden", roles=" / ".join(needed_for(action))))
    return session


def same_origin(request: web.Request) -> None:
    """Every POST comes from a page of this console. Fetch Metadata decides when the browser sends
    it; else Origin, when it names one (under Referrer-Policy: no-referrer, browsers send "null")."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        if site not in ("same-origin", "none"):
            raise Refused(403, f"Cross-site request refused (Sec-Fetch-Site: {site}).")
        return
    origin = request.headers.get("Origin")
    if origin not in (None, "null") and origin != f"{request.scheme}://{request.host}":
        raise Refused(403, "Cross-origin request refused (Origin does not match the console).")


async def form_with_csrf(request: web.Request, session: Session) -> dict[str, str]:
    """The posted form, after its CSRF token (field or header) matched the session's."""
    same_origin(request)
    form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    supplied = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not hmac.compare_digest(supplied.encode(), session.csrf.encode()):
        raise Refused(403, "The form's CSRF token is missing or wrong: reload the page and try again.")
    return form


def iso(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def render(
    request: web.Request, template: str, status: int = 200, session: Session | None = None, **context: Any
) -> web.Response:
    console = console_of(request)
    lang = language(request)

    def t(key: str, **values: object) -> str:
        return translate(lang, key, **values)

    session = session if session is not None else current_session(request)
    html = console.templates.get_template(template).render(
        t=t,
        lang=lang,
        session=session,
        may=lambda action: session is not None and permits(session.roles, action),
        path=request.path_qs,
        iso=iso,
        **context,
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The session (read once, before the handler), security headers on every answer, pages with data
    never cached, refusals as a page."""
    try:
        if not request.path.startswith("/static/"):
            console = console_of(request)
            session = await console.sessions.get(request.cookies.get(console.session_cookie))
            if session is not None:
                request[SESSION] = session
        response = await handler(request)
    except Refused as refused:
        response = _refusal(request, refused.status, refused.message)
    except SessionsUnavailable:  # fail closed: nobody counts as signed in while sessions cannot be read
        log.warning("console: the session store (Redis) cannot be reached")
        response = _refusal(request, 503, translate(language(request), "sessions.unavailable"))
    except web.HTTPException as exc:
        if exc.status < 400:
            exc.headers.update(SECURITY_HEADERS)
            raise
        response = _refusal(request, exc.status, exc.reason)
    except Exception:  # a page that failed changed nothing; say so, with the headers (logged)
        log.exception("console: %s %s failed", request.method, request.path)
        response = _refusal(request, 500, "The console failed to answer; the gateway's log says why.")
    response.headers.update(SECURITY_HEADERS)
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def _refusal(request: web.Request, status: int, message: str) -> web.Response:
    if request.headers.get("Accept", "").startswith("application/json"):
        return web.json_response({"error": message}, status=status)
    return render(request, "error.html.j2", status=status, message=message)


def set_cookie(console: Console, response: web.StreamResponse, name: str, value: str, **options: Any) -> None:
    options.setdefault("samesite", "Strict")
    response.set_cookie(name, value, path="/", httponly=True, secure=console.secure_cookies, **options)
