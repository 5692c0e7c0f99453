"""Errors: what each direction raises, and Anthropic's error shapes for clients."""

from __future__ import annotations

import msgspec

from onshore.refusal import Kind, Refusal
from onshore.translate.anthropic.tables import ERROR_TYPES
from onshore.translate.anthropic.wire import ErrorBody, ErrorDetail

_encoder = msgspec.json.Encoder()


class InboundError(ValueError):
    """An Anthropic request Onshore cannot accept; `param` names the offending field."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


class Untranslatable(Refusal, ValueError):
    """An OpenAI request an Anthropic backend cannot be sent as it is; `field` names what.

    A Refusal (unsupported by the backend); also a ValueError, which the router reads as "this
    provider cannot express the request" and so tries the next route.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(Kind.UNSUPPORTED_BY_BACKEND, f"{field}: {reason}")
        self.field = field
        self.reason = reason


def error_type(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def _error(status: int, message: str) -> bytes:
    return _encoder.encode(ErrorBody(ErrorDetail(error_type(status), message)))


def error_body(status: int, message: str) -> bytes:
    """Anthropic's error body for an HTTP status: {"type": "error", "error": {"type", "message"}}."""
    return _error(status, message)


def error_event(status: int, message: str) -> bytes:
    """The same error as an `event: error` in a stream that has already started."""
    return b"event: error\ndata: " + _error(status, message) + b"\n\n"
