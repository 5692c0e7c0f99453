"""Builds the audit entry for one request: what was decided, where it went, what came back.

Content never enters a record: only SHA-256 digests, and only where the tenant's rule allows them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from onshore.decide.decision import Decision
from onshore.decide.limits import Quota
from onshore.decide.policy import BackendFacts


@functools.cache  # facts are frozen and few: build each summary once, not per request
def backend_summary(facts: BackendFacts) -> dict[str, Any]:
    return {
        "name": facts.name,
        "jurisdiction": facts.jurisdiction,
        "storage_jurisdiction": facts.storage_jurisdiction,
        "region": facts.region,
        "operator": facts.operator,
        "operator_jurisdiction": facts.operator_jurisdiction,
    }


@dataclass(slots=True)
class RequestTrace:
    """Facts gathered along the path, turned into an audit entry at the end."""

    id: str
    ts: float
    endpoint: str
    kind: str = "request"  # "request", or "stream_open" / "stream_close" for the two halves of a stream
    tenant: str | None = None
    key_id: str | None = None  # the principal: an API key id, or `oidc:<issuer>#<subject>` for a token
    model: str | None = None
    data_class: str | None = None
    decision: Decision | None = None
    chosen: BackendFacts | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    status: int = 0
    outcome: str = ""
    error_code: str | None = None
    usage: dict[str, int] | None = None
    # Where `usage` comes from: "upstream" (the backend's count), "tokenizer" (the backend's running
    # count, the stream having ended before its final one) or "estimate" (the gateway's, see
    # route/backends/usage.py).
    usage_source: str | None = None
    request_sha256: str | None = None
    response_sha256: str | None = None
    total_ms: float = 0.0
    upstream_ms: float | None = None
    stream_of: str | None = None  # for stream_close: the id of the stream_open record
    # Which personal-data types were found, how many, and what was done; never the values.
    personal_data: dict[str, Any] | None = None
    quota: Quota | None = None  # where the caller stands against its limits: response headers only, never recorded
    continues: str | None = None  # a Responses turn: the id of the record of the earlier turn it continues


def entry(trace: RequestTrace) -> dict[str, Any]:
    decision = trace.decision
    keep_digests = decision is not None and decision.verdict.audit_content == "digest"
    doc: dict[str, Any] = {
        "id": trace.id,
        "ts": round(trace.ts, 6),
        "kind": trace.kind,
        "endpoint": trace.endpoint,
        "tenant": trace.tenant,
        "key_id": trace.key_id,
        "model": trace.model,
        "data_class": trace.data_class,
        "status": trace.status,
        "outcome": trace.outcome,
        "error_code": trace.error_code,
        "usage": trace.usage,
        "durations_ms": {
            "total": round(trace.total_ms, 3),
            "upstream": None if trace.upstream_ms is None else round(trace.upstream_ms, 3),
        },
        "attempts": trace.attempts,
        "content": {
            "kept": "digest" if keep_digests else "none",
            "request_sha256": trace.request_sha256 if keep_digests else None,
            "response_sha256": trace.response_sha256 if keep_digests else None,
        },
    }
    if trace.usage_source is not None:
        doc["usage_source"] = trace.usage_source
    if trace.personal_data is not None:
        doc["personal_data"] = trace.personal_data
    if trace.stream_of is not None:
        doc["stream_of"] = trace.stream_of
    if trace.continues is not None:
        doc["continues"] = trace.continues
    if decision is not None:
        verdict = decision.verdict
        doc["decision"] = {
            "id": decision.id,
            "policy_hash": decision.policy_hash,
            "rule": verdict.rule_id,
            "allowed": [route.backend.name for route in verdict.allowed],
            "excluded": [{"backend": e.backend, "reasons": list(e.reasons)} for e in verdict.excluded],
            "chosen": None if trace.chosen is None else backend_summary(trace.chosen),
        }
    return doc


def admin_entry(
    record_id: str, ts: float, action: str, backend: str, actor: str, reason: str | None, outcome: str
) -> dict[str, Any]:
    """An operator action (kill switch) in the same chain as the requests it affects."""
    return {
        "id": record_id,
        "ts": round(ts, 6),
        "kind": "admin",
        "action": action,
        "backend": backend,
        "actor": actor,
        "reason": reason,
        "outcome": outcome,
    }


def key_entry(
    record_id: str, ts: float, action: str, key_id: str, tenant: str | None, actor: str, outcome: str
) -> dict[str, Any]:
    """An API key created or revoked (from the console or the CLI), in the chain like the kill switch."""
    return {
        "id": record_id,
        "ts": round(ts, 6),
        "kind": "admin",
        "action": action,
        "key_id": key_id,
        "tenant": tenant,
        "actor": actor,
        "outcome": outcome,
    }


def reload_entry(
    record_id: str,
    ts: float,
    actor: str,
    outcome: str,
    source: str,
    policy_hash: str | None,
    previous_policy_hash: str,
    problems: list[str],
) -> dict[str, Any]:
    """A config reload, applied or refused, in the chain like every other operator action: which
    policy was serving before and after (a refused reload keeps the previous one), and why it was
    refused (config error lines: key paths and messages, never a secret's value)."""
    return {
        "id": record_id,
        "ts": round(ts, 6),
        "kind": "admin",
        "action": "config_reload",
        "actor": actor,
        "outcome": outcome,
        "source": source,
        "policy_hash": policy_hash,
        "previous_policy_hash": previous_policy_hash,
        "reason": "; ".join(problems)[:2000] if problems else None,
        "problems": problems,
    }


def stored_response_entry(
    record_id: str, ts: float, action: str, response_id: str, tenant: str, principal: str, outcome: str
) -> dict[str, Any]:
    """A Responses turn kept by the gateway read or deleted (GET/DELETE /v1/responses/{id}), and by whom.
    The response id is `resp_` + the id of the request record that produced it."""
    return {
        "id": record_id,
        "ts": round(ts, 6),
        "kind": "stored_response",
        "action": action,
        "response_id": response_id,
        "tenant": tenant,
        "key_id": principal,
        "outcome": outcome,
    }
