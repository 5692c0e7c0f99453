"""The authenticated caller, as the later stages see it."""

from __future__ import annotations

from dataclasses import dataclass

OIDC_PREFIX = "oidc:"


def oidc_principal_id(issuer: str, subject: str) -> str:
    """The id of a token's caller: keyed by (issuer, subject), never by subject alone, so the same
    `sub` at two identity providers is two callers. An OIDC issuer has no fragment (OpenID Connect
    Discovery 1.0, section 3), so the first '#' separates the two unambiguously."""
    return f"{OIDC_PREFIX}{issuer}#{subject}"


@dataclass(frozen=True, slots=True)
class Principal:
    # Names the caller everywhere downstream (audit records, receipts, per-key limits and budgets):
    # the API key's id, or `oidc:<issuer>#<subject>` for a bearer token. Never the credential itself.
    key_id: str
    tenant: str
    floor: str
    models: frozenset[str] | None  # None: any model
    roles: frozenset[str] = frozenset()  # admin-side roles (identify/roles.py)

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models
