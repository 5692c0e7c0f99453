"""The refusal vocabulary: why a stage will not serve a request, with no HTTP in it.

Stages raise `Refusal(kind, detail)`; only edge/errors.py maps a kind to an HTTP status and to the
OpenAI or Anthropic error shape. A kind's value is the stable `code` clients and audit records see.
"""

from __future__ import annotations

import enum


class Kind(enum.Enum):
    # Routing: no compliant backend answered.
    UNSUPPORTED_BY_BACKEND = "unsupported_by_backend"  # the backend's wire format cannot express it
    BACKENDS_DISABLED = "backends_disabled"  # every compliant backend is switched off
    UPSTREAM_TIMEOUT = "upstream_timeout"
    UPSTREAM_BAD_RESPONSE = "upstream_bad_response"
    UPSTREAM_AUTH_FAILED = "upstream_auth_failed"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    UPSTREAM_RATE_LIMITED = "upstream_rate_limited"
    UPSTREAM_REJECTED_REQUEST = "upstream_rejected_request"
    UPSTREAM_REQUEST_TOO_LARGE = "request_too_large"
    UPSTREAM_ERROR = "upstream_error"
    # Limits: admission right after identify.
    RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
    BUDGET_EXCEEDED = "budget_exceeded"
    LIMITS_UNAVAILABLE = "limits_unavailable"  # the shared store is unreachable and limits fail closed


class Refusal(Exception):
    """A stage's refusal: its kind, the detail shown to the caller, the rule that refused (if one
    did) and, for limits, how many seconds until a retry may succeed."""

    def __init__(self, kind: Kind, detail: str, *, rule: str | None = None, retry_after: str | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.rule = rule
        self.retry_after = retry_after
