"""The residency map: every backend with its declared facts and live state, and per tenant and data
class which backends each model may use and why the others are excluded. Pure: the policy and the
live state are passed in; the table is check-config's (decide.evaluate over every combination)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from onshore.decide.classes import DATA_CLASSES
from onshore.decide.decision import RequestFacts, evaluate
from onshore.decide.policy import BackendFacts, Policy


@dataclass(frozen=True, slots=True)
class Switched:
    """A backend an operator disabled with the kill switch."""

    reason: str
    actor: str
    since: float


@dataclass(frozen=True, slots=True)
class BackendRow:
    facts: BackendFacts
    models: tuple[str, ...]  # public model names routed to it
    state: str  # "enabled", "disabled" (kill switch) or "breaker_open"
    disabled: Switched | None


@dataclass(frozen=True, slots=True)
class Excluded:
    backend: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PolicyRow:
    tenant: str
    data_class: str
    model: str
    rule: str
    allowed: tuple[str, ...]  # in routing order
    unavailable: tuple[str, ...]  # allowed, but switched off or breaker open right now
    excluded: tuple[Excluded, ...]
    denial: str | None


def backend_rows(
    policy: Policy, disabled: Mapping[str, Switched], breaker_open: Callable[[str], bool]
) -> list[BackendRow]:
    served: dict[str, list[str]] = {name: [] for name in policy.backends}
    for model in sorted(policy.models):
        for route in policy.models[model].routes:
            if model not in served[route.backend.name]:
                served[route.backend.name].append(model)
    rows = []
    for name in sorted(policy.backends):
        state = "disabled" if name in disabled else "breaker_open" if breaker_open(name) else "enabled"
        rows.append(BackendRow(policy.backends[name], tuple(served[name]), state, disabled.get(name)))
    return rows


def policy_rows(policy: Policy, unavailable: Callable[[str], bool], tenant: str | None = None) -> list[PolicyRow]:
    rows = []
    for name in policy.tenants:
        if tenant is not None and name != tenant:
            continue
        for data_class in DATA_CLASSES:
            for model in sorted(policy.models):
                verdict = evaluate(policy, RequestFacts(name, data_class, model))
                allowed = tuple(r.backend.name for r in verdict.allowed)
                rows.append(
                    PolicyRow(
                        name,
                        data_class,
                        model,
                        verdict.rule_id,
                        allowed,
                        tuple(b for b in allowed if unavailable(b)),
                        tuple(Excluded(e.backend, e.reasons) for e in verdict.excluded),
                        verdict.denial,
                    )
                )
    return rows


def countries_in_use(policy: Policy) -> list[str]:
    codes = set()
    for facts in policy.backends.values():
        codes |= {facts.jurisdiction, facts.storage_jurisdiction, facts.operator_jurisdiction}
    return sorted(codes)
