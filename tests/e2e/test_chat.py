"""Chat completions through the real gateway with the official openai SDK."""

from __future__ import annotations

import hashlib
import json

import httpx2 as httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from onshore.prove.signer import public_key_from_jwk, verify_receipt
from tests.e2e.conftest import World
from tests.openapi import validate

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello there"}]


def receipt_claims(w: World, token: str) -> dict[str, object]:
    jwks = httpx.get(w.gateway.url + "/.well-known/jwks.json").json()
    keys = {k["kid"]: public_key_from_jwk(k) for k in jwks["keys"]}
    return verify_receipt(token, keys)


def test_non_streaming_completion_with_signed_receipt(w: World) -> None:
    raw = w.client().chat.completions.with_raw_response.create(model="chat", messages=MESSAGES)
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello from upstream"
    assert completion.model == "chat"  # the public name, not the backend's
    assert completion.usage is not None and completion.usage.total_tokens == 5
    validate(json.loads(raw.content), "CreateChatCompletionResponse")
    # public data may go to the first route (US) under this tenant's rule
    assert len(w.us.received) == 1 and not w.jp1.received
    assert w.us.received[0]["model"] == "gpt-x"
    claims = receipt_claims(w, raw.headers["onshore-receipt"])
    assert claims["backend"] == {
        "name": "us-cloud",
        "jurisdiction": "US",
        "storage_jurisdiction": "US",
        "region": "us-east-1",
        "operator": "Hyperscaler Inc",
        "operator_jurisdiction": "US",
    }
    assert claims["data_class"] == "public"
    assert claims["response_sha256"] == hashlib.sha256(raw.content).hexdigest()
    assert claims["jti"] == raw.headers["onshore-request-id"]


def test_personal_data_class_header_keeps_it_in_japan(w: World) -> None:
    raw = w.client().chat.completions.with_raw_response.create(
        model="chat", messages=MESSAGES, extra_headers={"Onshore-Data-Class": "personal"}
    )
    assert raw.parse().choices[0].message.content
    assert not w.us.received and len(w.jp1.received) == 1
    assert w.jp1.received_headers[0]["Authorization"] == "Bearer sk-upstream-secret-do-not-leak"
    claims = receipt_claims(w, raw.headers["onshore-receipt"])
    assert claims["data_class"] == "personal"
    assert claims["backend"]["jurisdiction"] == "JP"  # type: ignore[index]


def test_a_request_cannot_lower_its_keys_floor(w: World) -> None:
    raw = w.client(w.personal_key).chat.completions.with_raw_response.create(
        model="chat", messages=MESSAGES, extra_headers={"Onshore-Data-Class": "public"}
    )
    assert receipt_claims(w, raw.headers["onshore-receipt"])["data_class"] == "personal"
    assert not w.us.received


def test_no_compliant_backend_is_refused_and_no_backend_called(w: World) -> None:
    with pytest.raises(openai.PermissionDeniedError) as info:
        w.client(w.personal_key).chat.completions.create(model="us-only", messages=MESSAGES)
    error = info.value.body
    assert isinstance(error, dict)
    assert error["code"] == "residency_policy_denied"
    assert "personal" in error["message"] and "tenants.acme.classes.personal" in error["message"]
    assert "us-cloud" in error["message"] and "processing jurisdiction US" in error["message"]
    assert "127.0.0.1" not in error["message"]
    validate({"error": error}, "ErrorResponse")
    assert not w.us.received and not w.jp1.received and not w.jp2.received


@pytest.mark.parametrize("status", [503, 500, 429])
def test_failover_stays_within_the_compliant_set(w: World, status: int) -> None:
    w.jp1.behaviour.status = status
    completion = w.client(w.personal_key).chat.completions.create(model="chat", messages=MESSAGES)
    assert completion.choices[0].message.content
    assert len(w.jp1.received) == 1 and len(w.jp2.received) == 1
    assert not w.us.received  # the US backend answers fine, but personal data may not go there


def test_failover_on_connection_refused(w: World) -> None:
    completion = w.client().chat.completions.create(model="chat-failover", messages=MESSAGES)
    assert completion.choices[0].message.content
    assert len(w.jp1.received) == 1


def test_all_compliant_backends_failing_is_a_clean_error_that_leaks_nothing(w: World) -> None:
    leaky = {
        "error": {
            "message": f"internal {w.jp1.base_url} failed with key sk-upstream-secret-do-not-leak at 10.1.2.3:8000"
        }
    }
    for upstream in (w.jp1, w.jp2):
        upstream.behaviour.status = 500
        upstream.behaviour.error_body = leaky
    with pytest.raises(openai.APIStatusError) as info:
        w.client(w.personal_key).chat.completions.create(model="chat", messages=MESSAGES)
    assert info.value.status_code == 502
    text = info.value.response.text
    assert "sk-upstream-secret" not in text and "127.0.0.1" not in text and "10.1.2.3" not in text
    assert str(w.jp1.port) not in text
    validate(info.value.response.json(), "ErrorResponse")
    assert not w.us.received


