"""The Responses API passed through to backends that speak it natively (`backends.X.responses: native`),
through the real gateway with the official openai SDK, in front of real loopback upstreams.

Every answer is checked against OpenAI's published `Response` schema and every streamed event
against `ResponseStreamEvent`; what the (recording) upstream received proves the guarantees: store
false, no previous_response_id, personal data pseudonymised for the less trusted backend.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest

from onshore.prove.signer import public_key_from_jwk, verify_receipt
from onshore.settings import Settings
from tests.e2e.test_protect import PHONE, sent_to
from tests.e2e.test_responses import responses_stream
from tests.openapi import validate
from tests.support.gateway import RunningGateway, add_key, backend, make_settings
from tests.support.upstream import Behaviour, FakeUpstream


@dataclass
class Native:
    gateway: RunningGateway
    settings: Settings
    us: FakeUpstream  # native, abroad: gets personal data pseudonymised
    jp: FakeUpstream  # native, at home
    bad: FakeUpstream  # native, failing in the failover tests
    chat: FakeUpstream  # chat completions only (translated)
    key: str
    clients: dict[str, openai.OpenAI] = field(default_factory=dict)

    @property
    def client(self) -> openai.OpenAI:
        if "sdk" not in self.clients:
            self.clients["sdk"] = openai.OpenAI(base_url=self.gateway.url + "/v1", api_key=self.key, max_retries=0)
        return self.clients["sdk"]

    def record(self, n: int = 1) -> dict[str, Any]:
        """The n-th newest audit record."""
        with sqlite3.connect(self.settings.data_dir / "onshore.db") as conn:
            rows = conn.execute("SELECT body FROM audit_records ORDER BY seq DESC LIMIT ?", (n,)).fetchall()
        record: dict[str, Any] = json.loads(rows[-1][0])
        return record


def _settings(data_dir: Path, us: FakeUpstream, jp: FakeUpstream, bad: FakeUpstream, chat: FakeUpstream) -> Settings:
    backends = {
        "us-native": backend(
            us.base_url, "US", operator="Hyperscaler Inc", retention_days=30, region="us-east-1", responses="native"
        ),
        "jp-native": backend(jp.base_url, "JP", region="tokyo-1", responses="native"),
        "bad-native": backend(bad.base_url, "JP", region="tokyo-2", responses="native"),
        "jp-chat": backend(chat.base_url, "JP", region="osaka-1"),
        "jp-azure": {
            **backend(
                f"http://127.0.0.1:{jp.port}", "JP", region="japaneast", responses="native", api_key_env="AZ_KEY"
            ),
            "kind": "azure_openai",
        },
    }
    models = {
        "abroad": {"routes": [{"backend": "us-native", "model": "gpt-x"}]},
        "home": {"routes": [{"backend": "jp-native", "model": "qwen"}]},
        "failover": {"routes": [{"backend": "bad-native", "model": "qwen"}, {"backend": "jp-chat", "model": "qwen"}]},
        "back": {"routes": [{"backend": "jp-chat", "model": "qwen"}, {"backend": "bad-native", "model": "qwen"}]},
        "azure": {"routes": [{"backend": "jp-azure", "model": "dep-1"}]},
    }
    # Personal data may reach the US cloud, but only pseudonymised (the default actions).
    rule = {"jurisdictions": ["JP", "US"], "max_retention_days": 30, "audit_content": "digest"}
    tenants = {"acme": {"classes": {c: rule for c in ("public", "internal", "confidential", "personal")}}}
    tenants["acme"]["classes"]["special_care"] = {"jurisdictions": ["JP"]}
    return make_settings(data_dir, backends, models, tenants, environ={"AZ_KEY": "az-secret"})


@pytest.fixture(scope="module")
def native_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Native]:
    us, jp, bad, chat = ups = [FakeUpstream(name).start() for name in ("us", "jp", "bad", "chat")]
    settings = _settings(tmp_path_factory.mktemp("native"), us, jp, bad, chat)
    key = add_key(settings, "acme")
    gateway = RunningGateway(settings).start()
    world = Native(gateway, settings, us, jp, bad, chat, key)
    try:
        yield world
    finally:
        for client in world.clients.values():
            client.close()
        gateway.stop()
        for upstream in ups:
            upstream.stop()


@pytest.fixture
def n(native_world: Native) -> Native:
    for upstream in (native_world.us, native_world.jp, native_world.bad, native_world.chat):
        upstream.behaviour = Behaviour()
        upstream.received.clear()
        upstream.received_paths.clear()
    return native_world


def stream(n: Native, body: dict[str, Any]) -> tuple[list[dict[str, Any]], bytes, str]:
    """The raw stream: its events (each checked against the schema, numbered by Onshore), its bytes,
    and the header receipt."""
    return responses_stream(n.gateway.url, n.key, body)


def receipt_claims(n: Native, token: str) -> dict[str, object]:
    jwks = httpx.get(n.gateway.url + "/.well-known/jwks.json").json()
    return verify_receipt(token, {k["kid"]: public_key_from_jwk(k) for k in jwks["keys"]})


def final_receipt(n: Native, raw: bytes) -> dict[str, object]:
    """The receipt comment after response.completed: it must cover every byte sent before it."""
    last = raw.rstrip().rsplit(b"\n\n", 1)[-1]
    assert last.startswith(b": onshore-receipt ")
    claims = receipt_claims(n, last.split(b" ", 2)[2].decode())
    assert claims["response_sha256"] == hashlib.sha256(raw[: raw.index(b": onshore-receipt")]).hexdigest()
    return claims


def test_json_answer_is_the_backends_response_under_onshores_id_and_echo(n: Native) -> None:
    raw = n.client.responses.with_raw_response.create(
        model="home", input="Hello", instructions="Be brief.", metadata={"ticket": "T-1"}, max_output_tokens=50
    )
    document = json.loads(raw.content)
    validate(document, "Response")
    response = raw.parse()
    assert response.output_text == "Hello from upstream" and response.status == "completed"
    assert response.model == "home" and response.id.startswith("resp_") and response.id != "resp_upstream"
    assert response.metadata == {"ticket": "T-1"} and response.instructions == "Be brief."  # ours, not upstream's
    assert response.usage is not None and (response.usage.input_tokens, response.usage.output_tokens) == (11, 5)
    assert n.jp.received_paths == ["/v1/responses"]
    (sent,) = n.jp.received
    assert sent == {
        "model": "qwen",
        "store": False,
        "instructions": "Be brief.",
        "input": [{"type": "message", "role": "user", "content": "Hello"}],
        "max_output_tokens": 50,
    }
    assert (
        receipt_claims(n, raw.headers["onshore-receipt"])["response_sha256"] == hashlib.sha256(raw.content).hexdigest()
    )
    record = n.record()
    assert record["endpoint"] == "responses" and record["status"] == 200
    assert record["usage"] == {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
    assert record["usage_source"] == "upstream" and record["decision"]["chosen"]["name"] == "jp-native"


def test_stream_relays_the_backends_typed_events_with_receipts_and_usage(n: Native) -> None:
    events, raw, receipt = stream(n, {"model": "home", "input": "Hello", "stream": True})
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 4,  # "Hello from upstream" in pieces of 6 characters
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = events[-1]["response"]
    validate(final, "Response")
    assert final["output"][0]["content"][0]["text"] == "Hello from upstream"
    assert final["usage"]["output_tokens"] == 5 and final["metadata"] == {}  # never the upstream's echo
    assert {e["response"]["id"] for e in events if "response" in e} == {final["id"]} != {"resp_upstream"}
    (sent,) = n.jp.received
    assert sent["stream"] is True and sent["store"] is False and "stream_options" not in sent
    assert final_receipt(n, raw)["jti"] == receipt_claims(n, receipt)["jti"]
    close = n.record()
    assert close["kind"] == "stream_close" and close["outcome"] == "completed"
    assert close["usage"] == {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
    assert close["usage_source"] == "upstream"


def test_the_sdk_reads_the_native_stream(n: Native) -> None:
    with n.client.responses.stream(model="home", input="Hello") as events:
        deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
        final = events.get_final_response()
    assert "".join(deltas) == "Hello from upstream" == final.output_text


def test_personal_value_is_pseudonymised_upstream_and_restored_in_the_answer(n: Native) -> None:
    n.us.behaviour.echo = True
    n.us.behaviour.tool_call = True
    tool: Any = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}
    raw = n.client.responses.with_raw_response.create(
        model="abroad", input=f"電話は{PHONE}です", instructions=f"Call {PHONE} if needed.", tools=[tool]
    )
    validate(json.loads(raw.content), "Response")
    response = raw.parse()
    upstream = sent_to(n.us.received)
    assert PHONE not in upstream and "[[PHONE_1]]" in upstream
    assert n.us.received[0]["instructions"] == "Call [[PHONE_1]] if needed."
    assert response.output_text == f"電話は{PHONE}です"
    (call,) = [item for item in response.output if item.type == "function_call"]
    assert json.loads(call.arguments) == {"q": f"電話は{PHONE}です"}
    assert response.instructions == f"Call {PHONE} if needed."  # the client's own, never the pseudonymised echo
    assert n.record()["personal_data"]["pseudonymised_for"] == ["us-native"]


def test_streamed_placeholder_split_across_deltas_is_restored(n: Native) -> None:
    n.us.behaviour.echo = True
    n.us.behaviour.tool_call = True
    n.us.behaviour.chunk_chars = 3  # "[[PHONE_1]]" arrives in four deltas
    events, raw, _ = stream(n, {"model": "abroad", "input": f"電話は{PHONE}です", "stream": True})
    assert PHONE not in sent_to(n.us.received)
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert "".join(deltas) == f"電話は{PHONE}です"
    assert not any("[[" in d or "]]" in d for d in deltas)
    (done,) = [e for e in events if e["type"] == "response.output_text.done"]
    assert done["text"] == f"電話は{PHONE}です"
    arguments = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    assert json.loads(arguments) == {"q": f"電話は{PHONE}です"}
    final = events[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == f"電話は{PHONE}です"
    assert json.loads(final["output"][1]["arguments"]) == {"q": f"電話は{PHONE}です"}
    assert "[[PHONE_1]]" not in raw.decode()
    final_receipt(n, raw)


def test_azure_native_uses_its_v1_responses_path_with_the_deployment_as_model(n: Native) -> None:
    events, _, _ = stream(n, {"model": "azure", "input": "Hello", "stream": True})
    assert events[-1]["response"]["model"] == "azure"
    assert n.jp.received_paths == ["/openai/v1/responses"] and n.jp.received[0]["model"] == "dep-1"
    assert n.jp.received_headers[-1]["api-key"] == "az-secret"


def test_chat_completions_to_a_native_backend_stay_chat_completions(n: Native) -> None:
    completion = n.client.chat.completions.create(model="home", messages=[{"role": "user", "content": "Hi"}])
    assert completion.choices[0].message.content == "Hello from upstream"
    assert n.jp.received_paths == ["/v1/chat/completions"]


def test_a_failed_response_ends_the_stream_with_a_scrubbed_error_and_is_recorded(n: Native) -> None:
    n.jp.behaviour.fail_response = True
    events, raw, _ = stream(n, {"model": "home", "input": "Hello", "stream": True})
    assert events[-1]["type"] == "error" and "10.0.0.7" not in raw.decode()
    assert "[url]" in events[-1]["message"] and b": onshore-receipt" not in raw  # no final receipt for a failure
    close = n.record()
    assert close["kind"] == "stream_close" and close["outcome"] == "upstream_error"


def test_a_native_stream_cut_off_is_not_certified_as_an_answer(n: Native) -> None:
    n.jp.behaviour.cut_after = 1
    headers = {"Authorization": f"Bearer {n.key}"}
    body = {"model": "home", "input": "Hello", "stream": True}
    with httpx.stream("POST", n.gateway.url + "/v1/responses", json=body, headers=headers) as response:
        raw = b"".join(response.iter_raw())
    assert b"event: error" in raw and b"response.completed" not in raw and b": onshore-receipt" not in raw
    close = n.record()
    assert close["kind"] == "stream_close" and close["outcome"] == "upstream_cut"


def test_failover_from_a_failing_native_backend_to_a_translated_one(n: Native) -> None:
    n.bad.behaviour.status = 503
    response = n.client.responses.create(model="failover", input="Hello", instructions="Be brief.")
    assert response.output_text == "Hello from upstream"
    assert n.bad.received_paths == ["/v1/responses"] and "input" in n.bad.received[0]
    (sent,) = n.chat.received  # the chat body, built for that route
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
    assert [a["outcome"] for a in n.record()["attempts"]] == ["status_503", "ok"]
    events, raw, _ = stream(n, {"model": "failover", "input": "Hello", "stream": True})
    assert events[-1]["type"] == "response.completed" and events[-1]["response"]["output"][0]["content"]
    assert n.chat.received[-1]["stream_options"] == {"include_usage": True}  # a chat stream, as for any chat route
    final_receipt(n, raw)


def test_failover_from_a_translated_backend_to_a_native_one(n: Native) -> None:
    n.chat.behaviour.status = 503
    response = n.client.responses.create(model="back", input="Hello")
    assert response.output_text == "Hello from upstream"
    assert n.chat.received_paths == ["/v1/chat/completions"] and n.bad.received_paths == ["/v1/responses"]


def test_previous_response_id_is_continued_by_onshore_on_a_native_backend(n: Native) -> None:
    first = n.client.responses.create(model="home", input="My name is Taro.", instructions="Be brief.")
    second = n.client.responses.create(model="home", input="What is my name?", previous_response_id=first.id)
    assert second.previous_response_id == first.id and second.output_text == "Hello from upstream"
    sent = n.jp.received[-1]
    assert "previous_response_id" not in sent and sent["store"] is False
    assert "instructions" not in sent  # instructions are never carried into a later turn
    assert sent["input"] == [
        {"type": "message", "role": "user", "content": "My name is Taro."},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hello from upstream", "annotations": []}],
        },
        {"type": "message", "role": "user", "content": "What is my name?"},
    ]
    # Streamed too, and the stored turn is Onshore's (GET by its owner).
    events, _, _ = stream(
        n, {"model": "home", "input": "And again?", "previous_response_id": second.id, "stream": True}
    )
    assert len(n.jp.received[-1]["input"]) == 5
    kept = n.client.responses.retrieve(events[-1]["response"]["id"])
    assert kept.output_text == "Hello from upstream" and kept.previous_response_id == second.id


@pytest.mark.parametrize(
    ("field", "value"),
    [("reasoning", {"effort": "low"}), ("include", ["reasoning.encrypted_content"]), ("prompt", {"id": "pmpt_1"})],
)
def test_a_field_the_scan_does_not_cover_is_refused_by_name(n: Native, field: str, value: Any) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        n.client.responses.create(model="home", input="Hello", extra_body={field: value})
    assert refused.value.status_code == 400
    assert isinstance(refused.value.body, dict) and refused.value.body.get("param") == field
    assert n.jp.received == []


def test_hosted_tools_stay_refused_on_a_native_backend(n: Native) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        n.client.responses.create(model="home", input="Hello", tools=[{"type": "web_search"}])
    assert "hosted tool" in str(refused.value)
    assert n.jp.received == []
