"""The event vocabulary and the port stages emit through.

An event is a frozen value with a fixed set of fields, so nothing a caller sent (prompt text, a
personal value, a presented credential) can ride along by accident: only names the gateway itself
configured or derived (tenant, key id, backend, rule id, data-type names and counts).
"""

from __future__ import annotations

import contextvars
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


class EventType(enum.Enum):
    RESIDENCY_DENIED = "residency_denied"
    PERSONAL_DATA_BLOCKED = "personal_data_blocked"
    PERSONAL_DATA_PSEUDONYMISED = "personal_data_pseudonymised"
    AUTH_FAILED = "authentication_failed"
    AUTH_FAILURE_BURST = "authentication_failure_burst"
    BACKEND_DISABLED = "backend_disabled"  # the kill switch
    BACKEND_ENABLED = "backend_enabled"
    API_KEY_CREATED = "api_key_created"
    API_KEY_REVOKED = "api_key_revoked"
    AUDIT_WRITE_FAILED = "audit_write_failed"
    AUDIT_VERIFICATION_FAILED = "audit_verification_failed"  # a broken chain: tampering or loss
    BREAKER_OPENED = "circuit_breaker_opened"
    RATE_LIMITED = "rate_limited"
    BUDGET_EXHAUSTED = "budget_exhausted"
    CONFIG_RELOADED = "config_reloaded"  # applied or unchanged, with the policy hash now serving
    CONFIG_RELOAD_REFUSED = "config_reload_refused"
    ADMIN_ACTION_REFUSED = "admin_action_refused"  # a command refused for want of a role
    EVENTS_DROPPED = "security_events_dropped"  # the emitter's own report of what it could not send


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityEvent:
    type: EventType
    time: float  # seconds since the epoch
    tenant: str | None = None
    principal: str | None = None  # the caller's key id (or token subject id), never a credential
    actor: str | None = None  # who made an admin change
    source: str | None = None  # the client's address
    backend: str | None = None
    model: str | None = None  # a configured model name (only configured names reach an event)
    rule: str | None = None
    request_id: str | None = None
    reason: str | None = None  # a stable code from the gateway's own vocabulary, never free text
    counts: tuple[tuple[str, int], ...] = ()  # e.g. personal-data types and how many of each
    count: int | None = None  # e.g. failures in a burst, events dropped
    seq: int | None = None  # the audit record at fault (a broken chain)
    policy_hash: str | None = None  # a config reload: the policy serving after it


def counted(counts: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    """Counts in a stable order (by name), ints only."""
    return tuple(sorted((str(k), int(v)) for k, v in counts.items()))


class SecurityEvents(Protocol):
    def emit(self, event: SecurityEvent) -> None:
        """Hand an event over without waiting: never blocks, never raises."""
        ...


class NoEvents:
    """The default port: events go nowhere (tests and constructors that configure no sink)."""

    def emit(self, event: SecurityEvent) -> None:
        return None


NO_EVENTS: SecurityEvents = NoEvents()

# The client's address for the request being served (set by the edge, read where an event is made),
# so no stage signature has to carry it.
client_source: contextvars.ContextVar[str | None] = contextvars.ContextVar("onshore_client_source", default=None)


def source() -> str | None:
    return client_source.get()
