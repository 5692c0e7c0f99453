"""The admin console in a real browser: Playwright (Python) driving Debian's Chromium.

One gateway (four backends in three countries, shared Redis with its own prefix, the console on its
own loopback port) and one OpenID provider serve the module; one Chromium serves the whole session,
each test in a fresh browser context (its own cookies). Without /usr/bin/chromium the tests skip and
say why, except under CI (.ci/run sets CI=1), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openai
import pytest

from onshore.console.server import CONSOLE_LISTENER
from onshore.settings import Settings, parse_settings
from tests.support.gateway import RunningGateway, add_key, backend, rules
from tests.support.oidc_provider import ClientSpec, IssuerSpec, OidcProvider, UserSpec, node_available
from tests.support.upstream import FakeUpstream

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = Path("/usr/bin/chromium")
ADMIN_KEY = "console-admin-key-for-tests-0123456789"
CLIENT_ID = "onshore-console"
CLIENT_SECRET = "console-client-secret"
BACKENDS = ("jp-tokyo", "jp-osaka", "us-east", "de-frankfurt")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (under CI the browser tests must run: install chromium, see .ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="package")  # not the session: sync Playwright keeps an event loop running
def browser() -> Iterator[Browser]:  # in the main thread while open, which breaks later asyncio.run
    if not CHROMIUM.exists():
        _unavailable("needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("needs the playwright package (requirements/dev.lock)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Screenshots of every page, kept after the run: in $ONSHORE_CONSOLE_ARTIFACTS, else a temporary
    directory (onshore-console-*)."""
    path = Path(os.environ.get("ONSHORE_CONSOLE_ARTIFACTS") or tempfile.mkdtemp(prefix="onshore-console-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ConsoleGateway(RunningGateway):
    @property
    def console_url(self) -> str:
        assert self._runner is not None
        return self._runner.app[CONSOLE_LISTENER].url


@dataclass
class World:
    gateway: ConsoleGateway
    settings: Settings
    upstreams: dict[str, FakeUpstream]
    idp: OidcProvider | None
    chat_key: str
    auditor_key: str
    clients: dict[str, openai.OpenAI] = field(default_factory=dict)

    @property
    def console(self) -> str:
        return self.gateway.console_url

    def client(self, key: str | None = None) -> openai.OpenAI:
        key = key or self.chat_key
        if key not in self.clients:
            self.clients[key] = openai.OpenAI(base_url=self.gateway.url + "/v1", api_key=key, max_retries=0)
        return self.clients[key]

    def received(self) -> dict[str, int]:
        return {name: len(u.received) for name, u in self.upstreams.items()}


def _raw_settings(data_dir: Path, upstreams: dict[str, FakeUpstream], console: dict[str, Any]) -> dict[str, Any]:
    facts = {
        "jp-tokyo": ("JP", "Sakura Cloud KK", "JP", "tokyo-1", 0),
        "jp-osaka": ("JP", "Kansai Compute KK", "JP", "osaka-1", 0),
        "us-east": ("US", "Hyperscaler Inc", "US", "us-east-1", 30),
        "de-frankfurt": ("DE", "Euro Cloud GmbH", "DE", "eu-central-1", 0),
    }
    backends = {
        name: backend(
            upstreams[name].base_url,
            j,
            operator=op,
            operator_jurisdiction=oj,
            region=region,
            retention_days=days,
        )
        for name, (j, op, oj, region, days) in facts.items()
    }
    jp_only = {"jurisdictions": ["JP"], "audit_content": "digest"}
    return {
        "gateway": {
            "data_dir": str(data_dir),
            "key_refresh_seconds": 0.05,
            "admin_key_env": "ADMIN_KEY",
            "redis": {"url_env": "R", "prefix": f"onshore-console-{uuid.uuid4().hex[:8]}:"},
            "audit": {"checkpoint_interval_seconds": 0.5},
            "console": console,
        },
        "backends": backends,
        "models": {"chat": {"routes": [{"backend": n, "model": "m"} for n in BACKENDS]}},
        "tenants": {
            "acme": {
                **rules(
                    ["JP", "US", "DE"],
                    confidential={**jp_only, "operator_jurisdictions": ["JP"]},
                    personal=jp_only,
                    special_care=jp_only,
                ),
                "home_jurisdictions": ["JP"],
            },
            "globex": rules(["DE", "JP"]),
        },
    }


def _issuer(console_port: int) -> IssuerSpec:
    return IssuerSpec(
        "corp",
        "/corp",
        "api://onshore",
        [ClientSpec(CLIENT_ID, CLIENT_SECRET, redirect_uris=[f"http://127.0.0.1:{console_port}/auth/callback"])],
        users=[
            UserSpec("alice", {"name": "Alice Admin", "roles": ["onshore-admin"]}),
            UserSpec("oscar", {"name": "Oscar Operator", "roles": ["onshore-operator"]}),
            UserSpec("audrey", {"name": "Audrey Auditor", "roles": ["onshore-auditor"]}),
            UserSpec("nobody", {"name": "No Role", "roles": ["staff"]}),
        ],
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("console")
    upstreams = {name: FakeUpstream(name).start() for name in BACKENDS}
    console_port = free_port()
    idp = OidcProvider([_issuer(console_port)]).start() if node_available() else None
    console: dict[str, Any] = {"host": "127.0.0.1", "port": console_port, "secure_cookies": False}
    identity: dict[str, Any] = {}
    if idp is not None:
        console["oidc"] = {
            "issuer": "corp",
            "client_id": CLIENT_ID,
            "client_secret_env": "CONSOLE_SECRET",
            "redirect_url": f"http://127.0.0.1:{console_port}/auth/callback",
        }
        identity["oidc"] = {
            "corp": {
                "issuer": idp.issuer("corp"),
                "audience": "api://onshore",
                "jwks_url": idp.jwks_url("corp"),
                "tenant": {"fixed": "acme"},
                "roles": {
                    "claim": "roles",
                    "values": {"onshore-admin": "admin", "onshore-operator": "operator", "onshore-auditor": "auditor"},
                },
            }
        }
    environ = {"ADMIN_KEY": ADMIN_KEY, "R": "redis://127.0.0.1:6379/0", "CONSOLE_SECRET": CLIENT_SECRET}
    raw = _raw_settings(data_dir, upstreams, console)
    first = parse_settings({**raw, "identity": identity}, "test", environ)
    chat_key = add_key(first, "acme")
    auditor_key = add_key(first, "acme")
    auditor_id = auditor_key.split("_")[1]
    identity["api_key_roles"] = {auditor_id: ["auditor"]}
    settings = parse_settings({**raw, "identity": identity}, "test", environ)
    gateway = ConsoleGateway(settings)
    gateway.start()
    world = World(gateway, settings, upstreams, idp, chat_key, auditor_key)
    try:
        yield world
    finally:
        for client in world.clients.values():
            client.close()
        gateway.stop()
        assert gateway.leftover_tasks == [], "the console's listener and jobs stop with the gateway"
        if idp is not None:
            idp.stop()
        for upstream in upstreams.values():
            upstream.stop()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(locale="ja-JP", viewport={"width": 1400, "height": 900})
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def sign_in_with_key(page: Page, world: World, key: str = ADMIN_KEY) -> None:
    page.goto(world.console + "/login")
    page.fill("input[name=key]", key)
    page.click("form[action='/login/key'] button")
    page.wait_for_url("**/residency")


def wait_until(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def keep(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
