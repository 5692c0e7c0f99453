"""The residency decision: a pure function from (policy, request facts, time) to a decision.

Shaped like an OPA decision: the result, a decision id and the policy version (hash) that decided.
Enforcement (calling no backend on a denial) lives in the edge and route stages.
"""

from __future__ import annotations

from dataclasses import dataclass

from onshore.decide.policy import AuditContent, BackendFacts, Policy, Route, Rule
from onshore.decide.protection import Protection, protection_for


@dataclass(frozen=True, slots=True)
class RequestFacts:
    tenant: str
    data_class: str
    model: str


@dataclass(frozen=True, slots=True)
class Exclusion:
    backend: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The time-independent part of a decision; safe to compute once per (tenant, class, model)."""

    rule_id: str
    allowed: tuple[Route, ...]
    excluded: tuple[Exclusion, ...]
    audit_content: AuditContent
    denial: str | None  # why nothing is allowed, or None
    protections: tuple[Protection, ...] = ()  # per allowed route: what to do with personal data found


@dataclass(frozen=True, slots=True)
class Decision:
    id: str
    decided_at: float
    policy_hash: str
    facts: RequestFacts
    verdict: Verdict

    @property
    def denied(self) -> bool:
        return not self.verdict.allowed


def _in(allowed: frozenset[str] | None, value: str) -> bool:
    return allowed is None or value in allowed


def _show(allowed: frozenset[str] | None) -> str:
    return "any" if allowed is None else "[" + ", ".join(sorted(allowed)) + "]"


def backend_violations(rule: Rule, backend: BackendFacts) -> tuple[str, ...]:
    """Every way a backend breaks a rule; empty means it complies."""
    reasons: list[str] = []
    if not _in(rule.jurisdictions, backend.jurisdiction):
        reasons.append(f"processing jurisdiction {backend.jurisdiction} not in {_show(rule.jurisdictions)}")
    storage_allowed = rule.storage_jurisdictions
    if not _in(storage_allowed, backend.storage_jurisdiction):
        reasons.append(f"storage jurisdiction {backend.storage_jurisdiction} not in {_show(storage_allowed)}")
    if not _in(rule.operator_jurisdictions, backend.operator_jurisdiction):
        reasons.append(
            f"operator {backend.operator} is under {backend.operator_jurisdiction} law, "
            f"not in {_show(rule.operator_jurisdictions)}"
        )
    if backend.retention_days > rule.max_retention_days:
        reasons.append(f"retains data {backend.retention_days} days, more than {rule.max_retention_days}")
    if backend.trains_on_inputs and not rule.allow_training:
        reasons.append("trains on inputs, which the rule forbids")
    return tuple(reasons)


def evaluate(policy: Policy, facts: RequestFacts) -> Verdict:
    rule = policy.rules.get((facts.tenant, facts.data_class))
    if rule is None:
        rule_id = f"tenants.{facts.tenant}"
        return Verdict(rule_id, (), (), "none", f"tenant {facts.tenant!r} has no rule for {facts.data_class!r}")
    group = policy.models.get(facts.model)
    if group is None:
        return Verdict(rule.id, (), (), rule.audit_content, f"model {facts.model!r} is not configured")
    allowed: list[Route] = []
    excluded: list[Exclusion] = []
    for route in group.routes:
        reasons = backend_violations(rule, route.backend)
        if reasons:
            excluded.append(Exclusion(route.backend.name, reasons))
        else:
            allowed.append(route)
    denial = None
    if not allowed:
        denial = (
            f"data class '{facts.data_class}' of tenant '{facts.tenant}' (rule {rule.id}) "
            f"allows no backend of model '{facts.model}': "
            + "; ".join(f"{e.backend}: {', '.join(e.reasons)}" for e in excluded)
        )
    protections = tuple(protection_for(rule, route.backend) for route in allowed)
    return Verdict(rule.id, tuple(allowed), tuple(excluded), rule.audit_content, denial, protections)


def decide(policy: Policy, facts: RequestFacts, now: float, decision_id: str) -> Decision:
    """Decide which backends may serve a request. Fails closed: no compliant backend, no route."""
    return Decision(decision_id, now, policy.hash, facts, evaluate(policy, facts))


class DecisionCache:
    """Memoises verdicts: the policy is immutable, so each (tenant, class, model) is evaluated once."""

    __slots__ = ("_policy", "_verdicts")

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._verdicts: dict[RequestFacts, Verdict] = {}

    @property
    def policy(self) -> Policy:
        return self._policy

    def decide(self, facts: RequestFacts, now: float, decision_id: str) -> Decision:
        verdict = self._verdicts.get(facts)
        if verdict is None:
            verdict = evaluate(self._policy, facts)
            if len(self._verdicts) < 100_000:  # bounded: facts come from config, but stay safe
                self._verdicts[facts] = verdict
        return Decision(decision_id, now, self._policy.hash, facts, verdict)
