"""The resolved residency policy: declared backend facts, model groups and per-tenant rules.

Plain frozen data, built once at start-up. Nothing here reads files or the environment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal

import msgspec

AuditContent = Literal["none", "digest"]
Action = Literal["allow", "pseudonymise", "block"]
Endpoint = Literal["chat", "embeddings"]
TRUST_GAPS = ("foreign_jurisdiction", "foreign_operator", "retains_data", "trains_on_inputs")


@dataclass(frozen=True, slots=True)
class BackendFacts:
    """What the operator of a backend has declared about it."""

    name: str
    jurisdiction: str  # where requests are processed (ISO 3166-1 alpha-2)
    storage_jurisdiction: str  # where anything retained is stored
    region: str
    operator: str
    operator_jurisdiction: str  # the operator's home country: whose law reaches it
    retention_days: int
    trains_on_inputs: bool


@dataclass(frozen=True, slots=True)
class Route:
    backend: BackendFacts
    upstream_model: str


@dataclass(frozen=True, slots=True)
class ModelGroup:
    """A public model name and the ordered backends that may serve it."""

    name: str
    endpoint: Endpoint
    routes: tuple[Route, ...]
    extra_fields: frozenset[str]
    dimensions: bool | frozenset[int] = False  # embeddings: any `dimensions`, none, or these sizes


@dataclass(frozen=True, slots=True)
class Rule:
    """What one tenant allows for one data class. `None` in a set means any country."""

    tenant: str
    data_class: str
    jurisdictions: frozenset[str] | None
    storage_jurisdictions: frozenset[str] | None
    operator_jurisdictions: frozenset[str] | None
    max_retention_days: int
    allow_training: bool
    audit_content: AuditContent
    home_jurisdictions: frozenset[str] = frozenset()
    # Action on detected personal data per trust gap (see TRUST_GAPS); missing gaps mean "block".
    personal_data: tuple[tuple[str, Action], ...] = ()

    @property
    def id(self) -> str:
        return f"tenants.{self.tenant}.classes.{self.data_class}"


@dataclass(frozen=True, slots=True)
class Policy:
    backends: Mapping[str, BackendFacts]
    models: Mapping[str, ModelGroup]
    rules: Mapping[tuple[str, str], Rule]  # (tenant, data class) -> rule
    hash: str

    @property
    def tenants(self) -> list[str]:
        return sorted({tenant for tenant, _ in self.rules})


def policy_hash(
    backends: Mapping[str, BackendFacts],
    models: Mapping[str, ModelGroup],
    rules: Mapping[tuple[str, str], Rule],
) -> str:
    """SHA-256 over a canonical encoding of everything that can change a decision."""

    def enc(obj: object) -> object:
        if isinstance(obj, frozenset):
            return sorted(obj)
        raise TypeError(type(obj))

    document = {
        "backends": {name: asdict(facts) for name, facts in backends.items()},
        "models": {
            name: {
                "endpoint": group.endpoint,
                "routes": [[r.backend.name, r.upstream_model] for r in group.routes],
                "extra_fields": sorted(group.extra_fields),
            }
            for name, group in models.items()
        },
        "rules": {rule.id: asdict(rule) for rule in rules.values()},
    }
    canonical = msgspec.json.encode(document, enc_hook=enc, order="sorted")
    return hashlib.sha256(canonical).hexdigest()
