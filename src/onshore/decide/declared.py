"""The decide stage's policy model, resolved from what the configuration declares.

Pure: it reads the already-parsed config through the read-only shapes below (settings.py's structs
satisfy them), so decide imports nothing that reads files or the environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from onshore.decide.classes import DATA_CLASSES
from onshore.decide.policy import (
    TRUST_GAPS,
    AuditContent,
    BackendFacts,
    Endpoint,
    ModelGroup,
    Policy,
    Route,
    Rule,
    policy_hash,
)

ANY = "*"  # in a country list: any country


class GatewayDecl(Protocol):
    @property
    def organisation(self) -> str: ...
    @property
    def jurisdiction(self) -> str: ...
    @property
    def region(self) -> str: ...


class BackendDecl(Protocol):
    @property
    def jurisdiction(self) -> str | None: ...
    @property
    def storage_jurisdiction(self) -> str | None: ...
    @property
    def region(self) -> str | None: ...
    @property
    def operator(self) -> str | None: ...
    @property
    def operator_jurisdiction(self) -> str | None: ...
    @property
    def retention_days(self) -> int | None: ...
    @property
    def trains_on_inputs(self) -> bool | None: ...


class RouteDecl(Protocol):
    @property
    def backend(self) -> str: ...
    @property
    def model(self) -> str: ...


class ModelDecl(Protocol):
    @property
    def endpoint(self) -> Endpoint: ...
    @property
    def routes(self) -> Sequence[RouteDecl]: ...
    @property
    def allow_extra_fields(self) -> Sequence[str]: ...
    @property
    def dimensions(self) -> bool | Sequence[int]: ...


class RuleDecl(Protocol):
    @property
    def jurisdictions(self) -> Sequence[str]: ...
    @property
    def storage_jurisdictions(self) -> Sequence[str] | None: ...
    @property
    def operator_jurisdictions(self) -> Sequence[str] | None: ...
    @property
    def max_retention_days(self) -> int: ...
    @property
    def allow_training(self) -> bool: ...
    @property
    def audit_content(self) -> AuditContent: ...
    @property
    def personal_data(self) -> object: ...  # one attribute per TRUST_GAPS entry


class TenantDecl(Protocol):
    @property
    def classes(self) -> Mapping[str, RuleDecl]: ...
    @property
    def home_jurisdictions(self) -> Sequence[str] | None: ...


class ConfigDecl(Protocol):
    @property
    def gateway(self) -> GatewayDecl: ...
    @property
    def backends(self) -> Mapping[str, BackendDecl]: ...
    @property
    def models(self) -> Mapping[str, ModelDecl]: ...
    @property
    def tenants(self) -> Mapping[str, TenantDecl]: ...


def _countries(values: Sequence[str] | None, default: frozenset[str] | None) -> frozenset[str] | None:
    if values is None:
        return default
    return None if ANY in values else frozenset(values)


def declared_facts(name: str, b: BackendDecl, gateway: GatewayDecl) -> BackendFacts:
    """A backend's facts as declared; an embedded backend defaults to the gateway's own."""
    jurisdiction = b.jurisdiction or gateway.jurisdiction
    return BackendFacts(
        name=name,
        jurisdiction=jurisdiction,
        storage_jurisdiction=b.storage_jurisdiction or jurisdiction,
        region=b.region if b.region is not None else gateway.region,
        operator=b.operator or gateway.organisation,
        operator_jurisdiction=b.operator_jurisdiction or gateway.jurisdiction,
        retention_days=b.retention_days if b.retention_days is not None else 0,
        trains_on_inputs=bool(b.trains_on_inputs),
    )


def build_policy(file: ConfigDecl) -> Policy:
    """Resolve the config into the decide stage's pure policy model."""
    backends = {name: declared_facts(name, b, file.gateway) for name, b in file.backends.items()}
    models = {
        name: ModelGroup(
            name=name,
            endpoint=m.endpoint,
            routes=tuple(Route(backends[r.backend], r.model) for r in m.routes),
            extra_fields=frozenset(m.allow_extra_fields),
            dimensions=m.dimensions if isinstance(m.dimensions, bool) else frozenset(m.dimensions),
        )
        for name, m in file.models.items()
    }
    rules: dict[tuple[str, str], Rule] = {}
    for tenant, t in file.tenants.items():
        home = frozenset(t.home_jurisdictions or [file.gateway.jurisdiction])
        for data_class in DATA_CLASSES:
            r = t.classes[data_class]
            processing = _countries(r.jurisdictions, None)
            rules[(tenant, data_class)] = Rule(
                tenant=tenant,
                data_class=data_class,
                jurisdictions=processing,
                # Unstated storage/operator sets default to the processing set: strict, never "any".
                storage_jurisdictions=_countries(r.storage_jurisdictions, processing),
                operator_jurisdictions=_countries(r.operator_jurisdictions, processing),
                max_retention_days=r.max_retention_days,
                allow_training=r.allow_training,
                audit_content=r.audit_content,
                home_jurisdictions=home,
                personal_data=tuple((gap, getattr(r.personal_data, gap)) for gap in TRUST_GAPS),
            )
    return Policy(backends, models, rules, policy_hash(backends, models, rules))
