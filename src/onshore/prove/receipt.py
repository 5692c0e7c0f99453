"""What a residency receipt claims: the one builder for every receipt (answers, stream openings and
the final receipt of a stream). Pure: the signer signs what this returns."""

from __future__ import annotations

from typing import Any

from onshore.decide.decision import Decision
from onshore.decide.policy import BackendFacts
from onshore.prove.record import RequestTrace, backend_summary


def receipt_claims(
    trace: RequestTrace,
    decision: Decision,
    backend: BackendFacts,
    *,
    issued_at: int,
    response_sha256: str | None,
    stream: bool,
    final: bool = False,
) -> dict[str, Any]:
    """`response_sha256`: the digest of the bytes the client received (None for a stream's opening
    receipt, which is issued before any are sent); `final`: the receipt closing a stream."""
    claims: dict[str, Any] = {
        "iss": "onshore",
        "jti": trace.id,
        "iat": issued_at,
        "tenant": trace.tenant,
        # Who asked: the API key's id, or `oidc:<issuer>#<subject>` for a bearer token; never a credential.
        "principal": trace.key_id,
        "model": trace.model,
        "data_class": trace.data_class,
        "decision": decision.id,
        "rule": decision.verdict.rule_id,
        "policy_hash": decision.policy_hash,
        "backend": backend_summary(backend),
        "request_sha256": trace.request_sha256,
        "response_sha256": response_sha256,
        "stream": stream,
    }
    if final:
        claims["final"] = True
    return claims
