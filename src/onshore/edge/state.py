"""The running gateway's parts, as the edge sees them (built by app.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from onshore.decide.classes import is_data_class, stricter
from onshore.decide.decision import DecisionCache, RequestFacts
from onshore.edge.ports import KillSwitch, SwitchView
from onshore.identify.principal import Principal
from onshore.metrics import Metrics
from onshore.prove.signer import Signer
from onshore.prove.writer import AuditWriter
from onshore.service.pipeline import Pipeline


@dataclass(slots=True)
class Gateway:
    pipeline: Pipeline
    audit: AuditWriter
    signer: Signer
    metrics: Metrics
    max_body_bytes: int
    started_at: int
    controls: KillSwitch | None = None  # the operators' kill switch (admin API)
    watcher: SwitchView | None = None  # the hot path's view of it
    admin_key: str | None = None
    admin_roles: bool = False  # API keys or tokens may carry admin-side roles (identity config)
    metrics_token: str | None = None
    stream_kill: str = "finish"
    lean_http: bool = True  # the model routes on edge/lean_server.py (gateway.http_server; read at start only)
    problems: dict[str, str] = field(default_factory=dict)  # readiness problems by component
    # While the audit writer is unhealthy: did the latest write probe succeed? (see app._probe_audit)
    audit_writable: bool = False

    @property
    def decisions(self) -> DecisionCache:
        """The current config generation's policy and verdicts (a reload swaps the whole generation)."""
        return self.pipeline.current.decisions

    def reachable_models(self, principal: Principal, requested_class: str | None) -> list[str]:
        """Models this caller may use that at least one compliant backend can serve."""
        data_class = principal.floor
        if requested_class and is_data_class(requested_class.strip()):
            data_class = stricter(data_class, requested_class.strip())
        names = []
        decisions = self.decisions  # one generation for the whole listing
        for name in sorted(decisions.policy.models):
            if not principal.may_use(name):
                continue
            decision = decisions.decide(RequestFacts(principal.tenant, data_class, name), 0.0, "")
            if not decision.denied:
                names.append(name)
        return names

    def readiness_problems(self) -> dict[str, str]:
        problems = dict(self.problems)
        if not self.audit.healthy and not self.audit_writable:
            problems["audit"] = "the last audit write failed"
        # Only a kill switch that fails closed stops this replica serving; one set to fail open keeps
        # serving on its last view, so taking it out of the load balancer would contradict the setting.
        if self.watcher is not None and self.watcher.fails_closed and not self.watcher.healthy:
            problems["kill_switch"] = "the shared kill-switch state cannot be read"
        return problems
