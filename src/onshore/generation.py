"""One config generation: everything on the request path that a config reload may change (policy,
router, limits, personal-data protector, key roles), built whole from one Settings over the parts
started once (Shared), and the one place the serving generation is swapped (Serving).

A reload reuses what has not changed: the upstream connection pool (one session for every backend,
so the pools of backends that remain keep their connections), Entra token providers whose settings
are the same, the protector when gateway.protect is unchanged (the name dictionary takes seconds),
and the embedded models (reload.py refuses any change to those: restart needed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp

from onshore.clock import Clock
from onshore.decide.decision import DecisionCache
from onshore.decide.declared import build_policy
from onshore.decide.limits import Budget, LimitPolicy, RateLimit
from onshore.decide.policy import Policy
from onshore.edge.ports import SwitchView
from onshore.edge.wire import REQUEST_KEYS
from onshore.events.burst import BurstDetector
from onshore.events.model import NO_EVENTS, SecurityEvents
from onshore.identify.authenticator import KeyIndex
from onshore.identify.composite import Authenticator
from onshore.identify.keys import KeyRecord
from onshore.identify.oidc.verifier import OidcVerifier
from onshore.metrics import Metrics
from onshore.observe.access_log import AccessLog
from onshore.observe.spans import Tracer
from onshore.protect.detect import Detector, DetectorConfig
from onshore.protect.protector import Protector
from onshore.prove.signer import Signer
from onshore.prove.writer import AuditWriter
from onshore.route.backends.anthropic import AnthropicAdapter
from onshore.route.backends.azure import AzureOpenAIAdapter
from onshore.route.backends.base import Adapter
from onshore.route.backends.embedded.server import EMBEDDED_PATHS
from onshore.route.backends.openai import OpenAIAdapter
from onshore.route.backends.openai_responses import ResponsesNativeAdapter
from onshore.route.breakers import Breakers
from onshore.route.credentials import CredentialProvider, EntraTokenProvider
from onshore.route.router import Router
from onshore.route.transport import Transport
from onshore.service.chat import ChatService
from onshore.service.conversations import Conversations
from onshore.service.embeddings import EmbeddingsService
from onshore.service.limits import Limits
from onshore.service.pipeline import Generation, Pipeline
from onshore.service.ports import Counters
from onshore.service.steps import KeyWaiter, Steps
from onshore.settings import RateLimitSettings, Settings

log = logging.getLogger("onshore.reload")


def build_adapters(settings: Settings) -> dict[str, Adapter]:
    adapters: dict[str, Adapter] = {}
    for name, backend in settings.file.backends.items():
        secret = settings.secrets.get(name)
        key = secret.value if secret else None
        native = backend.responses == "native"  # the Responses API passed through (settings: openai/azure only)
        if backend.kind == "openai":
            assert backend.base_url is not None  # checked by settings
            plain = OpenAIAdapter(backend.base_url, key)
            adapters[name] = ResponsesNativeAdapter.openai(plain, backend.base_url, key) if native else plain
        elif backend.kind == "azure_openai":
            assert backend.base_url is not None
            azure = AzureOpenAIAdapter(backend.base_url, key, backend.api_version)
            adapters[name] = ResponsesNativeAdapter.azure(azure, backend.base_url, key) if native else azure
        elif backend.kind == "anthropic":
            assert backend.base_url is not None
            adapters[name] = AnthropicAdapter(backend.base_url, key, backend.anthropic_version)
        elif backend.kind == "embedded":
            # Reached over its Unix socket (app._start_embedded); the host name is never resolved.
            adapters[name] = OpenAIAdapter("http://embedded.onshore/v1", None, EMBEDDED_PATHS)
    return adapters


def build_credentials(
    settings: Settings,
    session: aiohttp.ClientSession,
    clock: Clock,
    previous: Built | None = None,
) -> dict[str, CredentialProvider]:
    """Entra sign-ins per backend; one whose settings and secret are unchanged keeps its provider
    (and the token it holds) across a reload."""
    providers: dict[str, CredentialProvider] = {}
    for name, backend in settings.file.backends.items():
        if backend.entra is None:
            continue
        secret = settings.secrets[f"{name}#entra"].value
        if previous is not None and name in previous.credentials:
            before = previous.settings.file.backends.get(name)
            same_secret = previous.settings.secrets.get(f"{name}#entra") == settings.secrets[f"{name}#entra"]
            if before is not None and before.entra == backend.entra and same_secret:
                providers[name] = previous.credentials[name]
                continue
        entra = backend.entra
        providers[name] = EntraTokenProvider(
            session, entra.authority, entra.tenant_id, entra.client_id, secret, entra.scope, clock.monotonic
        )
    return providers


def routable(watcher: SwitchView | None, breakers: Breakers | None) -> Callable[[str], bool]:
    """A backend is routable unless an operator disabled it or its shared circuit breaker is open."""
    if watcher is None or breakers is None:
        return lambda _name: True
    is_enabled, allows = watcher.is_enabled, breakers.allows
    return lambda name: is_enabled(name) and allows(name)


def why_unroutable(watcher: SwitchView | None, breakers: Breakers | None) -> Callable[[str], str]:
    """Why a backend is not routable, for the refusal: the caller learns which rule held, never secrets."""

    def why(name: str) -> str:
        if watcher is not None and watcher.fails_closed and not watcher.healthy:
            return "the shared kill-switch state (Redis) cannot be read, so every backend fails closed"
        if watcher is not None and not watcher.is_enabled(name):
            return f"'{name}' is disabled by an operator"
        if breakers is not None and not breakers.allows(name):
            return f"'{name}' has its circuit breaker open after repeated failures"
        return f"'{name}' is switched off"

    return why


def build_protector(settings: Settings) -> Protector | None:
    protect = settings.gateway.protect
    if not protect.enabled:
        return None
    config = DetectorConfig(
        allow_list=frozenset(protect.allow_list), enable_names=protect.names, min_score=protect.min_score
    )
    return Protector(Detector.from_config(config), REQUEST_KEYS)


def build_limits(settings: Settings, controls: Counters, events: SecurityEvents = NO_EVENTS) -> Limits:
    policies = {}
    for tenant, t in settings.file.tenants.items():
        if t.limits is None:
            continue
        policies[tenant] = LimitPolicy(
            per_key=_rate(t.limits.per_key),
            per_tenant=_rate(t.limits.per_tenant),
            budget=Budget(t.limits.budget.tokens, t.limits.budget.period) if t.limits.budget else None,
        )
    assert settings.gateway.redis is not None
    return Limits(controls, policies, settings.gateway.redis.limits_when_unreachable == "closed", events)


def _rate(rate: RateLimitSettings | None) -> RateLimit | None:
    return None if rate is None else RateLimit(rate.requests_per_minute, rate.tokens_per_minute)


def key_roles(settings: Settings) -> dict[str, frozenset[str]]:
    return {key_id: frozenset(roles) for key_id, roles in settings.file.identity.api_key_roles.items()}


@dataclass(slots=True)
class KeyTable:
    """The key store's latest listing, shared by every generation: the refresher (app._refresh_keys)
    updates it and the serving generation's index; a generation swapped in starts from it."""

    records: list[KeyRecord]
    revision: int


