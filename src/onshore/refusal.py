"""The refusal vocabulary: why the gateway will not serve a request, with no HTTP in it.

Stages and services raise `Refusal(kind, detail)`; only edge/errors.py maps a kind to an HTTP status,
its headers and the OpenAI or Anthropic error shape. A kind's `code` is the stable code clients and
audit records see (its value, except for a plain invalid value, which OpenAI sends without a code).
"""

from __future__ import annotations

import enum


class Kind(enum.Enum):
    # Identify: who is calling.
    INVALID_API_KEY = "invalid_api_key"
    KEYS_UNAVAILABLE = "keys_unavailable"  # the key store cannot be read and the cached keys are too old
    # The request itself.
    REQUEST_TOO_LARGE = "request_too_large"  # over the gateway's body limit, or a backend's
    INVALID_JSON = "invalid_json"
    MISSING_PARAMETER = "missing_required_parameter"
    UNSUPPORTED_PARAMETER = "unsupported_parameter"
    INVALID_VALUE = "invalid_value"  # a field of the wrong type or out of range (no code on the wire)
    MODEL_NOT_FOUND = "model_not_found"
    WRONG_ENDPOINT = "wrong_endpoint"
    INVALID_DATA_CLASS = "invalid_data_class"
    # A Responses turn naming an earlier response that is absent, expired or another caller's (one
    # answer for all three, as OpenAI's: nothing says whether it exists).
    PREVIOUS_RESPONSE_NOT_FOUND = "previous_response_not_found"
    # Decide and protect: the policy's answer.
    RESIDENCY_POLICY_DENIED = "residency_policy_denied"
    PERSONAL_DATA_BLOCKED = "personal_data_blocked"
    # Routing: no compliant backend answered.
    UNSUPPORTED_BY_BACKEND = "unsupported_by_backend"  # the backend's wire format cannot express it
    BACKENDS_DISABLED = "backends_disabled"  # every compliant backend is switched off
    UPSTREAM_TIMEOUT = "upstream_timeout"
    UPSTREAM_BAD_RESPONSE = "upstream_bad_response"
    UPSTREAM_AUTH_FAILED = "upstream_auth_failed"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    UPSTREAM_RATE_LIMITED = "upstream_rate_limited"
    UPSTREAM_REJECTED_REQUEST = "upstream_rejected_request"
    UPSTREAM_REQUEST_TOO_LARGE = "request_too_large"  # the same refusal as REQUEST_TOO_LARGE (an alias)
    UPSTREAM_ERROR = "upstream_error"
    # A stream that had started and was ended by the gateway.
    STREAM_TOO_LONG = "stream_too_long"
    BACKEND_DISABLED = "backend_disabled"  # an operator switched the streaming backend off (streams_on_kill: cut)
    # Limits: admission right after identify.
    RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
    BUDGET_EXCEEDED = "budget_exceeded"
    LIMITS_UNAVAILABLE = "limits_unavailable"  # the shared store is unreachable and limits fail closed
    # Prove, and the gateway itself.
    AUDIT_UNAVAILABLE = "audit_unavailable"
    RESPONSES_STORE_UNAVAILABLE = "responses_store_unavailable"  # the stored Responses turns cannot be read or kept
    INTERNAL_ERROR = "internal_error"

    @property
    def code(self) -> str | None:
        return None if self is Kind.INVALID_VALUE else self.value


class Refusal(Exception):
    """A refusal: its kind, the detail shown to the caller, the request field at fault (`param`), the
    rule that refused (if one did) and, for limits, how many seconds until a retry may succeed."""

    def __init__(
        self,
        kind: Kind,
        detail: str,
        *,
        param: str | None = None,
        rule: str | None = None,
        retry_after: str | None = None,
    ) -> None:
        # Header values arrive decoded with surrogateescape: a byte that is not UTF-8 quoted back in a
        # detail must not make the refusal itself unencodable (that was a bare 500).
        detail = detail.encode("utf-8", "backslashreplace").decode("utf-8")
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.param = param
        self.rule = rule
        self.retry_after = retry_after


def model_not_found(model: str) -> Refusal:
    """The same answer for a model that does not exist and one the caller may not use (no probing)."""
    return Refusal(
        Kind.MODEL_NOT_FOUND, f"The model '{model}' does not exist or you do not have access to it.", param="model"
    )
