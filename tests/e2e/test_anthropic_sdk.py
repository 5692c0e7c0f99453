"""The official anthropic SDK against the real gateway: an application written for Claude changes only
its base URL. Messages (plain, streamed, tools), count_tokens and refusals arrive as the SDK's own
types, in front of an OpenAI-compatible backend (translated both ways) and with personal data
pseudonymised for a foreign backend and restored in the answer the SDK reads."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from tests.support.gateway import RunningGateway, add_key, backend, make_settings, rules
from tests.support.upstream import FakeUpstream

PHONE = "090-1234-5678"


class Rig:
    def __init__(self, gateway: RunningGateway, jp: FakeUpstream, us: FakeUpstream, keys: dict[str, str]) -> None:
        self.gateway, self.jp, self.us, self.keys = gateway, jp, us, keys

    def client(self, key: str = "acme") -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.gateway.url, api_key=self.keys[key], max_retries=0)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    jp, us = FakeUpstream("jp").start(), FakeUpstream("us").start()
    settings = make_settings(
        tmp_path_factory.mktemp("anthropic-sdk"),
        {"jp": backend(jp.base_url), "us": backend(us.base_url, "US", operator="US Inc")},
        {
            "home": {"routes": [{"backend": "jp", "model": "qwen"}]},
            "abroad": {"routes": [{"backend": "us", "model": "gpt"}]},
        },
        {"acme": rules(["JP", "US"]), "jp-only": rules(["JP"])},
    )
    keys = {"acme": add_key(settings, "acme"), "jp-only": add_key(settings, "jp-only")}
    gateway = RunningGateway(settings).start()
    try:
        yield Rig(gateway, jp, us, keys)
    finally:
        gateway.stop()
        jp.stop()
        us.stop()


@pytest.fixture(autouse=True)
def fresh(rig: Rig) -> None:
    for upstream in (rig.jp, rig.us):
        upstream.behaviour.echo = upstream.behaviour.tool_call = False
        upstream.received.clear()


def test_a_message_arrives_as_the_sdks_message(rig: Rig) -> None:
    with rig.client() as client:
        message = client.messages.create(
            model="home", max_tokens=64, system="Be brief.", messages=[{"role": "user", "content": "Hello"}]
        )
    assert isinstance(message, anthropic.types.Message)
    assert message.role == "assistant" and message.model == "home"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].type == "text" and message.content[0].text == "Hello from upstream"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    sent = rig.jp.received[0]  # the backend got chat completions: the system prompt first
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."} and sent["max_tokens"] == 64


def test_a_streamed_message_yields_its_text_and_final_message(rig: Rig) -> None:
    with (
        rig.client() as client,
        client.messages.stream(model="home", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]) as stream,
    ):
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    block = final.content[0]
    assert block.type == "text" and block.text == text  # chunks relayed event by event, reassembled by the SDK
    assert text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


def test_tools_round_trip_as_tool_use_blocks(rig: Rig) -> None:
    rig.jp.behaviour.tool_call = True
    tool = {
        "name": "lookup",
        "description": "Look something up",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    }
    with rig.client() as client:
        message = client.messages.create(
            model="home",
            max_tokens=64,
            tools=[tool],  # type: ignore[list-item]
            messages=[{"role": "user", "content": "What is the weather?"}],
        )
    uses = [block for block in message.content if block.type == "tool_use"]
    assert message.stop_reason == "tool_use" and len(uses) == 1
    assert uses[0].name == "lookup" and uses[0].input == {"q": "weather"}
    sent = rig.jp.received[0]
    assert sent["tools"][0]["function"]["name"] == "lookup"  # translated to an OpenAI function tool


def test_personal_data_is_pseudonymised_abroad_and_restored_for_the_sdk(rig: Rig) -> None:
    rig.us.behaviour.echo = True
    with rig.client() as client:
        message = client.messages.create(
            model="abroad", max_tokens=64, messages=[{"role": "user", "content": f"電話は{PHONE}です"}]
        )
    assert PHONE not in str(rig.us.received[0])  # the US backend never saw the number
    assert message.content[0].type == "text" and PHONE in message.content[0].text  # the caller gets it back


def test_count_tokens_through_the_sdk(rig: Rig) -> None:
    with rig.client() as client:
        counted = client.messages.count_tokens(model="home", messages=[{"role": "user", "content": "Hello there"}])
    assert counted.input_tokens > 0


def test_refusals_are_the_sdks_errors(rig: Rig) -> None:
    with rig.client("jp-only") as client, pytest.raises(anthropic.PermissionDeniedError) as denied:
        client.messages.create(model="abroad", max_tokens=8, messages=[{"role": "user", "content": "Hi"}])
    assert denied.value.status_code == 403
    body = denied.value.body
    assert isinstance(body, dict) and body["type"] == "error" and body["error"]["type"] == "permission_error"
    assert "residency" in str(body["error"]["message"]).lower() or "jurisdiction" in str(body["error"]["message"])
    bad = anthropic.Anthropic(base_url=rig.gateway.url, api_key="onsk_nothing_here", max_retries=0)
    with bad, pytest.raises(anthropic.AuthenticationError):
        bad.messages.create(model="home", max_tokens=8, messages=[{"role": "user", "content": "Hi"}])
    with rig.client() as client, pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="no-such-model", max_tokens=8, messages=[{"role": "user", "content": "Hi"}])
