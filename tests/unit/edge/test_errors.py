"""The refusal vocabulary reaches clients only through edge/errors.py, with the status, type and code
each refusal had when the stages raised HTTP errors themselves."""

from __future__ import annotations

import json

import pytest

from onshore.edge.dialects import ANTHROPIC, OPENAI
from onshore.edge.errors import api_error
from onshore.refusal import Kind, Refusal

# status, OpenAI error type, code: as route/router.py and limits.py sent them before the vocabulary.
EXPECTED = {
    Kind.UNSUPPORTED_BY_BACKEND: (400, "invalid_request_error", "unsupported_by_backend"),
    Kind.BACKENDS_DISABLED: (503, "api_error", "backends_disabled"),
    Kind.UPSTREAM_TIMEOUT: (504, "api_error", "upstream_timeout"),
    Kind.UPSTREAM_BAD_RESPONSE: (502, "api_error", "upstream_bad_response"),
    Kind.UPSTREAM_AUTH_FAILED: (502, "api_error", "upstream_auth_failed"),
    Kind.UPSTREAM_UNAVAILABLE: (502, "api_error", "upstream_unavailable"),
    Kind.UPSTREAM_RATE_LIMITED: (429, "rate_limit_error", "upstream_rate_limited"),
    Kind.UPSTREAM_REJECTED_REQUEST: (400, "invalid_request_error", "upstream_rejected_request"),
    Kind.UPSTREAM_REQUEST_TOO_LARGE: (413, "invalid_request_error", "request_too_large"),
    Kind.UPSTREAM_ERROR: (502, "api_error", "upstream_error"),
    Kind.RATE_LIMIT_EXCEEDED: (429, "rate_limit_error", "rate_limit_exceeded"),
    Kind.BUDGET_EXCEEDED: (429, "rate_limit_error", "budget_exceeded"),
    Kind.LIMITS_UNAVAILABLE: (503, "api_error", "limits_unavailable"),
}


def test_every_kind_has_its_http_mapping() -> None:
    assert set(EXPECTED) == set(Kind)


@pytest.mark.parametrize("kind", list(Kind), ids=lambda k: k.name)
def test_a_refusal_becomes_the_openai_error_it_always_was(kind: Kind) -> None:
    error = api_error(Refusal(kind, "Backend 'tokyo' did not answer in time."))
    status, type, code = EXPECTED[kind]
    assert (error.status, error.type, error.code) == (status, type, code)
    assert error.headers == {}
    body = json.loads(OPENAI.encode_error(error))
    assert body == {
        "error": {"message": "Backend 'tokyo' did not answer in time.", "type": type, "param": None, "code": code}
    }


def test_retry_after_becomes_the_header_and_the_rule_stays_out_of_the_body() -> None:
    refusal = Refusal(
        Kind.RATE_LIMIT_EXCEEDED, "rate limit tenants.acme.per_key reached", rule="per_key", retry_after="7"
    )
    error = api_error(refusal)
    assert error.headers == {"Retry-After": "7"}
    assert "rule" not in json.loads(error.body())["error"]


def test_the_anthropic_dialect_shapes_a_refusal_as_its_own_error() -> None:
    error = api_error(Refusal(Kind.UPSTREAM_RATE_LIMITED, "Backend 'tokyo' is rate limiting"))
    body = json.loads(ANTHROPIC.encode_error(error))
    assert body["type"] == "error"
    assert body["error"]["type"] == "rate_limit_error"
    assert body["error"]["message"] == "Backend 'tokyo' is rate limiting"
