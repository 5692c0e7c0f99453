"""Audit records as the Decisions page shows them: no content (records carry none), one row per
request, filterable. Pure: records come in as parsed bodies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ROW_KINDS = ("request", "stream_open")  # a stream's decision is in its opening record
FILTERS = ("tenant", "principal", "model", "data_class", "outcome", "rule")


@dataclass(frozen=True, slots=True)
class DecisionRow:
    seq: int
    id: str
    ts: float
    kind: str
    endpoint: str
    tenant: str
    principal: str
    model: str
    data_class: str
    status: int
    outcome: str
    error_code: str
    rule: str
    decision_id: str
    backend: str
    jurisdiction: str
    storage_jurisdiction: str
    operator: str
    operator_jurisdiction: str
    personal_types: tuple[tuple[str, int], ...]  # type, count: never a value
    pseudonymised_for: tuple[str, ...]
    blocked_backends: tuple[str, ...]
    excluded: tuple[str, ...]


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def row(seq: int, body: Mapping[str, Any]) -> DecisionRow | None:
    """The row for one record, or None for records that are not a request's decision."""
    kind = body.get("kind")
    if kind not in ROW_KINDS:
        return None
    decision = _object(body.get("decision"))
    chosen = _object(decision.get("chosen"))
    personal = _object(body.get("personal_data"))
    found = _object(personal.get("found"))
    excluded = _list(decision.get("excluded"))
    return DecisionRow(
        seq=seq,
        id=_text(body.get("id")),
        ts=float(body.get("ts") or 0.0),
        kind=str(kind),
        endpoint=_text(body.get("endpoint")),
        tenant=_text(body.get("tenant")),
        principal=_text(body.get("key_id")),
        model=_text(body.get("model")),
        data_class=_text(body.get("data_class")),
        status=int(body.get("status") or 0),
        outcome=_text(body.get("outcome")),
        error_code=_text(body.get("error_code")),
        rule=_text(decision.get("rule")),
        decision_id=_text(decision.get("id")),
        backend=_text(chosen.get("name")),
        jurisdiction=_text(chosen.get("jurisdiction")),
        storage_jurisdiction=_text(chosen.get("storage_jurisdiction")),
        operator=_text(chosen.get("operator")),
        operator_jurisdiction=_text(chosen.get("operator_jurisdiction")),
        personal_types=tuple(sorted((str(k), int(v)) for k, v in found.items() if isinstance(v, int))),
        pseudonymised_for=tuple(str(b) for b in _list(personal.get("pseudonymised_for"))),
        blocked_backends=tuple(str(b) for b in _list(personal.get("blocked_backends"))),
        excluded=tuple(str(e.get("backend")) for e in excluded if isinstance(e, dict)),
    )


def matches(r: DecisionRow, wanted: Mapping[str, str]) -> bool:
    """Does the row pass every non-empty filter (exact match; rule also by prefix)?"""
    for name in FILTERS:
        value = wanted.get(name, "").strip()
        if not value:
            continue
        have = r.principal if name == "principal" else getattr(r, name)
        if name == "rule" and have.startswith(value):
            continue
        if have != value:
            return False
    return True


def recent(
    newest_first: Iterable[tuple[int, Mapping[str, Any]]], wanted: Mapping[str, str], limit: int
) -> list[DecisionRow]:
    """The newest `limit` rows that pass the filters, from records read newest first: reading
    stops at the `limit`-th match, so a busy day's window costs only the rows shown."""
    kept: list[DecisionRow] = []
    if limit <= 0:
        return kept
    for seq, body in newest_first:
        r = row(seq, body)
        if r is not None and matches(r, wanted):
            kept.append(r)
            if len(kept) == limit:
                break
    return kept


def receipt_matches(claims: Mapping[str, Any], body: Mapping[str, Any]) -> list[str]:
    """Where a verified receipt disagrees with the audit record of the same request (empty: none)."""
    decision = _object(body.get("decision"))
    chosen = _object(decision.get("chosen"))
    backend = _object(claims.get("backend"))
    pairs = {
        "tenant": (claims.get("tenant"), body.get("tenant")),
        "principal": (claims.get("principal"), body.get("key_id")),
        "model": (claims.get("model"), body.get("model")),
        "data_class": (claims.get("data_class"), body.get("data_class")),
        "decision": (claims.get("decision"), decision.get("id")),
        "rule": (claims.get("rule"), decision.get("rule")),
        "policy_hash": (claims.get("policy_hash"), decision.get("policy_hash")),
        "backend": (backend.get("name"), chosen.get("name")),
        "jurisdiction": (backend.get("jurisdiction"), chosen.get("jurisdiction")),
    }
    return [name for name, (claimed, recorded) in pairs.items() if claimed != recorded]
