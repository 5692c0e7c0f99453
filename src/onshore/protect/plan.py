"""Where a decided request may go and what each route receives: the protect stage's plan.

Pure: from the decision's compliant routes, each with its protection (allow, pseudonymise, block),
and the scan of the body. What could not be scanned is treated as containing personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onshore.decide.decision import Decision
from onshore.decide.policy import Route
from onshore.protect.protector import Protector, Scan
from onshore.protect.vault import Vault
from onshore.refusal import Kind, Refusal


@dataclass(slots=True)
class Plan:
    routes: list[Route]  # in the decision's order; empty when every one is blocked (see `refusal`)
    body: dict[str, Any]
    protected_body: dict[str, Any] | None  # with placeholders, for routes that need it
    pseudonymised_for: set[str]  # backend names that get protected_body
    vault: Vault | None
    personal_data: dict[str, Any]  # what the audit record says about personal data (counts, never values)
    refusal: Refusal | None = None  # why no route is left, if none is

    def body_for(self, route: Route) -> dict[str, Any]:
        if route.backend.name in self.pseudonymised_for and self.protected_body is not None:
            return self.protected_body
        return self.body

    def restores(self, route: Route) -> Vault | None:
        return self.vault if route.backend.name in self.pseudonymised_for else None

    def sent_text(self) -> str:
        """Every string of the pseudonymised body: placeholders the user typed bare are found in it."""
        return "" if self.protected_body is None else "\n".join(_strings(self.protected_body))


def plan(
    decision: Decision, body: dict[str, Any], scan: Scan | None, protector: Protector | None, request_id: str
) -> Plan:
    """`scan` None: the body was not scanned (protection off, or token ids that cannot be)."""
    verdict = decision.verdict
    unscanned = scan is None or scan.opaque
    found = unscanned or (scan is not None and scan.found)
    replaceable = scan is not None and scan.replaceable
    routes: list[Route] = []
    pseudonymised_for: set[str] = set()
    blocked: list[str] = []
    for route, protection in zip(verdict.allowed, verdict.protections, strict=True):
        action = protection.action if found else "allow"
        if unscanned and action == "pseudonymise":
            action = "block"  # cannot pseudonymise what was not scanned
        if action == "block":
            blocked.append(f"{route.backend.name} ({', '.join(protection.gaps)})")
            continue
        if action == "pseudonymise" and replaceable:
            pseudonymised_for.add(route.backend.name)
        routes.append(route)
    counts = {} if scan is None else dict(scan.counts)
    personal_data = {
        "scanned": not unscanned,
        "found": counts,
        "pseudonymised_for": sorted(pseudonymised_for),
        "blocked_backends": [b.split(" ", 1)[0] for b in blocked],
    }
    if not routes:
        what = "text that could not be scanned" if unscanned else "personal data of types " + ", ".join(sorted(counts))
        rule = f"{verdict.rule_id}.personal_data"
        refusal = Refusal(
            Kind.PERSONAL_DATA_BLOCKED,
            f"The request contains {what}; rule {rule} blocks it for every "
            f"compliant backend of model '{decision.facts.model}': {'; '.join(blocked)}.",
            rule=rule,
        )
        return Plan(routes, body, None, pseudonymised_for, None, personal_data, refusal)
    vault = protected = None
    if pseudonymised_for and scan is not None and protector is not None:
        vault = Vault(decision.facts.tenant, request_id)
        protected = protector.pseudonymise(body, scan, vault)
    return Plan(routes, body, protected, pseudonymised_for, vault, personal_data)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []
