"""What to do with detected personal data for one backend: pure policy, no I/O.

A backend is "less trusted" than the tenant's home in up to four ways (trust gaps). The rule states
an action for each; the strictest action among the gaps a backend has wins. A backend with no gap
is fully trusted and gets the data as is.
"""

from __future__ import annotations

from dataclasses import dataclass

from onshore.decide.policy import Action, BackendFacts, Rule

_STRICTNESS: dict[Action, int] = {"allow": 0, "pseudonymise": 1, "block": 2}


@dataclass(frozen=True, slots=True)
class Protection:
    action: Action
    gaps: tuple[str, ...]  # why the backend is less trusted; empty when fully trusted


def trust_gaps(rule: Rule, backend: BackendFacts) -> tuple[str, ...]:
    home = rule.home_jurisdictions
    gaps: list[str] = []
    if backend.jurisdiction not in home or backend.storage_jurisdiction not in home:
        gaps.append("foreign_jurisdiction")
    if backend.operator_jurisdiction not in home:
        gaps.append("foreign_operator")
    if backend.retention_days > 0:
        gaps.append("retains_data")
    if backend.trains_on_inputs:
        gaps.append("trains_on_inputs")
    return tuple(gaps)


def protection_for(rule: Rule, backend: BackendFacts) -> Protection:
    gaps = trust_gaps(rule, backend)
    actions = dict(rule.personal_data)
    action: Action = "allow"
    for gap in gaps:
        candidate = actions.get(gap, "block")  # an unstated gap fails closed
        if _STRICTNESS[candidate] > _STRICTNESS[action]:
            action = candidate
    return Protection(action, gaps)
