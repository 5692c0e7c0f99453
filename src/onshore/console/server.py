"""The console's route table and its listener: a second aiohttp site on its own host and port
(gateway.console), started and stopped inside the gateway's lifespan. Never on the API's port."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from importlib import resources

import aiohttp
import jinja2
from aiohttp import web

from onshore.console import actions, login, pages
from onshore.console.oidc_login import OidcLogin
from onshore.console.parts import ConsoleParts
from onshore.console.redis_sessions import RedisSessions
from onshore.console.sessions import PendingLogins, Sessions
from onshore.console.web import CONSOLE, Console, guard
from onshore.identify.oidc.verifier import IssuerVerifier, OidcVerifier
from onshore.settings import ConsoleSettings, Settings
from onshore.worker import Worker

log = logging.getLogger("onshore.console")

ROUTES = [
    web.get("/", pages.index),
    web.get("/login", login.login_page),
    web.post("/login/key", login.login_key),
    web.get("/login/oidc", login.login_oidc),
    web.get("/auth/callback", login.callback),
    web.post("/logout", login.logout),
    web.get("/lang/{lang:ja|en}", login.switch_language),
    web.get("/residency", pages.residency_page),
    web.get("/decisions", pages.decisions_page),
    web.get(r"/decisions/{seq:\d+}", pages.record_page),
    web.post("/receipts/verify", actions.verify_receipt),
    web.get("/audit", pages.audit_page),
    web.post("/audit/verify", actions.start_verify),
    web.get("/audit/verify", actions.verify_progress),
    web.post("/audit/export", actions.export_audit),
    web.get("/controls", pages.controls),
    web.post("/controls/backends/{name}/{action:disable|enable}", actions.switch_backend),
    web.post("/controls/keys", actions.create_key),
    web.post("/controls/keys/{key_id}/revoke", actions.revoke_key),
    web.get("/reports", pages.reports_page),
    web.post("/reports/{kind:sovereignty|incident}", actions.make_report),
]


def templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("onshore.console", "templates"),
        autoescape=True,  # every value is escaped, in every template
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def console_login(settings: Settings, api: OidcVerifier | None, now: Callable[[], float]) -> OidcLogin | None:
    """The console's OIDC client: the API's verifier for that issuer (same key cache, same role
    mapping), with the console's client id as the ID token's audience; the tenant does not matter."""
    console = settings.gateway.console
    if console is None or console.oidc is None:
        return None
    assert api is not None  # settings checked that the issuer is configured
    configured = settings.file.identity.oidc[console.oidc.issuer]
    issuer = api.issuers[configured.issuer]
    rules = dataclasses.replace(issuer.rules, audiences=frozenset({console.oidc.client_id}))
    mapping = dataclasses.replace(issuer.mapping, tenant_fixed="console", tenant=None)
    secret = settings.secrets.get("#console-oidc")
    return OidcLogin(
        IssuerVerifier(rules, issuer.keys, mapping),
        console.oidc.client_id,
        None if secret is None else secret.value,
        console.oidc.redirect_url,
        tuple(console.oidc.scopes),
        console.oidc.token_auth,
        now,
    )


def _shared_sessions(parts: ConsoleParts, config: ConsoleSettings, now: Callable[[], float]) -> RedisSessions | None:
    """With gateway.redis, sessions live there: a browser stays signed in whichever replica answers."""
    redis = parts.settings.gateway.redis
    if redis is None:
        return None
    url = parts.settings.secrets["#redis"].value
    return RedisSessions(url, redis.prefix, config.session_idle_seconds, config.session_max_seconds, now)


def build_console(
    parts: ConsoleParts, config: ConsoleSettings, oidc: OidcLogin | None, now: Callable[[], float]
) -> web.Application:
    app = web.Application(middlewares=[guard], client_max_size=64 * 1024)
    app.add_routes(ROUTES)
    app.router.add_static("/static", str(resources.files("onshore.console").joinpath("static")))
    shared = _shared_sessions(parts, config, now)
    console = Console(
        parts,
        shared or Sessions(config.session_idle_seconds, config.session_max_seconds, now),
        shared or PendingLogins(now),
        templates(),
        Worker("onshore-console"),
        config.secure_cookies,
        oidc,
    )
    app[CONSOLE] = console

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        if oidc is not None:
            console.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        yield
        await actions.stop_tasks(console)
        await console.jobs.aclose()  # a verification or report in progress finishes first
        if console.http is not None:
            await console.http.close()
        if shared is not None:
            await shared.aclose()

    app.cleanup_ctx.append(lifespan)
    return app


@dataclasses.dataclass(slots=True)
class ConsoleListener:
    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            await self.runner.cleanup()


async def start_console(app: web.Application, config: ConsoleSettings) -> ConsoleListener:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    port = int(runner.addresses[0][1])
    log.info("console listening on http://%s:%s", config.host, port)
    return ConsoleListener(runner, config.host, port)


CONSOLE_LISTENER = web.AppKey("console_listener", ConsoleListener)
