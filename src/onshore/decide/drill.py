"""The exit drill: what would happen if a backend disappeared, or changed its terms, today.

Pure: it re-runs the residency decision (decision.evaluate) on a copy of the policy in which the
backend is gone or its declared facts are changed, for every tenant, data class and model, and
compares the compliant routes before and after. No traffic is sent.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from onshore.decide.classes import DATA_CLASSES
from onshore.decide.decision import RequestFacts, evaluate
from onshore.decide.policy import BackendFacts, ModelGroup, Policy, Route
from onshore.decide.protection import protection_for

Outcome = Literal["loses_every_route", "fails_over", "unaffected"]


@dataclass(frozen=True, slots=True)
class TermsChange:
    """New declared terms for the backend (None: unchanged)."""

    jurisdiction: str | None = None
    storage_jurisdiction: str | None = None
    operator_jurisdiction: str | None = None
    retention_days: int | None = None
    trains_on_inputs: bool | None = None

    def apply(self, facts: BackendFacts) -> BackendFacts:
        changes = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        return dataclasses.replace(facts, **changes)

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(self).items() if v is not None)


@dataclass(frozen=True, slots=True)
class DrillRow:
    tenant: str
    data_class: str
    model: str
    outcome: Outcome
    before: tuple[str, ...]  # compliant backends today, in route order
    after: tuple[str, ...]  # compliant backends after the change
    # What the backend would do with personal data after a change of terms (None: gone or not allowed).
    protection_before: str | None = None
    protection_after: str | None = None

    @property
    def served_by(self) -> str | None:
        """Where requests go first after the change (None: nowhere)."""
        return self.after[0] if self.after else None


@dataclass(frozen=True, slots=True)
class Drill:
    backend: str
    change: TermsChange | None  # None: the backend disappears
    rows: tuple[DrillRow, ...]  # only the affected (tenant, class, model) combinations

    def stranded(self) -> list[DrillRow]:
        return [r for r in self.rows if r.outcome == "loses_every_route"]

    def document(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "scenario": "gone" if self.change is None else "changed_terms",
            "change": None
            if self.change is None
            else {k: v for k, v in dataclasses.asdict(self.change).items() if v is not None},
            "summary": {
                "loses_every_route": len(self.stranded()),
                "fails_over": sum(r.outcome == "fails_over" for r in self.rows),
                "models_stranded": sorted({r.model for r in self.stranded()}),
                "tenants_stranded": sorted({r.tenant for r in self.stranded()}),
            },
            "rows": [
                {
                    "tenant": r.tenant,
                    "data_class": r.data_class,
                    "model": r.model,
                    "outcome": r.outcome,
                    "before": list(r.before),
                    "after": list(r.after),
                    "served_by_after": r.served_by,
                    "personal_data_action": None
                    if r.protection_before is None and r.protection_after is None
                    else {"before": r.protection_before, "after": r.protection_after},
                }
                for r in self.rows
            ],
        }


def _changed_policy(policy: Policy, name: str, change: TermsChange | None) -> Policy:
    facts = policy.backends[name]
    new = None if change is None else change.apply(facts)

    def routes(group: ModelGroup) -> tuple[Route, ...]:
        out = []
        for route in group.routes:
            if route.backend.name != name:
                out.append(route)
            elif new is not None:
                out.append(Route(new, route.upstream_model))
        return tuple(out)

    backends = dict(policy.backends)
    if new is None:
        del backends[name]
    else:
        backends[name] = new
    models = {n: dataclasses.replace(g, routes=routes(g)) for n, g in policy.models.items()}
    return Policy(backends, models, policy.rules, policy.hash)


def drill(policy: Policy, name: str, change: TermsChange | None = None) -> Drill:
    """Every (tenant, data class, model) whose compliant routes include `name` today, and what is
    left of them once it is gone (`change` None) or its terms change. KeyError for an unknown name."""
    if name not in policy.backends:
        raise KeyError(name)
    after_policy = _changed_policy(policy, name, change)
    rows: list[DrillRow] = []
    for tenant in policy.tenants:
        for data_class in DATA_CLASSES:
            rule = policy.rules.get((tenant, data_class))
            if rule is None:
                continue
            for model in sorted(policy.models):
                facts = RequestFacts(tenant, data_class, model)
                before = tuple(r.backend.name for r in evaluate(policy, facts).allowed)
                if name not in before:
                    continue  # the backend serves none of these requests today
                verdict = evaluate(after_policy, facts)
                after = tuple(r.backend.name for r in verdict.allowed)
                outcome: Outcome = (
                    "loses_every_route" if not after else "fails_over" if name not in after else "unaffected"
                )
                action_before = action_after = None
                if change is not None:
                    action_before = protection_for(rule, policy.backends[name]).action
                    kept = [r for r in verdict.allowed if r.backend.name == name]
                    action_after = protection_for(rule, kept[0].backend).action if kept else None
                if outcome == "unaffected" and action_before == action_after:
                    continue
                rows.append(DrillRow(tenant, data_class, model, outcome, before, after, action_before, action_after))
    return Drill(name, change, tuple(rows))
