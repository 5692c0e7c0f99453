"""Security events as OCSF 1.3.0 JSON objects (https://schema.ocsf.io/1.3.0/).

Each event type has one class: policy enforcement on the API (residency, limits, the kill switch) is
API Activity (6003); a failed sign-in is Authentication (3002); API keys created or revoked are
Account Change (3001); personal data found in a request is a Data Security Finding (2006); what needs
a person's attention (bursts, audit failures, tampering, an opened breaker, lost events) is a
Detection Finding (2004). Gateway-specific facts go under `unmapped.onshore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onshore.events.model import EventType, SecurityEvent

OCSF_VERSION = "1.3.0"
PRODUCT = "Onshore"

API_ACTIVITY, AUTHENTICATION, ACCOUNT_CHANGE = 6003, 3002, 3001
DETECTION_FINDING, DATA_SECURITY_FINDING = 2004, 2006
_CLASS_NAMES = {
    API_ACTIVITY: ("API Activity", 6, "Application Activity"),
    AUTHENTICATION: ("Authentication", 3, "Identity & Access Management"),
    ACCOUNT_CHANGE: ("Account Change", 3, "Identity & Access Management"),
    DETECTION_FINDING: ("Detection Finding", 2, "Findings"),
    DATA_SECURITY_FINDING: ("Data Security Finding", 2, "Findings"),
}
INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL = 1, 2, 3, 4, 5
_SEVERITY = {INFORMATIONAL: "Informational", LOW: "Low", MEDIUM: "Medium", HIGH: "High", CRITICAL: "Critical"}
SUCCESS, FAILURE = 1, 2
ALLOWED, DENIED = 1, 2  # security_control profile: action_id (and disposition_id 1 Allowed / 2 Blocked)


@dataclass(frozen=True, slots=True)
class _Shape:
    class_uid: int
    activity_id: int
    activity_name: str
    severity_id: int
    title: str
    denied: bool | None = None  # None: not a policy enforcement


_SHAPES: dict[EventType, _Shape] = {
    EventType.RESIDENCY_DENIED: _Shape(API_ACTIVITY, 1, "Create", MEDIUM, "Residency policy denied a request", True),
    EventType.RATE_LIMITED: _Shape(API_ACTIVITY, 1, "Create", LOW, "Rate limit refused a request", True),
    EventType.BUDGET_EXHAUSTED: _Shape(API_ACTIVITY, 1, "Create", MEDIUM, "Token budget exhausted", True),
    EventType.BACKEND_DISABLED: _Shape(API_ACTIVITY, 3, "Update", MEDIUM, "Backend disabled (kill switch)", False),
    EventType.BACKEND_ENABLED: _Shape(API_ACTIVITY, 3, "Update", LOW, "Backend enabled (kill switch)", False),
    EventType.CONFIG_RELOADED: _Shape(API_ACTIVITY, 3, "Update", LOW, "Configuration reloaded", False),
    EventType.CONFIG_RELOAD_REFUSED: _Shape(API_ACTIVITY, 3, "Update", MEDIUM, "Configuration reload refused", True),
    EventType.ADMIN_ACTION_REFUSED: _Shape(API_ACTIVITY, 3, "Update", MEDIUM, "Admin action refused (role)", True),
    EventType.AUTH_FAILED: _Shape(AUTHENTICATION, 1, "Logon", LOW, "Authentication failed"),
    EventType.API_KEY_CREATED: _Shape(ACCOUNT_CHANGE, 1, "Create", LOW, "API key created"),
    EventType.API_KEY_REVOKED: _Shape(ACCOUNT_CHANGE, 5, "Disable", LOW, "API key revoked"),
    EventType.PERSONAL_DATA_BLOCKED: _Shape(DATA_SECURITY_FINDING, 1, "Create", MEDIUM, "Personal data blocked", True),
    EventType.PERSONAL_DATA_PSEUDONYMISED: _Shape(
        DATA_SECURITY_FINDING, 1, "Create", INFORMATIONAL, "Personal data pseudonymised before sending", False
    ),
    EventType.AUTH_FAILURE_BURST: _Shape(DETECTION_FINDING, 1, "Create", HIGH, "Burst of authentication failures"),
    EventType.AUDIT_WRITE_FAILED: _Shape(DETECTION_FINDING, 1, "Create", HIGH, "Audit log write failed"),
    EventType.AUDIT_VERIFICATION_FAILED: _Shape(
        DETECTION_FINDING, 1, "Create", CRITICAL, "Audit chain verification failed (tampering or loss)"
    ),
    EventType.BREAKER_OPENED: _Shape(DETECTION_FINDING, 1, "Create", MEDIUM, "Circuit breaker opened"),
    EventType.EVENTS_DROPPED: _Shape(DETECTION_FINDING, 1, "Create", MEDIUM, "Security events dropped"),
}


def class_of(event_type: EventType) -> int:
    return _SHAPES[event_type].class_uid


def severity_of(event_type: EventType) -> int:
    return _SHAPES[event_type].severity_id


def to_ocsf(event: SecurityEvent, product_version: str, event_uid: str | None = None) -> dict[str, Any]:
    shape = _SHAPES[event.type]
    class_name, category_uid, category_name = _CLASS_NAMES[shape.class_uid]
    document: dict[str, Any] = {
        "class_uid": shape.class_uid,
        "class_name": class_name,
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": shape.activity_id,
        "activity_name": shape.activity_name,
        "type_uid": shape.class_uid * 100 + shape.activity_id,
        "type_name": f"{class_name}: {shape.activity_name}",
        "time": int(event.time * 1000),
        "severity_id": shape.severity_id,
        "severity": _SEVERITY[shape.severity_id],
        "message": shape.title,
        "metadata": _metadata(event, product_version, event_uid),
        "unmapped": {"onshore": _facts(event)},
    }
    if shape.denied is not None:
        document["action_id"] = DENIED if shape.denied else ALLOWED
        document["disposition_id"] = 2 if shape.denied else 1
    if event.source is not None:
        document["src_endpoint"] = {"ip": event.source}
    _CLASS_FIELDS[shape.class_uid](document, event, shape)
    return document


def _metadata(event: SecurityEvent, product_version: str, event_uid: str | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "version": OCSF_VERSION,
        "product": {"name": PRODUCT, "vendor_name": PRODUCT, "version": product_version},
        "event_code": event.type.value,
        "profiles": ["security_control"] if _SHAPES[event.type].denied is not None else [],
    }
    if event_uid is not None:
        metadata["uid"] = event_uid
    if event.request_id is not None:
        metadata["correlation_uid"] = event.request_id
    if event.tenant is not None:
        metadata["tenant_uid"] = event.tenant
    return metadata


def _facts(event: SecurityEvent) -> dict[str, Any]:
    facts: dict[str, Any] = {"event": event.type.value}
    for name in (
        "tenant",
        "principal",
        "actor",
        "backend",
        "model",
        "rule",
        "request_id",
        "reason",
        "count",
        "seq",
        "policy_hash",
    ):
        value = getattr(event, name)
        if value is not None:
            facts[name] = value
    if event.counts:
        facts["counts"] = dict(event.counts)
    return facts


def _user(uid: str | None, tenant: str | None) -> dict[str, Any]:
    user: dict[str, Any] = {"uid": uid or "unknown", "type_id": 3 if uid else 0}  # 3: System (an API key)
    if tenant is not None:
        user["groups"] = [{"name": tenant}]
    return user


def _api_activity(document: dict[str, Any], event: SecurityEvent, shape: _Shape) -> None:
    admin = event.actor is not None
    document["actor"] = {"user": _user(event.actor if admin else event.principal, None if admin else event.tenant)}
    operation = _OPERATIONS.get(event.type, "admin") if admin else "inference"
    if event.type is EventType.ADMIN_ACTION_REFUSED and event.reason is not None:
        operation = event.reason  # the action refused, e.g. keys.write
    document["api"] = {"operation": operation, "service": {"name": PRODUCT}}
    document.setdefault("src_endpoint", {"name": _admin_source(event.actor) if admin else "unknown"})
    document["status_id"] = FAILURE if shape.denied else SUCCESS
    document["status"] = "Failure" if shape.denied else "Success"
    resources = []
    if event.backend is not None:
        resources.append({"type": "backend", "name": event.backend})
    if event.model is not None:
        resources.append({"type": "model", "name": event.model})
    if resources:
        document["resources"] = resources
    if event.rule is not None:
        document["status_detail"] = event.rule


def _admin_source(actor: str | None) -> str:
    """Where an admin action came from: the CLI on the host (or a signal to the process), the
    console, else the admin API."""
    if actor is not None and actor.startswith(("cli:", "signal:")):
        return "cli"
    if actor is not None and actor.startswith("console:"):
        return "console"
    return "admin-api"


_OPERATIONS = {
    EventType.BACKEND_DISABLED: "backends.disable",
    EventType.BACKEND_ENABLED: "backends.enable",
    EventType.CONFIG_RELOADED: "config.reload",
    EventType.CONFIG_RELOAD_REFUSED: "config.reload",
}


def _authentication(document: dict[str, Any], event: SecurityEvent, shape: _Shape) -> None:
    document["user"] = _user(event.principal, event.tenant)
    document["service"] = {"name": PRODUCT}
    document["status_id"], document["status"] = FAILURE, "Failure"
    document["is_remote"] = True
    if event.reason is not None:
        document["status_detail"] = event.reason


def _account_change(document: dict[str, Any], event: SecurityEvent, shape: _Shape) -> None:
    document["user"] = _user(event.principal, event.tenant)
    document["actor"] = {"user": {"uid": event.actor or "unknown"}}
    document["status_id"], document["status"] = SUCCESS, "Success"


def _finding(document: dict[str, Any], event: SecurityEvent, shape: _Shape) -> None:
    uid = event.request_id or f"{event.type.value}-{document['time']}"
    document["finding_info"] = {
        "uid": uid,
        "title": shape.title,
        "types": [event.type.value],
        "analytic": {"name": event.rule or event.type.value, "type_id": 1, "type": "Rule"},
    }
    document["is_alert"] = shape.severity_id >= MEDIUM
    if event.count is not None:
        document["count"] = event.count
    resources = [{"type": "backend", "name": event.backend}] if event.backend is not None else []
    if resources:
        document["resources"] = resources
    if shape.class_uid == DATA_SECURITY_FINDING:
        # A gateway that scans traffic on its way through: DLP Gateway (2), Data in-Transit (2).
        security: dict[str, Any] = {
            "detection_system_id": 2,
            "detection_system": "DLP Gateway",
            "data_lifecycle_state_id": 2,
            "data_lifecycle_state": "Data in-Transit",
        }
        if event.counts:
            security["category"] = "personal data: " + ", ".join(name for name, _ in event.counts)
        document["data_security"] = security
        if event.principal is not None:
            document["actor"] = {"user": _user(event.principal, event.tenant)}


_CLASS_FIELDS = {
    API_ACTIVITY: _api_activity,
    AUTHENTICATION: _authentication,
    ACCOUNT_CHANGE: _account_change,
    DETECTION_FINDING: _finding,
    DATA_SECURITY_FINDING: _finding,
}
