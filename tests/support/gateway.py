"""Run the real gateway (build_app) on a loopback port in a background thread."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from onshore.app import build_app, open_store
from onshore.clock import Clock
from onshore.edge.runner import GatewayRunner
from onshore.identify.keys import KeyRecord, generate_key
from onshore.settings import Settings, parse_settings
from tests.support.access_audit import suite_access_log


def make_settings(
    data_dir: Path,
    backends: dict[str, Any],
    models: dict[str, Any],
    tenants: dict[str, Any],
    gateway: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    gw: dict[str, Any] = {"data_dir": str(data_dir), "key_refresh_seconds": 0.05, **(gateway or {})}
    suite_log = suite_access_log()
    if suite_log is not None and "access_log" not in gw:  # every test gateway adds to the suite's access log
        gw["access_log"] = {"format": "json", "path": str(suite_log)}
    raw = {
        "gateway": gw,
        "backends": backends,
        "models": models,
        "tenants": tenants,
    }
    return parse_settings(raw, "test", environ or {})


def backend(base_url: str, jurisdiction: str = "JP", **facts: Any) -> dict[str, Any]:
    return {
        "kind": "openai",
        "base_url": base_url,
        "jurisdiction": jurisdiction,
        "operator": facts.pop("operator", "Local KK"),
        "operator_jurisdiction": facts.pop("operator_jurisdiction", jurisdiction),
        "retention_days": facts.pop("retention_days", 0),
        "trains_on_inputs": facts.pop("trains_on_inputs", False),
        **facts,
    }


def rules(jurisdictions: list[str], audit_content: str = "digest", **overrides: Any) -> dict[str, Any]:
    """The same rule for every data class, with per-class overrides."""
    classes = {
        c: {"jurisdictions": jurisdictions, "audit_content": audit_content}
        for c in ("public", "internal", "confidential", "personal", "special_care")
    }
    for data_class, rule in overrides.items():
        classes[data_class] = rule
    return {"classes": classes}


def add_key(settings: Settings, tenant: str, floor: str = "public", models: tuple[str, ...] | None = None) -> str:
    store = open_store(settings)
    try:
        new = generate_key()
        store.add_key(KeyRecord(new.key_id, "test", tenant, floor, models, time.time(), None, new.hash))
        return new.plaintext
    finally:
        store.close()


class RunningGateway:
    def __init__(
        self, settings: Settings, clock: Clock | None = None, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._loop = loop or asyncio.new_event_loop()  # `onshore serve` runs on uvloop: pass one to test that
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._error: BaseException | None = None
        self.port = 0
        self.leftover_tasks: list[str] = []
        self._thread = threading.Thread(target=self._run, name="onshore-gateway", daemon=True)

    @property
    def http_server(self) -> web.Server | None:
        """The low-level server the runner made (edge/runner.py: the lean one unless configured off)."""
        return self._runner.server if self._runner is not None else None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RunningGateway:
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("gateway did not start")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            app = build_app(self.settings, self._clock)
            self._runner = GatewayRunner(app, access_log=None, handler_cancellation=False)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            self.port = self._runner.addresses[0][1]
        except BaseException as exc:  # surfaced to the test thread by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    async def _shutdown(self) -> None:
        """What `web.run_app` does on exit: clean up the app, then let the loop finish the closes
        that cleanup scheduled. Tasks still alive after cleanup are work nobody owned: listed in
        `leftover_tasks` (the lifecycle test expects none), then cancelled."""
        if self._runner is not None:
            await self._runner.cleanup()
        for _ in range(3):
            await asyncio.sleep(0)  # transports close in call_soon callbacks
        current = asyncio.current_task()
        leftovers = [t for t in asyncio.all_tasks() if t is not current]
        self.leftover_tasks = [repr(t.get_coro()) for t in leftovers]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    def call(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(15)
        self._loop.close()
