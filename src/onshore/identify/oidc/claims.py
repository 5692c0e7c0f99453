"""From a verified token's claims to who is calling: tenant, data-class floor, models, roles. Pure.

Every mapping names a claim and maps its *values* to Onshore names; a claim value never becomes a
tenant or model name by itself. Presets give the claim names each identity provider uses:

- `entra_v2` / `entra_v1`: subject `oid` (stable object id; `sub` is per application), tenant `tid`,
  roles from `roles` (app roles; `scp` holds delegated scopes, space-separated). A token whose
  `groups` were left out for overage (`_claim_names`, or `hasgroups`) has unknown groups: a mapping
  that reads `groups` then refuses it rather than guess.
- `okta`: subject `uid` (users) or `cid` (applications, client credentials), roles from a `groups`
  claim (add it to the authorization server), scopes in `scp` as an array.
- `keycloak`: subject `sub`, roles from `realm_access.roles` (client roles are under
  `resource_access.<client>.roles`), the calling client in `azp`, scopes in `scope`.
- `generic`: subject `sub`; every other claim named in the config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from onshore.identify.oidc.token import TokenRefused

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Preset:
    subject: tuple[str, ...]  # tried in order: the first present names the caller
    tenant: str | None  # claim giving the tenant, if the IdP has one
    roles: str | None  # claim holding roles (or groups), the default for floor/models/roles mappings


PRESETS: dict[str, Preset] = {
    "generic": Preset(subject=("sub",), tenant=None, roles=None),
    "entra_v2": Preset(subject=("oid",), tenant="tid", roles="roles"),
    "entra_v1": Preset(subject=("oid",), tenant="tid", roles="roles"),
    "okta": Preset(subject=("uid", "cid"), tenant=None, roles="groups"),
    "keycloak": Preset(subject=("sub",), tenant=None, roles="realm_access.roles"),
}
_SPACE_SEPARATED = frozenset({"scp", "scope"})  # OAuth scopes are one space-separated string (RFC 6749 3.3)


@dataclass(frozen=True, slots=True)
class ValueMap(Generic[T]):
    """`values` of claim `claim` -> what each means."""

    claim: str
    values: Mapping[str, T]


@dataclass(frozen=True, slots=True)
class Requirement:
    claim: str
    any_of: frozenset[str]


@dataclass(frozen=True, slots=True)
class ClaimMapping:
    subject: tuple[str, ...]
    classes: tuple[str, ...]  # data classes, least sensitive first (to pick the strictest floor)
    tenant_fixed: str | None = None
    tenant: ValueMap[str] | None = None
    floor_default: str = "public"
    floor: ValueMap[str] | None = None
    models: ValueMap[tuple[str, ...]] | None = None  # None: any model the tenant's policy allows
    roles: ValueMap[str] | None = None
    require: tuple[Requirement, ...] = ()
    entra_overage: bool = False  # also honour Entra's `hasgroups: true`
    used_claims: frozenset[str] = field(default=frozenset())

    def __post_init__(self) -> None:
        used = {m.claim for m in (self.tenant, self.floor, self.models, self.roles) if m is not None}
        object.__setattr__(self, "used_claims", frozenset(used | {r.claim for r in self.require}))


@dataclass(frozen=True, slots=True)
class Identity:
    subject: str
    tenant: str
    floor: str
    models: frozenset[str] | None
    roles: frozenset[str]


def claim_values(claims: Mapping[str, Any], path: str) -> frozenset[str]:
    """The string values of a claim: a whole key first (custom claims are often URLs with dots),
    else a dotted path into nested objects (`realm_access.roles`). Anything but strings is ignored."""
    value: Any = claims.get(path)
    if value is None and "." in path:
        value = claims
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
    last = path.rsplit(".", 1)[-1]
    if isinstance(value, str):
        return frozenset(value.split()) if last in _SPACE_SEPARATED else frozenset({value})
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


def _check_overage(claims: Mapping[str, Any], mapping: ClaimMapping) -> None:
    names = claims.get("_claim_names")
    left_out = set(names) if isinstance(names, dict) else set()
    if mapping.entra_overage and claims.get("hasgroups") is True:
        left_out.add("groups")
    for claim in sorted(left_out & mapping.used_claims):
        raise TokenRefused(
            "claims_overage",
            f"the identity provider left '{claim}' out of the token (too many values), so they are unknown; "
            "map app roles instead, or have the IdP filter what it sends",
        )


def _subject(claims: Mapping[str, Any], names: tuple[str, ...]) -> str:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    raise TokenRefused("subject", f"the token has no subject claim ({' or '.join(names)})")


def map_claims(claims: Mapping[str, Any], mapping: ClaimMapping) -> Identity:
    """Who a verified token's claims say is calling. Raises TokenRefused naming the failed check."""
    subject = _subject(claims, mapping.subject)
    _check_overage(claims, mapping)
    for requirement in mapping.require:
        if not claim_values(claims, requirement.claim) & requirement.any_of:
            raise TokenRefused("required_claim", f"'{requirement.claim}' has none of the values this gateway requires")
    if mapping.tenant_fixed is not None:
        tenant = mapping.tenant_fixed
    else:
        assert mapping.tenant is not None  # the config gives one of the two
        matched = claim_values(claims, mapping.tenant.claim) & mapping.tenant.values.keys()
        tenants = {
            mapping.tenant.values[v] for v in claim_values(claims, mapping.tenant.claim) & mapping.tenant.values.keys()
        }
        if not tenants:
            raise TokenRefused("tenant", f"'{mapping.tenant.claim}' maps to no tenant of this gateway")
        if len(tenants) > 1:
            raise TokenRefused("tenant", f"'{mapping.tenant.claim}' maps to several tenants: which one is ambiguous")
        (tenant,) = tenants
    floor = mapping.floor_default
    if mapping.floor is not None:
        for value in claim_values(claims, mapping.floor.claim) & mapping.floor.values.keys():
            candidate = mapping.floor.values[value]
            if mapping.classes.index(candidate) > mapping.classes.index(floor):
                floor = candidate  # several matches: the most sensitive floor wins
    models: frozenset[str] | None = None
    if mapping.models is not None:
        matched = claim_values(claims, mapping.models.claim) & mapping.models.values.keys()
        models = frozenset(m for value in matched for m in mapping.models.values[value])
    roles: frozenset[str] = frozenset()
    if mapping.roles is not None:
        matched = claim_values(claims, mapping.roles.claim) & mapping.roles.values.keys()
        roles = frozenset(mapping.roles.values[value] for value in matched)
    return Identity(subject, tenant, floor, models, roles)


class MappingProblem(Exception):
    """A claim mapping that cannot work, with the config key it is about (relative to the issuer)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def claim_for(preset: str, given: str | None, default: str | None, path: str) -> str:
    """The claim a mapping reads: the one configured, else the preset's; neither is a config error."""
    claim = given or default
    if not claim:
        raise MappingProblem(f"{path}.claim", f"the {preset} preset has no default claim here: name one")
    return claim
