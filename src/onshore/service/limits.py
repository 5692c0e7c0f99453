"""Rate limits and budgets on the request path, enforced through the shared counters (a Counters port:
Redis for every replica together, or memory for one process).

Admission happens right after the caller is identified (cheap refusals first); tokens are charged
after the answer, off the response path. What happens when Redis cannot be reached is configured:
`open` serves the request (and counts it in metrics), `closed` refuses it with 503.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from onshore.decide.controls import ControlsUnavailable
from onshore.decide.limits import LimitPolicy, Quota
from onshore.events.model import NO_EVENTS, EventType, SecurityEvent, SecurityEvents, source
from onshore.identify.principal import Principal
from onshore.refusal import Kind, Refusal
from onshore.service.ports import Counters

log = logging.getLogger("onshore.limits")


class LimitReached(Refusal):
    """A limit's refusal, with where the caller stands (for the rate-limit headers of the 429)."""

    def __init__(self, kind: Kind, detail: str, *, rule: str | None, retry_after: str | None, quota: Quota | None):
        super().__init__(kind, detail, rule=rule, retry_after=retry_after)
        self.quota = quota


class Limits:
    def __init__(
        self,
        controls: Counters,
        policies: Mapping[str, LimitPolicy],
        fail_closed: bool,
        events: SecurityEvents = NO_EVENTS,
    ) -> None:
        self._controls = controls
        self._events = events
        self._policies = {tenant: policy for tenant, policy in policies.items() if not policy.empty}
        self._fail_closed = fail_closed
        self._pending: set[asyncio.Task[None]] = set()
        self.unreachable = 0  # admissions decided without Redis (fail-open), for metrics and tests

    async def admit(self, principal: Principal, now: float) -> Quota | None:
        """Refuse, naming the rule, when a limit or budget is reached; else where the caller now stands
        (None when nothing limits it, or the store could not be asked)."""
        policy = self._policies.get(principal.tenant)
        if policy is None:
            return None
        try:
            admission = await self._controls.admit(principal.key_id, principal.tenant, policy, now)
        except ControlsUnavailable:
            self.unreachable += 1
            if self._fail_closed:
                raise Refusal(
                    Kind.LIMITS_UNAVAILABLE, "Rate limits cannot be checked right now (shared store unreachable)."
                ) from None
            return None
        if not admission.allowed:
            budget = admission.rule is not None and admission.rule.endswith("budget")
            kind = EventType.BUDGET_EXHAUSTED if budget else EventType.RATE_LIMITED
            self._events.emit(
                SecurityEvent(
                    type=kind,
                    time=now,
                    tenant=principal.tenant,
                    principal=principal.key_id,
                    source=source(),
                    rule=admission.rule,
                )
            )
            raise LimitReached(
                Kind.BUDGET_EXCEEDED if budget else Kind.RATE_LIMIT_EXCEEDED,
                admission.message or "Limit reached.",
                rule=admission.rule,
                retry_after=str(admission.retry_after) if admission.retry_after else None,
                quota=admission.quota,
            )
        return admission.quota

    def charge_later(self, key_id: str, tenant: str, tokens: int, now: float) -> None:
        policy = self._policies.get(tenant)
        if policy is None or tokens <= 0:
            return
        task = asyncio.get_running_loop().create_task(self._charge(key_id, tenant, policy, tokens, now))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _charge(self, key_id: str, tenant: str, policy: LimitPolicy, tokens: int, now: float) -> None:
        try:
            await self._controls.charge(key_id, tenant, policy, tokens, now)
        except ControlsUnavailable:
            log.warning("could not charge %d tokens to tenant %s: shared store unreachable", tokens, tenant)

    async def drain(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
