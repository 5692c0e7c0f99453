"""The one place a refusal becomes HTTP: its status, its headers and the OpenAI error shape
{"error": {"message", "type", "param", "code"}} (edge/dialects.py derives the Anthropic one from it)."""

from __future__ import annotations

import msgspec

from onshore.refusal import Kind, Refusal

_encoder = msgspec.json.Encoder()


class ApiError(Exception):
    """An HTTP error the edge sends: a refusal mapped by `api_error`, or the edge's own (admin API, metrics)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        # Header values arrive decoded with surrogateescape: a byte that is not UTF-8 quoted back in a
        # message must not make the error itself unencodable (that was a bare 500).
        message = message.encode("utf-8", "backslashreplace").decode("utf-8")
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}
        if status in (429, 503) and RETRY_AFTER not in self.headers:
            self.headers[RETRY_AFTER] = DEFAULT_RETRY_AFTER

    def body(self) -> bytes:
        return _encoder.encode(
            {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        )


_INVALID = "invalid_request_error"
_SERVER = "api_error"
_LIMIT = "rate_limit_error"
_DENIED = "permission_error"
# Every refusal kind's HTTP status and OpenAI error type.
_STATUS: dict[Kind, tuple[int, str]] = {
    Kind.INVALID_API_KEY: (401, _INVALID),
    Kind.KEYS_UNAVAILABLE: (503, _SERVER),
    Kind.REQUEST_TOO_LARGE: (413, _INVALID),
    Kind.INVALID_JSON: (400, _INVALID),
    Kind.MISSING_PARAMETER: (400, _INVALID),
    Kind.UNSUPPORTED_PARAMETER: (400, _INVALID),
    Kind.INVALID_VALUE: (400, _INVALID),
    Kind.MODEL_NOT_FOUND: (404, _INVALID),
    Kind.WRONG_ENDPOINT: (400, _INVALID),
    Kind.INVALID_DATA_CLASS: (400, _INVALID),
    Kind.PREVIOUS_RESPONSE_NOT_FOUND: (400, _INVALID),
    Kind.RESIDENCY_POLICY_DENIED: (403, _DENIED),
    Kind.PERSONAL_DATA_BLOCKED: (403, _DENIED),
    Kind.UNSUPPORTED_BY_BACKEND: (400, _INVALID),
    Kind.BACKENDS_DISABLED: (503, _SERVER),
    Kind.UPSTREAM_TIMEOUT: (504, _SERVER),
    Kind.UPSTREAM_BAD_RESPONSE: (502, _SERVER),
    Kind.UPSTREAM_AUTH_FAILED: (502, _SERVER),
    Kind.UPSTREAM_UNAVAILABLE: (502, _SERVER),
    Kind.UPSTREAM_RATE_LIMITED: (429, _LIMIT),
    Kind.UPSTREAM_REJECTED_REQUEST: (400, _INVALID),
    Kind.UPSTREAM_ERROR: (502, _SERVER),
    Kind.STREAM_TOO_LONG: (504, _SERVER),
    Kind.BACKEND_DISABLED: (503, _SERVER),
    Kind.RATE_LIMIT_EXCEEDED: (429, _LIMIT),
    Kind.BUDGET_EXCEEDED: (429, _LIMIT),
    Kind.LIMITS_UNAVAILABLE: (503, _SERVER),
    Kind.AUDIT_UNAVAILABLE: (503, _SERVER),
    Kind.RESPONSES_STORE_UNAVAILABLE: (503, _SERVER),
    Kind.INTERNAL_ERROR: (500, _SERVER),
}
_CHALLENGE = {"WWW-Authenticate": "Bearer"}  # a 401 names the scheme it wants
RETRY_AFTER = "Retry-After"
# Seconds a client should wait, for every 429 and 503 whose refusal does not say (a limit's refusal and
# an upstream's 429 carry their own): SDKs retry on these, and without the header they guess.
_RETRY_AFTER: dict[Kind, str] = {
    Kind.KEYS_UNAVAILABLE: "5",
    Kind.BACKENDS_DISABLED: "30",
    Kind.BACKEND_DISABLED: "30",
    Kind.UPSTREAM_RATE_LIMITED: "1",
    Kind.RATE_LIMIT_EXCEEDED: "1",
    Kind.BUDGET_EXCEEDED: "60",
    Kind.LIMITS_UNAVAILABLE: "1",
    Kind.AUDIT_UNAVAILABLE: "5",
}
DEFAULT_RETRY_AFTER = "1"  # the edge's own 503s and 429s (admin API, readiness)


def status_of(kind: Kind) -> int:
    return _STATUS[kind][0]


def api_error(refusal: Refusal) -> ApiError:
    """A refusal as the HTTP error the edge sends."""
    status, type = _STATUS[refusal.kind]
    headers = dict(_CHALLENGE) if status == 401 else {}
    retry_after = refusal.retry_after or _RETRY_AFTER.get(refusal.kind)
    if retry_after:
        headers[RETRY_AFTER] = retry_after
    return ApiError(status, refusal.detail, type=type, code=refusal.kind.code, param=refusal.param, headers=headers)
