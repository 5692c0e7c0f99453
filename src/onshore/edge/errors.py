"""Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}} with a fitting HTTP status."""

from __future__ import annotations

import msgspec

from onshore.refusal import Kind, Refusal

_encoder = msgspec.json.Encoder()


class ApiError(Exception):
    """Raised anywhere on the request path; the edge turns it into an OpenAI-format response."""

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

    def body(self) -> bytes:
        return _encoder.encode(
            {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        )


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})


def forbidden(message: str, code: str) -> ApiError:
    return ApiError(403, message, type="permission_error", code=code)


def model_not_found(model: str) -> ApiError:
    return ApiError(
        404,
        f"The model '{model}' does not exist or you do not have access to it.",
        code="model_not_found",
        param="model",
    )


def server_error(status: int, message: str, code: str) -> ApiError:
    return ApiError(status, message, type="api_error", code=code)


# Every refusal kind's HTTP status and OpenAI error type (the Anthropic shape derives from these).
_REFUSALS: dict[Kind, tuple[int, str]] = {
    Kind.UNSUPPORTED_BY_BACKEND: (400, "invalid_request_error"),
    Kind.BACKENDS_DISABLED: (503, "api_error"),
    Kind.UPSTREAM_TIMEOUT: (504, "api_error"),
    Kind.UPSTREAM_BAD_RESPONSE: (502, "api_error"),
    Kind.UPSTREAM_AUTH_FAILED: (502, "api_error"),
    Kind.UPSTREAM_UNAVAILABLE: (502, "api_error"),
    Kind.UPSTREAM_RATE_LIMITED: (429, "rate_limit_error"),
    Kind.UPSTREAM_REJECTED_REQUEST: (400, "invalid_request_error"),
    Kind.UPSTREAM_REQUEST_TOO_LARGE: (413, "invalid_request_error"),
    Kind.UPSTREAM_ERROR: (502, "api_error"),
    Kind.RATE_LIMIT_EXCEEDED: (429, "rate_limit_error"),
    Kind.BUDGET_EXCEEDED: (429, "rate_limit_error"),
    Kind.LIMITS_UNAVAILABLE: (503, "api_error"),
}


def api_error(refusal: Refusal) -> ApiError:
    """A stage's refusal as the HTTP error the edge sends."""
    status, type = _REFUSALS[refusal.kind]
    headers = {"Retry-After": refusal.retry_after} if refusal.retry_after else {}
    return ApiError(status, refusal.detail, type=type, code=refusal.kind.value, headers=headers)