def test_upstream_400_is_passed_back_as_400(w: World) -> None:
    w.jp1.behaviour.status = 400
    w.jp1.behaviour.error_body = {"error": {"message": "maximum context length is 4096 tokens"}}
    with pytest.raises(openai.BadRequestError) as info:
        w.client(w.personal_key).chat.completions.create(model="chat", messages=MESSAGES)
    assert "maximum context length" in info.value.message
    assert not w.jp2.received  # a bad request is not retried elsewhere


def test_streaming_relays_chunks_and_drops_the_usage_chunk_it_asked_for(w: World) -> None:
    w.jp1.behaviour.chunks = 5
    stream = w.client(w.personal_key).chat.completions.create(model="chat", messages=MESSAGES, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "w0 w1 w2 w3 w4 "
    assert all(c.model == "chat" for c in chunks)
    assert all(c.choices for c in chunks)  # no usage-only chunk: the client did not ask for it
    assert w.jp1.received[0]["stream_options"] == {"include_usage": True}  # the gateway did, for the audit


def test_streaming_with_usage_requested_and_raw_framing(w: World) -> None:
    body = {"model": "chat", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    headers = {"Authorization": f"Bearer {w.personal_key}"}
    with httpx.stream("POST", w.gateway.url + "/v1/chat/completions", json=body, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        receipt = response.headers["onshore-receipt"]
        raw = b"".join(response.iter_raw())
    events = [e for e in raw.split(b"\n\n") if e]
    assert events[-1] == b"data: [DONE]"
    assert events[-2].startswith(b": onshore-receipt ")
    chunks = [json.loads(e[6:]) for e in events[:-2]]
    for chunk in chunks:
        validate(chunk, "CreateChatCompletionStreamResponse")
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3
    header_claims = receipt_claims(w, receipt)
    assert header_claims["stream"] is True and header_claims["response_sha256"] is None
    final = receipt_claims(w, events[-2].split(b" ", 2)[2].decode())
    sent_before = raw[: raw.index(b": onshore-receipt")]
    assert final["response_sha256"] == hashlib.sha256(sent_before).hexdigest()
    assert final["jti"] == header_claims["jti"]


def test_streaming_from_a_server_that_puts_usage_in_the_last_chunk(w: World) -> None:
    w.jp1.behaviour.usage_in_stream = "last_chunk"  # llama.cpp server style
    w.jp1.behaviour.send_done = False  # and some servers just close the stream
    chunks = list(
        w.client(w.personal_key).chat.completions.create(
            model="chat", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.completion_tokens == 3
    assert all(c.usage is None for c in chunks[:-1])  # moved out of the content chunk, sent once


def test_streaming_failover_before_first_byte(w: World) -> None:
    w.jp1.behaviour.status = 503
    chunks = list(w.client(w.personal_key).chat.completions.create(model="chat", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "w0 w1 w2 "
    assert w.jp2.received and not w.us.received


def test_tool_calls_pass_through(w: World) -> None:
    w.jp1.behaviour.tool_call = True
    completion = w.client(w.personal_key).chat.completions.create(
        model="chat",
        messages=MESSAGES,
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    )
    call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "lookup" and json.loads(call.function.arguments) == {"q": "weather"}  # type: ignore[union-attr]
    assert w.jp1.received[0]["tools"][0]["function"]["name"] == "lookup"


def test_allowed_extra_field_is_forwarded(w: World) -> None:
    w.client().chat.completions.create(model="extra", messages=MESSAGES, extra_body={"top_k": 5})
    assert w.jp1.received[0]["top_k"] == 5
    with pytest.raises(openai.BadRequestError) as info:
        w.client().chat.completions.create(model="chat", messages=MESSAGES, extra_body={"top_k": 5})
    assert info.value.body["param"] == "top_k"  # type: ignore[index]
    assert len(w.jp1.received) == 1


def test_embeddings(w: World) -> None:
    # Floats, to check against the schema (the SDK's default, base64, is tested in test_embeddings.py).
    raw = w.client().embeddings.with_raw_response.create(model="embed", input=["a", "b"], encoding_format="float")
    result = raw.parse()
    assert len(result.data) == 2 and result.model == "embed"
    assert w.jp1.received[0]["model"] == "e5"
    validate(json.loads(raw.content), "CreateEmbeddingResponse")
    assert receipt_claims(w, raw.headers["onshore-receipt"])["backend"]["name"] == "jp-primary"  # type: ignore[index]


def test_chat_model_on_embeddings_endpoint(w: World) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        w.client().embeddings.create(model="chat", input="x")
    assert info.value.body["code"] == "wrong_endpoint"  # type: ignore[index]