@dataclass(frozen=True, slots=True)
class Shared:
    """The parts started once, which every generation uses and no reload rebuilds."""

    session: aiohttp.ClientSession  # outbound calls off the request path: sign-ins, key fetches
    upstream: Transport  # the one upstream connection pool (route/transport.py)
    embedded: Mapping[str, Transport]  # each embedded model's Unix socket
    audit: AuditWriter
    signer: Signer
    clock: Clock
    metrics: Metrics
    events: SecurityEvents
    keys: KeyTable
    controls: Counters | None = None
    watcher: SwitchView | None = None
    breakers: Breakers | None = None
    oidc: OidcVerifier | None = None  # identity.oidc: its key caches and refresh tasks need a restart
    await_keys: KeyWaiter | None = None
    auth_bursts: BurstDetector | None = None
    access: AccessLog | None = None  # gateway.access_log: opened once at start-up
    tracer: Tracer | None = None  # gateway.telemetry: None when traces are off
    conversations: Conversations | None = None  # gateway.responses: kept turns (store and key: start-up only)


@dataclass(frozen=True, slots=True)
class Built:
    """A generation and what it was built from: what the next reload compares with and reuses."""

    settings: Settings
    policy: Policy
    generation: Generation
    index: KeyIndex
    protector: Protector | None
    credentials: Mapping[str, CredentialProvider]
    limits: Limits | None


