"""Composition root: build_app(settings) wires stores, clients and stages; the lifespan owns every
background task (key refresh, audit checkpoints) and closes everything on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import aiohttp
from aiohttp import web

from onshore.clock import Clock, SystemClock
from onshore.console.parts import ConsoleParts
from onshore.console.server import CONSOLE_LISTENER, build_console, console_login, start_console
from onshore.console.web import CONSOLE
from onshore.decide.classes import DATA_CLASSES
from onshore.decide.declared import build_policy
from onshore.decide.policy import Policy
from onshore.edge.handlers import GATEWAY
from onshore.edge.routes import ROUTES
from onshore.edge.state import Gateway
from onshore.events.burst import BurstDetector
from onshore.events.model import NO_EVENTS, SecurityEvents
from onshore.generation import Built, KeyTable, Serving, Shared, build_generation, build_protector
from onshore.identify.authenticator import KeyIndex
from onshore.identify.oidc.claims import PRESETS, ClaimMapping, Requirement, ValueMap, claim_for
from onshore.identify.oidc.jwks import KeyCache, RefreshPolicy
from onshore.identify.oidc.token import MAX_TOKEN_BYTES, KeySet
from onshore.identify.oidc.verifier import IssuerRules, IssuerVerifier, OidcVerifier
from onshore.identify.ports import KeyStore
from onshore.metrics import Metrics
from onshore.observe.build import open_access_log, start_tracer
from onshore.protect.protector import Protector
from onshore.prove.ports import AuditStore
from onshore.prove.signer import Signer
from onshore.prove.witness import Witness
from onshore.prove.writer import AuditWriter, WitnessUnavailable
from onshore.reload import CONTROL_DIR, Reloader
from onshore.route.backends.embedded.model import EmbeddedModel, default_model_path
from onshore.route.backends.embedded.server import EmbeddedServer
from onshore.route.breakers import Breakers
from onshore.route.jwks_fetch import JwksFetchError, fetch_jwks
from onshore.route.transport import Transport, make_transport
from onshore.service.conversations import Conversations, Sealer
from onshore.service.pipeline import Pipeline
from onshore.service.ports import ResponseStore
from onshore.service.steps import Steps
from onshore.settings import (
    BUILT_IN,
    EmbeddedSettings,
    OidcIssuerSettings,
    Settings,
    load_settings,
    responses_key_bytes,
)
from onshore.siem.build import build_emitter
from onshore.store.keyfile import load_or_create_secret_key, load_or_create_signing_key
from onshore.store.postgres import PostgresStore
from onshore.store.redis_controls import BackendSwitchWatcher, RedisControls
from onshore.store.responses_postgres import PostgresResponses
from onshore.store.responses_sqlite import SqliteResponses
from onshore.store.sqlite import SqliteStore
from onshore.worker import Worker

log = logging.getLogger("onshore")

DB_FILE = "onshore.db"
SIGNING_KEY_FILE = "signing-key.pem"
RESPONSES_DB_FILE = "responses.db"  # kept Responses turns (SQLite), sealed under RESPONSES_KEY_FILE
RESPONSES_KEY_FILE = "responses.key"
AUDIT_PROBE_SECONDS = 0.5  # how soon /readyz turns green again once the audit store takes writes
JWKS_STARTUP_SECONDS = 5.0  # the first fetch of every issuer's keys, before serving
EVENTS_FLUSH_SECONDS = 2.0  # at shutdown, how long queued security events may take to go out
KEY_WAIT_SECONDS = 1.0  # the longest a request waits for the key fetch its token's unknown key id asked for
RELOADER = web.AppKey("reloader", Reloader)  # reloads this gateway's config (serve: also on SIGHUP)


class BackendStartError(Exception):
    """A backend that could not start (start-up stops), named with what it needed."""


async def _start_embedded(settings: Settings, stack: contextlib.AsyncExitStack) -> dict[str, Transport]:
    """Load each embedded model (on its own thread) and serve it on a private Unix socket.

    Each part is registered on `stack` as soon as it exists, so a failure half-way (a second model
    that will not load) still closes what was started, in reverse order.
    """
    transports: dict[str, Transport] = {}
    for name, backend in settings.file.backends.items():
        if backend.kind != "embedded":
            continue
        options = backend.embedded or EmbeddedSettings()
        try:
            path = Path(options.model_path) if options.model_path else default_model_path()
            model = EmbeddedModel(path, options.threads, options.context_tokens, options.embeddings)
            stack.push_async_callback(model.aclose)
            await model.load()
        except Exception as exc:  # any failure to load is this backend's: name it
            where = options.model_path or "the default model"
            raise BackendStartError(f"backends.{name}: cannot load {where}: {exc}") from exc
        runner = web.AppRunner(EmbeddedServer(model, options.max_queue).app(), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        socket_path = settings.data_dir / f"embedded-{name}.sock"
        socket_path.unlink(missing_ok=True)
        await web.UnixSite(runner, str(socket_path)).start()
        socket_path.chmod(0o600)
        upstream = settings.gateway.upstream
        transport = make_transport(upstream.client, upstream.max_connections, str(socket_path))
        stack.push_async_callback(transport.close)
        transports[name] = transport
        log.info("embedded backend %s: %s", name, path.name)
    return transports


def _secret(settings: Settings, name: str) -> str | None:
    secret = settings.secrets.get(name)
    return None if secret is None else secret.value


@runtime_checkable
class Store(KeyStore, AuditStore, Protocol):
    """The gateway's database: both ports, plus the thread its blocking calls run on, the probes
    readiness uses, and closing (SqliteStore, PostgresStore, MemoryStore)."""

    worker: Worker

    def ping(self) -> None:
        """A cheap read; raises while the database cannot be read."""
        ...

    def probe_write(self, now: float) -> None:
        """Commit one small write outside the chain; raises while the database cannot take writes."""
        ...

    def close(self) -> None: ...

    async def aclose(self) -> None:
        """Drain the worker (every call submitted finishes), then close."""
        ...


def open_store(settings: Settings) -> Store:
    """SQLite under the data directory, or the shared PostgreSQL database (refuses a schema behind)."""
    if settings.gateway.storage == "postgresql":
        return PostgresStore(settings.secrets["#storage"].value)
    return SqliteStore(settings.data_dir / DB_FILE, settings.gateway.audit.durability)


def open_response_store(settings: Settings) -> ResponseStore:
    """Where kept Responses turns go: a file of their own under the data directory, or the shared database."""
    if settings.gateway.storage == "postgresql":
        return PostgresResponses(settings.secrets["#storage"].value)
    return SqliteResponses(settings.data_dir / RESPONSES_DB_FILE, settings.gateway.audit.durability)


def responses_key(settings: Settings) -> bytes:
    """The key kept Responses turns are sealed with: from gateway.responses.key_env (shared by every
    replica on one database), else data_dir/responses.key (made on first start, mode 0600)."""
    shared = settings.secrets.get("#responses-key")
    if shared is not None:
        key = responses_key_bytes(shared.value)
        assert key is not None  # checked when the settings were read
        return key
    return load_or_create_secret_key(settings.data_dir / RESPONSES_KEY_FILE)


def _conversations(
    settings: Settings, audit: AuditWriter, clock: Clock, stack: contextlib.AsyncExitStack
) -> Conversations | None:
    config = settings.gateway.responses
    if not config.store:
        return None
    store = open_response_store(settings)
    stack.push_async_callback(store.aclose)
    sealer = Sealer(responses_key(settings))
    conversations = Conversations(store, sealer, config.retention_days * 86400, audit, clock.now, Steps.new_id)
    _background(stack, _purge_responses(conversations, config.purge_interval_seconds))
    return conversations


async def _purge_responses(conversations: Conversations, interval: float) -> None:
    """Delete expired Responses turns (a read also deletes the expired turn it meets)."""
    while True:
        try:
            purged = await conversations.purge()
            if purged:
                log.info("purged %d expired Responses turns", purged)
        except Exception as exc:  # noqa: BLE001 - retried next interval; expired turns stay unreadable meanwhile
            log.warning("purging expired Responses turns failed: %s", type(exc).__name__)
        await asyncio.sleep(interval)


def open_controls(settings: Settings) -> RedisControls | None:
    if settings.gateway.redis is None:
        return None
    return RedisControls(settings.secrets["#redis"].value, prefix=settings.gateway.redis.prefix)


def load_signer(settings: Settings) -> Signer:
    return Signer(load_or_create_signing_key(settings.data_dir / SIGNING_KEY_FILE))


async def _refresh_keys(
    store: Store,
    keys: KeyTable,
    current: Callable[[], KeyIndex],
    interval: float,
    max_staleness: float,
    gateway: Gateway,
) -> None:
    """Reload the key index whenever the key table's revision changes (create, revoke). The listing
    is kept in `keys` for the next config generation; `current` is the serving generation's index.

    If the key store stays unreadable for longer than `max_staleness`, the index is marked stale and
    every request is refused: a key revoked meanwhile must not keep working indefinitely.
    """
    last_ok = time.monotonic()
    while True:
        await asyncio.sleep(interval)
        try:
            revision = await store.worker.run(store.keys_revision)
            if revision != keys.revision:
                records = await store.worker.run(store.list_keys)
                keys.records, keys.revision = records, revision
                current().replace(records)
            last_ok = time.monotonic()
            current().stale = False
            gateway.problems.pop("keys", None)
        except Exception as exc:  # noqa: BLE001 - keep serving known keys for a bounded time
            gateway.problems["keys"] = f"key store unreadable: {type(exc).__name__}"
            current().stale = time.monotonic() - last_ok > max_staleness
            log.warning("key refresh failed: %s", type(exc).__name__)


def claim_mapping(oidc: OidcIssuerSettings) -> ClaimMapping:
    """The identify stage's view of one issuer's claim mapping (settings has checked it)."""
    preset = PRESETS[oidc.preset]
    t, f, m, r = oidc.tenant, oidc.floor, oidc.models, oidc.roles
    return ClaimMapping(
        subject=(oidc.subject_claim,) if oidc.subject_claim else preset.subject,
        classes=DATA_CLASSES,
        tenant_fixed=t.fixed,
        tenant=ValueMap(claim_for(oidc.preset, t.claim, preset.tenant, "tenant"), t.values) if t.values else None,
        floor_default=f.default,
        floor=ValueMap(claim_for(oidc.preset, f.claim, preset.roles, "floor"), f.values) if f.values else None,
        models=None
        if m is None
        else ValueMap(
            claim_for(oidc.preset, m.claim, preset.roles, "models"), {k: tuple(v) for k, v in m.values.items()}
        ),
        roles=None if r is None else ValueMap(claim_for(oidc.preset, r.claim, preset.roles, "roles"), r.values),
        require=tuple(Requirement(q.claim, frozenset(q.any_of)) for q in oidc.require),
        entra_overage=oidc.preset.startswith("entra"),
    )


def build_oidc(settings: Settings, clock: Clock) -> OidcVerifier | None:
    """One verifier per configured issuer, each with its own key cache (filled by _refresh_jwks)."""
    issuers = []
    for name, oidc in settings.file.identity.oidc.items():
        algorithms = frozenset(oidc.algorithms)
        audiences = frozenset([oidc.audience] if isinstance(oidc.audience, str) else oidc.audience)
        policy = RefreshPolicy(oidc.jwks_refresh_seconds, oidc.jwks_min_refresh_seconds, oidc.jwks_max_stale_seconds)
        issuers.append(
            IssuerVerifier(
                IssuerRules(name, oidc.issuer, audiences, algorithms, oidc.leeway_seconds),
                KeyCache(name, oidc.jwks_url, algorithms, policy, clock.monotonic),
                claim_mapping(oidc),
            )
        )
    return OidcVerifier(issuers, clock.now) if issuers else None


class _KeyFetches:
    """One gateway's JWKS fetch signals, per issuer: a request whose token names a key id not yet
    fetched waits (bounded) for the fetch it asked for (Steps.caller), instead of being refused."""

    def __init__(self) -> None:
        self._done: dict[str, asyncio.Event] = {}

    def _event(self, cache: KeySet) -> asyncio.Event:
        return self._done.setdefault(cache.name, asyncio.Event())

    def finished(self, cache: KeySet) -> None:
        event = self._event(cache)
        event.set()  # wakes every waiter of this round; cleared for the next
        event.clear()

    async def wait(self, cache: KeySet) -> None:
        """Only when that fetch comes within KEY_WAIT_SECONDS: after a flood of made-up key ids has
        caused its one fetch, the next is a min interval away and the rest are refused at once."""
        if cache.seconds_until_fetch() > KEY_WAIT_SECONDS:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event(cache).wait(), KEY_WAIT_SECONDS)


async def _fetch_into(cache: KeyCache, session: aiohttp.ClientSession, fetches: _KeyFetches) -> None:
    cache.attempting()
    try:
        cache.install(await fetch_jwks(session, cache.url))
    except JwksFetchError as exc:
        cache.failed(str(exc))
    if cache.last_error is not None:
        log.warning("JWKS of issuer %s: %s", cache.name, cache.last_error)
    fetches.finished(cache)


async def _refresh_jwks(cache: KeyCache, session: aiohttp.ClientSession, fetches: _KeyFetches) -> None:
    """Keep one issuer's keys fresh: periodically, early when a token names an unknown kid (at most
    once per min interval: a flood of made-up kids causes one fetch, not a storm), and every min
    interval while the IdP fails (cached keys serve for their bounded time meanwhile)."""
    wake = asyncio.Event()
    cache.wake = wake.set
    while True:
        delay = cache.seconds_until_fetch()
        if delay > 0:
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), delay)
            continue
        await _fetch_into(cache, session, fetches)


async def _probe_audit(store: Store, audit: AuditWriter, clock: Clock, gateway: Gateway, interval: float) -> None:
    """While the last audit write failed, probe the store with a write outside the chain.

    The writer only learns that the store works again from a successful append, i.e. a request; but a
    load balancer sends none to a replica whose /readyz fails, so without this a fixed disk or a
    restarted database would keep the replica out of rotation for good. Requests stay fail-closed
    either way: a probe only changes what /readyz says, never whether an answer needs its record.
    """
    while True:
        await asyncio.sleep(interval)
        if audit.healthy:
            gateway.audit_writable = False
            continue
        try:
            await store.worker.run(store.probe_write, clock.now())
            gateway.audit_writable = True
        except Exception as exc:  # noqa: BLE001 - the store is still failing; readiness keeps saying so
            gateway.audit_writable = False
            log.debug("audit write probe failed: %s", type(exc).__name__)


async def _checkpoints(audit: AuditWriter, clock: Clock, interval: float, gateway: Gateway) -> None:
    """A failed checkpoint is retried next interval and shows in readiness until then. So does a
    failed witness write: it never blocks requests (they are in the chain), but it leaves the newest
    records without their out-of-database anchor against truncation."""
    while True:
        await asyncio.sleep(interval)
        try:
            await audit.checkpoint(clock.now())
            gateway.problems.pop("checkpoint", None)
            gateway.problems.pop("witness", None)
        except WitnessUnavailable as exc:
            gateway.problems.pop("checkpoint", None)
            gateway.problems["witness"] = str(exc)
            log.warning("audit witness write failed: %s", exc)
        except Exception as exc:  # noqa: BLE001 - retried next interval; readiness shows it
            gateway.problems["checkpoint"] = f"checkpoint failed: {type(exc).__name__}"
            log.warning("audit checkpoint failed: %s", type(exc).__name__)


def build_app(
    settings: Settings,
    clock: Clock | None = None,
    on_started: Callable[[], None] | None = None,
    reload_from: Callable[[], Settings] | None = None,
) -> web.Application:
    """The gateway app. `on_started` runs once every part has started (backends loaded, stores open),
    before the first request: `onshore serve` creates a first start's API key there. `reload_from`
    (serve: the config as it was found at start) turns on reload by SIGHUP; app[RELOADER] reloads
    in-process either way."""
    clock = clock or SystemClock()
    gw = settings.gateway
    app = web.Application(
        client_max_size=gw.max_body_bytes + 1,
        # Room for a whole bearer JWT, so the verifier refuses an oversized one and says why.
        handler_args={"max_field_size": MAX_TOKEN_BYTES + 1024},
    )
    app.add_routes(ROUTES)
    policy = build_policy(settings.file)
    protector = build_protector(settings)  # loads the name dictionary once, at start-up

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        # Every part is registered on the stack as it is made; teardown runs in reverse and every
        # step runs even if an earlier one fails. Background tasks stop first, the store closes last,
        # after its worker thread has finished every call (nothing runs inside a closed connection).
        async with contextlib.AsyncExitStack() as stack:
            app[GATEWAY] = await _start(settings, policy, protector, clock, stack, app, on_started, reload_from)
            yield

    app.cleanup_ctx.append(lifespan)
    return app


async def _start(
    settings: Settings,
    policy: Policy,
    protector: Protector | None,
    clock: Clock,
    stack: contextlib.AsyncExitStack,
    app: web.Application,
    on_started: Callable[[], None] | None = None,
    reload_from: Callable[[], Settings] | None = None,
) -> Gateway:
    gw = settings.gateway
    store = open_store(settings)
    stack.push_async_callback(store.aclose)
    signer = load_signer(settings)
    revision = store.keys_revision()  # before the listing: a change in between is caught by the refresher
    keys = KeyTable(store.list_keys(), revision)
    witness = Witness(settings.data_dir / gw.audit.witness_file)  # closed after the final checkpoint (_seal)
    stack.callback(witness.close)
    metrics = Metrics()
    events = _start_events(settings, clock, metrics, stack)
    # SQLite without fsync commits in microseconds: write on the loop. PostgreSQL and fsync: the store's thread.
    audit = AuditWriter(
        store,
        signer,
        store.worker.run,
        inline=gw.storage == "sqlite" and gw.audit.durability == "normal",
        witness=witness,
        events=events,
        now=clock.now,
    )
    await audit.start()
    stack.push_async_callback(_seal, audit, clock)
    embedded = await _start_embedded(settings, stack)
    upstream = make_transport(gw.upstream.client, gw.upstream.max_connections)
    stack.push_async_callback(upstream.close)
    session = aiohttp.ClientSession(skip_auto_headers=("User-Agent",))  # sign-ins and key fetches
    stack.push_async_callback(session.close)
    controls = open_controls(settings)
    watcher = breakers = None
    if controls is not None:
        stack.push_async_callback(controls.aclose)
        assert gw.redis is not None
        watcher = BackendSwitchWatcher(controls, fail_closed=gw.redis.kill_switch_when_unreachable == "closed")
        await watcher.refresh()  # start with the cluster's kill-switch view, not an empty one
        breakers = Breakers(controls, list(policy.backends), clock.now, events)
        stack.push_async_callback(breakers.drain)
    oidc = build_oidc(settings, clock)
    fetches = _KeyFetches()
    if oidc is not None:  # keys fetched before serving; an IdP down at start-up only fails its own tokens
        with contextlib.suppress(TimeoutError):
            first = (_fetch_into(v.keys, session, fetches) for v in oidc.issuers.values())
            await asyncio.wait_for(asyncio.gather(*first), JWKS_STARTUP_SECONDS)
    conversations = _conversations(settings, audit, clock, stack)
    shared = Shared(
        session,
        upstream,
        embedded,
        audit,
        signer,
        clock,
        metrics,
        events,
        keys,
        controls=controls,
        watcher=watcher,
        breakers=breakers,
        oidc=oidc,
        await_keys=fetches.wait if oidc is not None else None,
        auth_bursts=_auth_bursts(settings),
        access=open_access_log(settings, stack),  # observe: closed at teardown
        tracer=start_tracer(settings, metrics, stack),  # observe: None (telemetry off) unless configured
        conversations=conversations,
    )
    built = build_generation(settings, shared, policy, protector)
    if built.limits is not None:
        stack.push_async_callback(built.limits.drain)
    pipeline = Pipeline(built.generation, conversations)
    serving = Serving(built, pipeline, shared)
    stack.push_async_callback(serving.drain)  # earlier generations' token charges, before Redis closes
    gateway = Gateway(
        pipeline,
        audit,
        signer,
        metrics,
        gw.max_body_bytes,
        int(clock.now()),
        controls=controls,
        watcher=watcher,
        admin_key=_secret(settings, "#admin"),
        admin_roles=_admin_roles(settings),
        metrics_token=_secret(settings, "#metrics"),
        stream_kill=gw.redis.streams_on_kill if gw.redis else "finish",
        lean_http=gw.http_server == "onshore",
    )
    serving.on_swap.append(lambda new: setattr(gateway, "admin_roles", _admin_roles(new.settings)))
    # Before the pid file exists (on_started): a SIGHUP from then on reloads, never ends the process.
    app[RELOADER] = _reloader(settings, serving, audit, clock, reload_from, stack, events)
    if on_started is not None:
        on_started()
        keys.records = store.list_keys()
        serving.current_index().replace(keys.records)  # a key it created works from the first request
    refresh = _refresh_keys(
        store, keys, serving.current_index, gw.key_refresh_seconds, gw.key_max_staleness_seconds, gateway
    )
    _background(stack, refresh)
    _background(stack, _checkpoints(audit, clock, gw.audit.checkpoint_interval_seconds, gateway))
    _background(stack, _probe_audit(store, audit, clock, gateway, AUDIT_PROBE_SECONDS))
    for verifier in oidc.issuers.values() if oidc is not None else ():
        _background(stack, _refresh_jwks(verifier.keys, session, fetches))
    if watcher is not None:
        _background(stack, watcher.run())
    if breakers is not None:
        _background(stack, breakers.run())
    if gw.console is not None:  # the admin console, on its own listener; stopped before the store closes
        parts = _console_parts(settings, gateway, store, breakers)
        console = build_console(parts, gw.console, console_login(settings, oidc, clock.now), clock.now)
        serving.on_swap.append(_console_follows(console, parts))
        app[CONSOLE_LISTENER] = listener = await start_console(console, gw.console)
        stack.push_async_callback(listener.stop)
    return gateway


def _admin_roles(settings: Settings) -> bool:
    """API keys or tokens may carry admin-side roles (identity config)."""
    identity = settings.file.identity
    return bool(identity.api_key_roles) or any(o.roles is not None for o in identity.oidc.values())


def _reloader(
    settings: Settings,
    serving: Serving,
    audit: AuditWriter,
    clock: Clock,
    reload_from: Callable[[], Settings] | None,
    stack: contextlib.AsyncExitStack,
    events: SecurityEvents,
) -> Reloader:
    """Reload on SIGHUP when `onshore serve` asked for it; cancelled reloads and the handler go first
    at shutdown (registered last)."""
    source = settings.source
    load = reload_from or (lambda: load_settings(None if source == BUILT_IN else source))
    control_dir = settings.data_dir / CONTROL_DIR if reload_from is not None else None
    reloader = Reloader(serving, load, audit.append, clock.now, control_dir, events=events)
    stack.push_async_callback(reloader.aclose)
    if reload_from is not None:
        stack.callback(reloader.install(asyncio.get_running_loop()))
    return reloader


def _console_follows(console_app: web.Application, parts: ConsoleParts) -> Callable[[Built], None]:
    """After a reload the console shows (and checks against) the config now serving."""

    def follow(new: Built) -> None:
        console_app[CONSOLE].parts = dataclasses.replace(parts, settings=new.settings, policy=new.policy)

    return follow


def _start_events(
    settings: Settings, clock: Clock, metrics: Metrics, stack: contextlib.AsyncExitStack
) -> SecurityEvents:
    """The security-event emitter and its drainer (off the request path), or no events at all."""
    dropped = metrics.security_events_dropped
    emitter = build_emitter(settings, clock.now, lambda sink: dropped.labels(sink).inc())
    if emitter is None:
        return NO_EVENTS
    _background(stack, emitter.run())
    stack.push_async_callback(emitter.flush, EVENTS_FLUSH_SECONDS)  # runs before the drainer stops
    return emitter


def _auth_bursts(settings: Settings) -> BurstDetector | None:
    config = settings.gateway.security_events
    return None if config is None else BurstDetector(config.auth_burst.failures, config.auth_burst.window_seconds)


def _console_parts(settings: Settings, gateway: Gateway, store: Store, breakers: Breakers | None) -> ConsoleParts:
    """The console's view of the running gateway: the same policy, kill switch, store and chain."""
    return ConsoleParts(
        settings=settings,
        policy=gateway.decisions.policy,
        store=store,
        run=store.worker.run,
        open_reader=lambda: open_store(settings),
        identify=gateway.pipeline.identify,
        audit_append=gateway.audit.append,
        record_admin=gateway.pipeline.record_admin,
        audit_head=lambda: gateway.audit.head,
        public_keys={gateway.signer.kid: gateway.signer.public_key},
        switches=gateway.controls,
        breaker_open=(lambda name: not breakers.allows(name)) if breakers is not None else (lambda _name: False),
        admin_key=gateway.admin_key,
    )


def _background(stack: contextlib.AsyncExitStack, coro: Coroutine[Any, Any, None]) -> None:
    """Run `coro` as a task owned by `stack`: cancelled and awaited at teardown, before anything it uses."""
    task = asyncio.get_running_loop().create_task(coro)

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop)


async def _seal(audit: AuditWriter, clock: Clock) -> None:
    """Wait for the last writes, then sign the whole chain (and witness it) on a clean shutdown."""
    await audit.close()
    try:
        await audit.checkpoint(clock.now())
    except Exception as exc:  # noqa: BLE001 - shutting down anyway; say so
        log.warning("final audit checkpoint failed: %r", exc)
