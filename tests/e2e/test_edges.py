"""Bad input, identity, models, health and metrics, through the real gateway."""

from __future__ import annotations

import time
from typing import Any

import httpx2 as httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from onshore.cli import main
from tests.e2e.conftest import World
from tests.openapi import validate

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello"}]


def post(w: World, path: str, body: bytes | str, key: str | None = None, **headers: str) -> httpx.Response:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    headers.setdefault("Content-Type", "application/json")
    return httpx.post(w.gateway.url + path, content=body, headers=headers)


def assert_error(
    response: httpx.Response, status: int, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    validate(body, "ErrorResponse")
    if code is not None:
        assert body["error"]["code"] == code
    if param is not None:
        assert body["error"]["param"] == param
    error: dict[str, Any] = body["error"]  # validated above as OpenAI's ErrorResponse
    return error


def test_malformed_json(w: World) -> None:
    assert_error(post(w, "/v1/chat/completions", b'{"model": "chat",', w.public_key), 400, "invalid_json")


def test_missing_field_is_named(w: World) -> None:
    error = assert_error(
        post(w, "/v1/chat/completions", '{"model": "chat"}', w.public_key),
        400,
        "missing_required_parameter",
        "messages",
    )
    assert error["type"] == "invalid_request_error"


def test_wrong_nested_type_is_named(w: World) -> None:
    body = '{"model": "chat", "messages": [{"role": "robot", "content": "x"}]}'
    assert_error(post(w, "/v1/chat/completions", body, w.public_key), 400, param="messages[0].role")


def test_unknown_model_is_404(w: World) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        w.client().chat.completions.create(model="gpt-unknown", messages=MESSAGES)
    assert info.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_model_outside_keys_list_looks_unknown(w: World) -> None:
    with pytest.raises(openai.NotFoundError):
        w.client(w.limited_key).chat.completions.create(model="extra", messages=MESSAGES)


def test_body_over_limit_is_413_before_anything_is_called(w: World) -> None:
    big = '{"model": "chat", "messages": [{"role": "user", "content": "' + "x" * 70000 + '"}]}'
    assert_error(post(w, "/v1/chat/completions", big, w.public_key), 413, "request_too_large")
    assert not (w.us.received or w.jp1.received)
    import json
    import sqlite3

    with sqlite3.connect(w.settings.data_dir / "onshore.db") as conn:
        (body,) = conn.execute("SELECT body FROM audit_records ORDER BY seq DESC LIMIT 1").fetchone()
    record = json.loads(body)
    assert record["status"] == 413 and record["tenant"] == "acme"  # refused unread, but recorded


def test_undocumented_field_is_refused_not_forwarded(w: World) -> None:
    body = '{"model": "chat", "messages": [{"role": "user", "content": "x"}], "secret_route": "abroad"}'
    assert_error(post(w, "/v1/chat/completions", body, w.public_key), 400, "unsupported_parameter", "secret_route")
    assert not (w.us.received or w.jp1.received)


def test_unknown_data_class_header(w: World) -> None:
    body = '{"model": "chat", "messages": [{"role": "user", "content": "x"}]}'
    response = post(w, "/v1/chat/completions", body, w.public_key, **{"Onshore-Data-Class": "top-secret"})
    assert_error(response, 400, "invalid_data_class")


@pytest.mark.parametrize("key", [None, "wrong", "onsk_abc_def"])
def test_missing_or_invalid_key_is_401(w: World, key: str | None) -> None:
    response = post(w, "/v1/chat/completions", '{"model": "chat", "messages": []}', key)
    error = assert_error(response, 401, "invalid_api_key")
    assert "wrong" not in error["message"]


def test_revoked_key_stops_working(w: World) -> None:
    from tests.support.gateway import add_key

    key = add_key(w.settings, "acme")
    deadline = time.monotonic() + 2
    while True:  # a key created while the gateway runs is picked up within the refresh interval
        try:
            w.client(key).models.list()
            break
        except openai.AuthenticationError:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    key_id = key.split("_")[1]
    assert main(["keys", "revoke", key_id, "--data-dir", str(w.settings.data_dir)]) == 0
    time.sleep(0.3)
    with pytest.raises(openai.AuthenticationError):
        w.client(key).chat.completions.create(model="chat", messages=MESSAGES)


def test_models_list_shows_only_reachable_models(w: World) -> None:
    response = httpx.get(w.gateway.url + "/v1/models", headers={"Authorization": f"Bearer {w.public_key}"})
    validate(response.json(), "ListModelsResponse")
    assert [m.id for m in w.client().models.list()] == ["chat", "chat-failover", "embed", "extra", "us-only"]
    personal = [m.id for m in w.client(w.personal_key).models.list()]
    assert "us-only" not in personal and "chat" in personal
    assert [m.id for m in w.client(w.limited_key).models.list()] == ["chat"]
    assert w.client().models.retrieve("chat").id == "chat"
    with pytest.raises(openai.NotFoundError):
        w.client(w.personal_key).models.retrieve("us-only")


def test_unknown_path_and_method_are_openai_errors(w: World) -> None:
    assert_error(httpx.get(w.gateway.url + "/v1/nothing"), 404, "not_found")
    assert_error(httpx.get(w.gateway.url + "/v1/chat/completions"), 405, "method_not_allowed")


def test_health_readiness_jwks(w: World) -> None:
    assert httpx.get(w.gateway.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(w.gateway.url + "/readyz").json() == {"status": "ready"}
    jwks = httpx.get(w.gateway.url + "/.well-known/jwks.json").json()
    assert jwks["keys"][0]["alg"] == "EdDSA" and "d" not in jwks["keys"][0]


def test_metrics(w: World) -> None:
    w.client().chat.completions.create(model="chat", messages=MESSAGES)
    with pytest.raises(openai.PermissionDeniedError):
        w.client(w.personal_key).chat.completions.create(model="us-only", messages=MESSAGES)
    text = httpx.get(w.gateway.url + "/metrics").text
    assert 'onshore_requests_total{endpoint="chat",model="chat",status="200"}' in text
    assert 'onshore_requests_total{endpoint="chat",model="us-only",status="403"}' in text
    assert 'onshore_denials_total{rule="tenants.acme.classes.personal"}' in text
    assert 'onshore_decisions_total{outcome="allowed"}' in text
    assert "onshore_gateway_overhead_seconds_bucket" in text
    assert 'onshore_upstream_latency_seconds_count{backend="us-cloud"}' in text
    assert 'onshore_tokens_total{kind="prompt",model="chat"}' in text
