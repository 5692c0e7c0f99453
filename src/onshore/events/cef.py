"""Security events as ArcSight CEF (Common Event Format, version 0) lines, for SIEMs that read CEF
over syslog rather than JSON.

A CEF line is derived from the event's OCSF document, so both formats carry exactly the same facts
(and nothing else: no prompt text, no personal value, no credential). The custom string fields keep
one meaning each, named by their labels: cs1 tenant, cs2 backend, cs3 model, cs4 rule, cs5 request
id, cs6 personal-data types and counts.
"""

from __future__ import annotations

from typing import Any

# OCSF severity_id (1 Informational .. 5 Critical, 6 Fatal) -> CEF severity 0..10.
_SEVERITY = {0: 0, 1: 1, 2: 3, 3: 5, 4: 8, 5: 10, 6: 10}
_CUSTOM = (
    ("cs1", "tenant"),
    ("cs2", "backend"),
    ("cs3", "model"),
    ("cs4", "rule"),
    ("cs5", "requestId"),
    ("cs6", "personalData"),
)


def _header(value: object) -> str:
    """Header fields escape backslash and pipe; a line break would end the record, so it becomes a space."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("\r", " ").replace("\n", " ")


def _value(value: object) -> str:
    """Extension values escape backslash, equals sign and line breaks (CEF rules)."""
    text = str(value).replace("\\", "\\\\").replace("=", "\\=")
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")


def _custom(document: dict[str, Any]) -> dict[str, object]:
    facts: dict[str, Any] = document.get("unmapped", {}).get("onshore", {})
    counts: dict[str, int] = facts.get("counts", {})
    return {
        "tenant": facts.get("tenant"),
        "backend": facts.get("backend"),
        "model": facts.get("model"),
        "rule": facts.get("rule"),
        "requestId": facts.get("request_id"),
        "personalData": ",".join(f"{name}:{n}" for name, n in counts.items()) or None,
    }


def _user(document: dict[str, Any]) -> object:
    for holder in ("actor", "user"):
        user = document.get(holder, {})
        if "user" in user:
            user = user["user"]
        if isinstance(user, dict) and user.get("uid") not in (None, "unknown"):
            return user["uid"]
    return None


def to_cef(document: dict[str, Any]) -> str:
    """One CEF:0 line for an OCSF event document (as built by events.ocsf.to_ocsf)."""
    metadata: dict[str, Any] = document["metadata"]
    product: dict[str, Any] = metadata["product"]
    header = "|".join(
        _header(part)
        for part in (
            "CEF:0",
            product["vendor_name"],
            product["name"],
            product["version"],
            metadata["event_code"],
            document["message"],
            _SEVERITY.get(int(document.get("severity_id", 0)), 0),
        )
    )
    extension: dict[str, object] = {
        "rt": document["time"],
        "externalId": metadata.get("uid"),
        "cat": document.get("class_name"),
        "outcome": document.get("status"),
        "suser": _user(document),
        "src": document.get("src_endpoint", {}).get("ip"),
        "cnt": document.get("count"),
        "reason": document.get("unmapped", {}).get("onshore", {}).get("reason"),
    }
    if "action_id" in document:
        extension["act"] = "blocked" if document["action_id"] == 2 else "allowed"
    custom = _custom(document)
    for key, label in _CUSTOM:
        if custom[label] is not None:
            extension[key] = custom[label]
            extension[f"{key}Label"] = label
    pairs = " ".join(f"{key}={_value(value)}" for key, value in extension.items() if value is not None)
    return f"{header}|{pairs}"
