"""The clients people really use, against Onshore in front of the embedded llama.cpp model (a real
model, no mock): the official openai SDK's Responses API (plain, streamed, continued with
previous_response_id) and legacy completions, LangChain's ChatOpenAI with `use_responses_api=True`,
and the OpenAI Agents SDK with its default Responses model. Each needs only the base URL changed."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.support.gateway import RunningGateway, add_key, make_settings, rules

MODEL = "local"


class Rig:
    def __init__(self, gateway: RunningGateway, key: str, database: Any) -> None:
        self.gateway, self.key, self.database = gateway, key, database

    @property
    def base_url(self) -> str:
        return self.gateway.url + "/v1"

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=self.key, max_retries=0, timeout=120)

    def records(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.database) as conn:
            return [json.loads(b) for (b,) in conn.execute("SELECT body FROM audit_records ORDER BY seq")]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    settings = make_settings(
        tmp_path_factory.mktemp("frameworks"),
        {"embedded": {"kind": "embedded", "embedded": {"max_queue": 4, "embeddings": False}}},
        {MODEL: {"routes": [{"backend": "embedded", "model": "smol"}]}},
        {"acme": rules(["JP"])},
    )
    key = add_key(settings, "acme")
    gateway = RunningGateway(settings).start()
    try:
        yield Rig(gateway, key, settings.data_dir / "onshore.db")
    finally:
        gateway.stop()


def finished(response: Any) -> bool:
    """Completed, or cut by the token limit it was given (a small model talks on): said as the API says it."""
    if response.status == "completed":
        return True
    return bool(response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens")


def test_openai_responses_plain_streamed_and_continued(rig: Rig) -> None:
    with rig.client() as client:
        first = client.responses.create(model=MODEL, input="Say hello.", max_output_tokens=16)
        assert finished(first) and first.output_text.strip()
        assert first.usage is not None and first.usage.output_tokens > 0
        events = list(client.responses.create(model=MODEL, input="Count to three.", max_output_tokens=16, stream=True))
        deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
        last = events[-1]  # response.completed, or response.incomplete at the token limit
        assert last.type in ("response.completed", "response.incomplete") and finished(last.response)
        assert deltas and "".join(deltas) == last.response.output_text
        follow = client.responses.create(
            model=MODEL, input="And again.", previous_response_id=first.id, max_output_tokens=16
        )
        assert finished(follow) and follow.id != first.id
    continued = [r for r in rig.records() if r.get("continues")]
    assert continued, "the follow-up's record names the turn it continues"


def test_openai_legacy_completions(rig: Rig) -> None:
    with rig.client() as client:
        done = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=12)
    assert done.choices[0].text and done.usage is not None and done.usage.completion_tokens > 0


def test_langchain_with_the_responses_api(rig: Rig) -> None:
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    chat = ChatOpenAI(
        model=MODEL,
        base_url=rig.base_url,
        api_key=SecretStr(rig.key),
        use_responses_api=True,
        max_retries=0,
        max_tokens=16,  # type: ignore[call-arg]
    )
    answer = chat.invoke("Say hello.")
    assert answer.text.strip()
    pieces = [chunk.text for chunk in chat.stream("Count to three.")]
    assert "".join(pieces).strip()
    assert any(r.get("endpoint") == "responses" for r in rig.records())


def test_openai_agents_with_its_default_responses_model(rig: Rig) -> None:
    from agents import Agent, OpenAIResponsesModel, Runner, set_tracing_disabled

    set_tracing_disabled(True)  # the SDK would otherwise send traces to OpenAI: nothing leaves the machine
    client = openai.AsyncOpenAI(base_url=rig.base_url, api_key=rig.key, max_retries=0, timeout=120)
    agent = Agent(
        name="greeter",
        instructions="Answer in one short sentence.",
        model=OpenAIResponsesModel(model=MODEL, openai_client=client),
    )

    async def run() -> str:
        try:
            result = await Runner.run(agent, "Say hello.")
            return str(result.final_output)
        finally:
            await client.close()

    assert asyncio.run(run()).strip()
    sent = [r for r in rig.records() if r.get("endpoint") == "responses"]
    assert sent and all(r["decision"]["chosen"]["name"] == "embedded" for r in sent if r.get("decision"))