def build_generation(
    settings: Settings,
    shared: Shared,
    policy: Policy,
    protector: Protector | None,
    previous: Built | None = None,
) -> Built:
    """The whole request path for `settings`. Synchronous and without side effects on what serves:
    nothing changes for a request until Serving.swap."""
    gw = settings.gateway
    decisions = DecisionCache(policy)
    limits = build_limits(settings, shared.controls, shared.events) if shared.controls is not None else None
    credentials = build_credentials(settings, shared.session, shared.clock, previous)
    router = Router(
        shared.upstream,
        build_adapters(settings),
        tuple(s.value for s in settings.secrets.values()),
        gw.upstream.connect_timeout_seconds,
        gw.upstream.read_timeout_seconds,
        shared.clock.monotonic,
        credentials=credentials,
        transports=shared.embedded,
        enabled=routable(shared.watcher, shared.breakers),
        why_disabled=why_unroutable(shared.watcher, shared.breakers),
    )
    index = KeyIndex(shared.keys.records, key_roles(settings))
    steps = Steps(
        Authenticator(index, shared.oidc),
        decisions,
        router,
        shared.audit,
        shared.signer,
        shared.clock,
        shared.metrics,
        protector,
        limits,
        shared.breakers,
        await_keys=shared.await_keys,
        events=shared.events,
        auth_bursts=shared.auth_bursts,
        access=shared.access,
        tracer=shared.tracer,
    )
    chat = ChatService(
        steps,
        cut_disabled_streams=gw.redis is not None and gw.redis.streams_on_kill == "cut",
        max_stream_seconds=gw.upstream.max_stream_seconds,
    )
    embedded = frozenset(name for name, backend in settings.file.backends.items() if backend.kind == "embedded")
    generation = Generation.of(
        steps,
        decisions,
        chat,
        EmbeddingsService(steps),
        tokenizer_backends=embedded,
        conversations=shared.conversations,
    )
    return Built(settings, policy, generation, index, protector, credentials, limits)


class Serving:
    """The generation now serving, and the one place it is replaced."""

    def __init__(self, built: Built, pipeline: Pipeline, shared: Shared) -> None:
        self.built = built
        self._pipeline = pipeline
        self._shared = shared
        self.on_swap: list[Callable[[Built], None]] = []  # others that show the config (console, admin API)
        self._retired: list[Limits] = []  # their pending token charges are awaited at shutdown

    @property
    def settings(self) -> Settings:
        return self.built.settings

    @property
    def policy_hash(self) -> str:
        return self.built.policy.hash

    async def prepare(self, settings: Settings) -> Built:
        """Build `settings`' generation off to the side; raises (and changes nothing) if it cannot."""
        previous = self.built
        policy = build_policy(settings.file)
        protector = previous.protector
        if settings.gateway.protect != previous.settings.gateway.protect:
            # Loading the name dictionary takes seconds: off the event loop, which keeps serving.
            protector = await asyncio.to_thread(build_protector, settings)
        return build_generation(settings, self._shared, policy, protector, previous)

    def swap(self, new: Built) -> None:
        """Serve `new` from the next request on: one synchronous step, with nothing awaited in it, so
        no request or key refresh runs in between. Requests already running finish on the old one."""
        old = self.built
        new.index.replace(self._shared.keys.records)  # keys created or revoked since it was built
        new.index.stale = old.index.stale
        self.built = new
        self._pipeline.swap(new.generation)
        if self._shared.breakers is not None:
            self._shared.breakers.track(new.policy.backends)
        if old.limits is not None and old.limits is not new.limits:
            self._retired.append(old.limits)
        for hook in self.on_swap:
            hook(new)

    async def drain(self) -> None:
        """At shutdown: the token charges that requests of earlier generations left running."""
        for limits in self._retired:
            await limits.drain()

    def current_index(self) -> KeyIndex:
        return self.built.index
