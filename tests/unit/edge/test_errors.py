"""The refusal vocabulary reaches clients only through edge/errors.py (and the dialects built on it),
with the status, type, code, param and headers each refusal had when it was raised as an HTTP error."""

from __future__ import annotations

import json

import pytest

from onshore.edge.dialects import ANTHROPIC, OPENAI
from onshore.edge.errors import api_error, status_of
from onshore.refusal import Kind, Refusal

# status, OpenAI error type, code: as the stages, the pipeline and the edge sent them before the vocabulary.
EXPECTED = {
    Kind.INVALID_API_KEY: (401, "invalid_request_error", "invalid_api_key"),
    Kind.KEYS_UNAVAILABLE: (503, "api_error", "keys_unavailable"),
    Kind.REQUEST_TOO_LARGE: (413, "invalid_request_error", "request_too_large"),
    Kind.INVALID_JSON: (400, "invalid_request_error", "invalid_json"),
    Kind.MISSING_PARAMETER: (400, "invalid_request_error", "missing_required_parameter"),
    Kind.UNSUPPORTED_PARAMETER: (400, "invalid_request_error", "unsupported_parameter"),
    Kind.INVALID_VALUE: (400, "invalid_request_error", None),
    Kind.MODEL_NOT_FOUND: (404, "invalid_request_error", "model_not_found"),
    Kind.WRONG_ENDPOINT: (400, "invalid_request_error", "wrong_endpoint"),
    Kind.INVALID_DATA_CLASS: (400, "invalid_request_error", "invalid_data_class"),
    Kind.PREVIOUS_RESPONSE_NOT_FOUND: (400, "invalid_request_error", "previous_response_not_found"),
    Kind.RESIDENCY_POLICY_DENIED: (403, "permission_error", "residency_policy_denied"),
    Kind.PERSONAL_DATA_BLOCKED: (403, "permission_error", "personal_data_blocked"),
    Kind.UNSUPPORTED_BY_BACKEND: (400, "invalid_request_error", "unsupported_by_backend"),
    Kind.BACKENDS_DISABLED: (503, "api_error", "backends_disabled"),
    Kind.UPSTREAM_TIMEOUT: (504, "api_error", "upstream_timeout"),
    Kind.UPSTREAM_BAD_RESPONSE: (502, "api_error", "upstream_bad_response"),
    Kind.UPSTREAM_AUTH_FAILED: (502, "api_error", "upstream_auth_failed"),
    Kind.UPSTREAM_UNAVAILABLE: (502, "api_error", "upstream_unavailable"),
    Kind.UPSTREAM_RATE_LIMITED: (429, "rate_limit_error", "upstream_rate_limited"),
    Kind.UPSTREAM_REJECTED_REQUEST: (400, "invalid_request_error", "upstream_rejected_request"),
    Kind.UPSTREAM_ERROR: (502, "api_error", "upstream_error"),
    Kind.STREAM_TOO_LONG: (504, "api_error", "stream_too_long"),
    Kind.BACKEND_DISABLED: (503, "api_error", "backend_disabled"),
    Kind.RATE_LIMIT_EXCEEDED: (429, "rate_limit_error", "rate_limit_exceeded"),
    Kind.BUDGET_EXCEEDED: (429, "rate_limit_error", "budget_exceeded"),
    Kind.LIMITS_UNAVAILABLE: (503, "api_error", "limits_unavailable"),
    Kind.AUDIT_UNAVAILABLE: (503, "api_error", "audit_unavailable"),
    Kind.RESPONSES_STORE_UNAVAILABLE: (503, "api_error", "responses_store_unavailable"),
    Kind.INTERNAL_ERROR: (500, "api_error", "internal_error"),
}


def test_every_kind_has_its_http_mapping() -> None:
    assert set(EXPECTED) == set(Kind)


def test_a_backend_saying_too_large_is_the_same_refusal_as_a_body_over_the_limit() -> None:
    assert Kind["UPSTREAM_REQUEST_TOO_LARGE"] is Kind.REQUEST_TOO_LARGE  # an alias, not a second kind


@pytest.mark.parametrize("kind", list(Kind), ids=lambda k: k.name)
def test_a_refusal_becomes_the_openai_error_it_always_was(kind: Kind) -> None:
    error = api_error(Refusal(kind, "Backend 'tokyo' did not answer in time."))
    status, type, code = EXPECTED[kind]
    assert (error.status, error.type, error.code) == (status, type, code)
    assert status_of(kind) == status
    expected_headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if status in (429, 503):  # every 429 and 503 says when to retry
        assert error.headers.get("Retry-After", "").isdigit()
        expected_headers = {"Retry-After": error.headers["Retry-After"]}
    assert error.headers == expected_headers
    reply = OPENAI.render_refusal(Refusal(kind, "Backend 'tokyo' did not answer in time."))
    assert (reply.status, reply.headers) == (status, error.headers)
    assert json.loads(reply.body) == {
        "error": {"message": "Backend 'tokyo' did not answer in time.", "type": type, "param": None, "code": code}
    }


def test_param_is_the_field_at_fault() -> None:
    reply = OPENAI.render_refusal(Refusal(Kind.UNSUPPORTED_PARAMETER, "Unrecognized field 'top_k'.", param="top_k"))
    assert json.loads(reply.body)["error"]["param"] == "top_k"


def test_retry_after_becomes_the_header_and_the_rule_stays_out_of_the_body() -> None:
    refusal = Refusal(
        Kind.RATE_LIMIT_EXCEEDED, "rate limit tenants.acme.per_key reached", rule="per_key", retry_after="7"
    )
    error = api_error(refusal)
    assert error.headers == {"Retry-After": "7"}
    assert "rule" not in json.loads(error.body())["error"]
    assert OPENAI.render_refusal(refusal).headers == {"Retry-After": "7"}


def test_a_detail_with_undecodable_header_bytes_stays_encodable() -> None:
    raw = "Unknown data class '\udcff'"
    reply = OPENAI.render_refusal(Refusal(Kind.INVALID_DATA_CLASS, raw))
    assert json.loads(reply.body)["error"]["message"] == "Unknown data class '\\udcff'"


def test_the_anthropic_dialect_shapes_a_refusal_as_its_own_error() -> None:
    reply = ANTHROPIC.render_refusal(Refusal(Kind.UPSTREAM_RATE_LIMITED, "Backend 'tokyo' is rate limiting"))
    body = json.loads(reply.body)
    assert reply.status == 429
    assert body["type"] == "error"
    assert body["error"]["type"] == "rate_limit_error"
    assert body["error"]["message"] == "Backend 'tokyo' is rate limiting"


def test_a_stream_ends_with_the_refusal_in_each_dialect() -> None:
    refusal = Refusal(Kind.STREAM_TOO_LONG, "The backend's stream exceeded the gateway's maximum duration.")
    openai = OPENAI.stream_encoder("m").error(refusal)
    assert openai.startswith(b"data: ") and openai.endswith(b"\n\n")
    assert json.loads(openai[6:]) == {
        "error": {"message": refusal.detail, "type": "api_error", "param": None, "code": "stream_too_long"}
    }
    anthropic = ANTHROPIC.stream_encoder("m").error(refusal)
    assert b"event: error" in anthropic and refusal.detail.encode() in anthropic
