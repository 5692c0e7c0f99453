"""Token usage of streamed answers, counted right, through the real gateway and the openai SDK.

Every backend kind (OpenAI-compatible, Azure OpenAI, Anthropic, the embedded llama.cpp model) and
both client dialects: the audit record of every stream has usage with its source ("upstream",
"tokenizer", "estimate"), whether the backend reported usage, put it somewhere unusual, or the
stream was cut; the client sees exactly one usage chunk if it asked, none if it did not; budgets
are charged for streamed tokens. Also: placeholders the model mangled are restored or counted.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from onshore.route.backends.usage import estimate_text
from tests.support.gateway import RunningGateway, add_key, backend, make_settings, rules
from tests.support.upstream import Behaviour, FakeUpstream

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello there"}]
REDIS = "redis://127.0.0.1:6379/0"
PHONE = "090-1234-5678"
PROMPT = f"鈴木花子様の電話は{PHONE}です。"


@dataclass
class Rig:
    gateway: RunningGateway
    db: Path
    upstreams: dict[str, FakeUpstream]
    client: openai.OpenAI
    key: str

    def close_record(self, request_id: str) -> dict[str, Any]:
        """The stream's closing record (written just after a cut stream's last bytes: poll)."""
        deadline = time.monotonic() + 5
        while True:
            with sqlite3.connect(self.db) as conn:
                rows = conn.execute("SELECT body FROM audit_records ORDER BY seq").fetchall()
            for (body,) in rows:
                record = json.loads(body)
                if record.get("stream_of") == request_id or (
                    record["id"] == request_id and record["kind"] == "request"
                ):
                    return dict(record)
            assert time.monotonic() < deadline, f"no closing record for {request_id}"
            time.sleep(0.02)

    def stream(self, model: str, **options: Any) -> tuple[list[Any], str]:
        """Stream a chat completion with the openai SDK: its chunks and the request id."""
        raw = self.client.chat.completions.with_raw_response.create(
            model=model, messages=options.pop("messages", MESSAGES), stream=True, **options
        )
        return list(raw.parse()), raw.headers["onshore-request-id"]


KINDS = {"openai": "m-openai", "azure": "m-azure", "anthropic": "m-anthropic"}


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    upstreams = {name: FakeUpstream(name).start() for name in ("openai", "azure", "anthropic", "abroad")}
    root = {name: f"http://127.0.0.1:{u.port}" for name, u in upstreams.items()}
    backends = {
        "oa": backend(upstreams["openai"].base_url),
        "az": backend(root["azure"], kind="azure_openai", api_key_env="AZ_KEY"),
        "an": backend(root["anthropic"], kind="anthropic", api_key_env="AN_KEY"),
        "abroad": backend(upstreams["abroad"].base_url, "US", operator="Hyperscaler Inc", retention_days=30),
        "local": {"kind": "embedded", "embedded": {"max_queue": 4, "embeddings": False}},
    }
    models = {
        "m-openai": {"routes": [{"backend": "oa", "model": "qwen"}]},
        "m-azure": {"routes": [{"backend": "az", "model": "dep-1"}]},
        "m-anthropic": {"routes": [{"backend": "an", "model": "claude"}]},
        "m-abroad": {"routes": [{"backend": "abroad", "model": "gpt-x"}]},
        "m-local": {"routes": [{"backend": "local", "model": "smol"}]},
    }
    # Personal data may go abroad, pseudonymised (the default actions for a less-trusted backend).
    abroad = {"jurisdictions": ["JP", "US"], "max_retention_days": 30, "audit_content": "digest"}
    per_class: dict[str, Any] = {c: abroad for c in ("public", "internal", "confidential", "personal")}
    tenant = rules(["JP", "US"], **per_class)
    settings = make_settings(
        tmp_path_factory.mktemp("usage"),
        backends,
        models,
        {"t": tenant},
        environ={"AZ_KEY": "az-key", "AN_KEY": "sk-ant"},
    )
    key = add_key(settings, "t")
    gateway = RunningGateway(settings).start()
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    try:
        yield Rig(gateway, settings.data_dir / "onshore.db", upstreams, client, key)
    finally:
        client.close()
        gateway.stop()
        for upstream in upstreams.values():
            upstream.stop()


@pytest.fixture
def r(rig: Rig) -> Rig:
    for upstream in rig.upstreams.values():
        upstream.behaviour = Behaviour()
    return rig


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def check_usage_chunks(chunks: list[Any], asked: bool, record: dict[str, Any]) -> None:
    """Exactly one usage chunk, last, with no choices, equal to the record's, if asked; else none."""
    with_usage = [c for c in chunks if c.usage is not None]
    if not asked:
        assert with_usage == []
        return
    assert with_usage == [chunks[-1]] and chunks[-1].choices == []
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        record["usage"]["prompt_tokens"],
        record["usage"]["completion_tokens"],
        record["usage"]["total_tokens"],
    )


def read_broken(stream: Any) -> list[Any]:
    """The chunks of a stream that must end with an error event."""
    chunks: list[Any] = []
    try:
        for chunk in stream:
            chunks.append(chunk)
    except openai.APIError:
        return chunks
    raise AssertionError("the stream ended without an error")


# --- remote kinds: with and without usage from the backend, with and without the client asking ---
CASES = [(kind, sends) for kind in KINDS for sends in (True, False) if kind != "anthropic" or sends]


@pytest.mark.parametrize("asked", [True, False], ids=["client-asks", "client-silent"])
@pytest.mark.parametrize(("kind", "sends"), CASES, ids=[f"{k}-{'usage' if s else 'no-usage'}" for k, s in CASES])
def test_streamed_usage_is_recorded_and_sent_only_when_asked(r: Rig, kind: str, sends: bool, asked: bool) -> None:
    upstream = r.upstreams[kind]
    upstream.behaviour.usage_in_stream = "separate" if sends else "none"  # "none": ignores include_usage
    options = {"stream_options": {"include_usage": True}} if asked else {}
    chunks, request_id = r.stream(KINDS[kind], **options)
    record = r.close_record(request_id)
    assert record["outcome"] == "completed"
    text = text_of(chunks)
    usage = record["usage"]
    if kind == "anthropic":
        assert text == "Hello from upstream"
        assert record["usage_source"] == "upstream" and usage["prompt_tokens"] == 7
        assert usage["completion_tokens"] == 3
    elif sends:
        assert text == "w0 w1 w2 "
        assert record["usage_source"] == "upstream"
        assert (usage["prompt_tokens"], usage["completion_tokens"]) == (2, 3)
    else:
        assert text == "w0 w1 w2 "
        assert record["usage_source"] == "estimate"
        assert usage["completion_tokens"] == estimate_text(text)  # what was relayed, not guessed
        assert estimate_text("Hello there") < usage["prompt_tokens"] <= estimate_text("Hello there") + 6
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert upstream.received[-1].get("stream_options", {}).get("include_usage", True) is True
    check_usage_chunks(chunks, asked, record)


@pytest.mark.parametrize("asked", [True, False], ids=["client-asks", "client-silent"])
@pytest.mark.parametrize("placement", ["last_chunk", "x_groq", "every_chunk"])
def test_usage_wherever_the_backend_puts_it(r: Rig, placement: str, asked: bool) -> None:
    """llama.cpp's server puts it in the last choice chunk, Groq in x_groq, vLLM (continuous stats)
    and the embedded model in every chunk: the client still gets one usage-only chunk, or none."""
    r.upstreams["openai"].behaviour.usage_in_stream = placement
    options = {"stream_options": {"include_usage": True}} if asked else {}
    chunks, request_id = r.stream("m-openai", **options)
    record = r.close_record(request_id)
    assert text_of(chunks) == "w0 w1 w2 "
    assert record["usage_source"] == "upstream"
    assert record["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    assert all("x_groq" not in (c.model_extra or {}) or "usage" not in c.model_extra["x_groq"] for c in chunks)
    check_usage_chunks(chunks, asked, record)


# --- streams that end early ---------------------------------------------------------------------
@pytest.mark.parametrize(("placement", "source"), [("none", "estimate"), ("every_chunk", "tokenizer")])
def test_a_stream_cut_by_the_backend_is_counted(r: Rig, placement: str, source: str) -> None:
    behaviour = r.upstreams["openai"].behaviour
    behaviour.usage_in_stream, behaviour.chunks, behaviour.cut_after = placement, 6, 2
    behaviour.chunk_delay = 0.05  # the chunks reach the gateway before the connection drops
    raw = r.client.chat.completions.with_raw_response.create(
        model="m-openai", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = read_broken(raw.parse())
    record = r.close_record(raw.headers["onshore-request-id"])
    assert record["outcome"] == "upstream_cut"
    assert text_of(chunks) == "w0 w1 "
    assert all(c.usage is None for c in chunks)  # a broken stream ends with an error, not usage
    assert record["usage_source"] == source
    expected = estimate_text("w0 w1 ") if source == "estimate" else 2  # the backend's running count
    assert record["usage"]["completion_tokens"] == expected
    assert record["usage"]["prompt_tokens"] > 0


def test_an_anthropic_stream_cut_before_message_delta_is_estimated(r: Rig) -> None:
    behaviour = r.upstreams["anthropic"].behaviour
    behaviour.reply, behaviour.chunk_chars, behaviour.cut_after = "一二三四五六七八", 2, 2
    behaviour.chunk_delay = 0.05
    raw = r.client.chat.completions.with_raw_response.create(model="m-anthropic", messages=MESSAGES, stream=True)
    chunks = read_broken(raw.parse())
    record = r.close_record(raw.headers["onshore-request-id"])
    assert text_of(chunks) == "一二三四"
    assert record["usage_source"] == "estimate" and record["usage"]["completion_tokens"] == 4  # 1 per kanji


def test_a_client_that_disconnects_mid_stream_is_still_counted(r: Rig) -> None:
    behaviour = r.upstreams["openai"].behaviour
    behaviour.usage_in_stream, behaviour.chunks, behaviour.chunk_delay = "separate", 40, 0.05
    body = {"model": "m-openai", "messages": MESSAGES, "stream": True}
    headers = {"Authorization": f"Bearer {r.key}"}
    with httpx.stream("POST", r.gateway.url + "/v1/chat/completions", json=body, headers=headers) as response:
        request_id = response.headers["onshore-request-id"]
        received = b""
        for part in response.iter_raw():
            received += part
            if received.count(b"data: ") >= 3:
                break
    record = r.close_record(request_id)
    assert record["outcome"] == "client_disconnected"
    assert record["usage_source"] == "estimate"
    # Counted from what was relayed before the client left: a few of the 40 words, never none.
    assert 1 <= record["usage"]["completion_tokens"] < 40 * 2


# --- the Anthropic client dialect ---------------------------------------------------------------
def anthropic_stream(r: Rig, model: str) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    body = {"model": model, "max_tokens": 50, "messages": MESSAGES, "stream": True}
    headers = {"x-api-key": r.key, "anthropic-version": "2023-06-01"}
    with httpx.stream("POST", r.gateway.url + "/v1/messages", json=body, headers=headers) as response:
        assert response.status_code == 200
        raw = b"".join(response.iter_raw()).decode()
        request_id = response.headers["onshore-request-id"]
    events = re.findall(r"event: (\w+)\ndata: (.*)\n", raw)
    return [(name, json.loads(data)) for name, data in events], request_id


@pytest.mark.parametrize("sends", [True, False], ids=["usage", "no-usage"])
def test_anthropic_dialect_stream_reports_the_recorded_usage(r: Rig, sends: bool) -> None:
    r.upstreams["openai"].behaviour.usage_in_stream = "separate" if sends else "none"
    events, request_id = anthropic_stream(r, "m-openai")
    record = r.close_record(request_id)
    deltas = [data for name, data in events if name == "message_delta"]
    assert len(deltas) == 1
    assert deltas[0]["usage"] == {
        "input_tokens": record["usage"]["prompt_tokens"],
        "output_tokens": record["usage"]["completion_tokens"],
    }
    assert record["usage_source"] == ("upstream" if sends else "estimate")
    assert record["usage"]["completion_tokens"] == (3 if sends else estimate_text("w0 w1 w2 "))


# --- non-streaming, for completeness ------------------------------------------------------------
def test_a_response_without_usage_is_estimated(r: Rig) -> None:
    r.upstreams["openai"].behaviour.usage_in_response = False
    raw = r.client.chat.completions.with_raw_response.create(model="m-openai", messages=MESSAGES)
    completion = raw.parse()
    record = r.close_record(raw.headers["onshore-request-id"])
    assert completion.usage is None  # the gateway does not invent usage in the backend's answer
    assert record["usage_source"] == "estimate"
    assert record["usage"]["completion_tokens"] == estimate_text("Hello from upstream")


# --- the embedded model: its own tokenizer's counts -----------------------------------------------
QUESTION = [{"role": "user", "content": "Count from one to fifty, one number per line."}]


@pytest.mark.parametrize("asked", [True, False], ids=["client-asks", "client-silent"])
def test_embedded_stream_usage_is_the_models_own_count(r: Rig, asked: bool) -> None:
    options = {"stream_options": {"include_usage": True}} if asked else {}
    chunks, request_id = r.stream("m-local", messages=QUESTION, max_tokens=12, temperature=0, **options)
    record = r.close_record(request_id)
    assert record["usage_source"] == "upstream"
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    completion = record["usage"]["completion_tokens"]
    assert completion == 12 if finish == ["length"] else 1 <= completion < 12
    assert record["usage"]["prompt_tokens"] > estimate_text(QUESTION[0]["content"])  # with the chat template
    check_usage_chunks(chunks, asked, record)


def test_embedded_stream_cut_by_the_client_is_counted_by_the_tokenizer(r: Rig) -> None:
    _, complete_id = r.stream("m-local", messages=QUESTION, max_tokens=4, temperature=0)
    prompt_tokens = r.close_record(complete_id)["usage"]["prompt_tokens"]
    body = {"model": "m-local", "messages": QUESTION, "stream": True, "max_tokens": 300, "temperature": 0}
    headers = {"Authorization": f"Bearer {r.key}"}
    with httpx.stream("POST", r.gateway.url + "/v1/chat/completions", json=body, headers=headers) as response:
        request_id = response.headers["onshore-request-id"]
        received = b""
        for part in response.iter_raw():
            received += part
            if received.count(b'"content"') >= 6:
                break
    record = r.close_record(request_id)
    assert record["outcome"] == "client_disconnected"
    assert record["usage_source"] == "tokenizer"
    assert record["usage"]["prompt_tokens"] == prompt_tokens  # exact, from the model's tokenizer
    assert 4 <= record["usage"]["completion_tokens"] < 300


# --- placeholders the model mangled -------------------------------------------------------------
def _unbracket(text: str) -> str:
    return text.replace("[[", "").replace("]]", "")  # as a small llama.cpp model does


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_mangled_placeholders_are_restored_and_counted(r: Rig, stream: bool) -> None:
    behaviour = r.upstreams["abroad"].behaviour
    behaviour.echo, behaviour.transform, behaviour.chunk_chars = True, _unbracket, 3
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": PROMPT}]
    if stream:
        chunks, request_id = r.stream("m-abroad", messages=messages)
        text = text_of(chunks)
    else:
        raw = r.client.chat.completions.with_raw_response.create(model="m-abroad", messages=messages)
        text, request_id = raw.parse().choices[0].message.content or "", raw.headers["onshore-request-id"]
    seen = json.dumps(r.upstreams["abroad"].received[-1], ensure_ascii=False)
    assert PHONE not in seen and "[[PHONE_1]]" in seen and "[[PERSON_NAME_1]]" in seen
    assert text == PROMPT  # bare PERSON_NAME_1 and PHONE_1 named issued values: restored
    personal = r.close_record(request_id)["personal_data"]
    assert personal["restored_mangled_placeholders"] == 2
    assert personal["unrestored_placeholders"] == 0


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_placeholders_naming_nothing_are_counted_as_unrestored(r: Rig, stream: bool) -> None:
    behaviour = r.upstreams["abroad"].behaviour
    behaviour.echo, behaviour.chunk_chars = True, 4
    behaviour.transform = lambda text: text.replace("[[PHONE_1]]", "[[PHONE_1").replace(
        "PERSON_NAME_1", "PERSON_NAME_7"
    )
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": PROMPT}]
    if stream:
        chunks, request_id = r.stream("m-abroad", messages=messages)
        text = text_of(chunks)
    else:
        raw = r.client.chat.completions.with_raw_response.create(model="m-abroad", messages=messages)
        text, request_id = raw.parse().choices[0].message.content or "", raw.headers["onshore-request-id"]
    assert text == f"[[PERSON_NAME_7]]様の電話は{PHONE}です。"  # never guessed: the 7th name was never issued
    personal = r.close_record(request_id)["personal_data"]
    assert personal["unrestored_placeholders"] == 1
    assert personal["restored_mangled_placeholders"] == 1
    assert "鈴木" not in json.dumps(personal, ensure_ascii=False)


def test_mangled_placeholders_in_the_anthropic_dialect(r: Rig) -> None:
    behaviour = r.upstreams["abroad"].behaviour
    behaviour.echo, behaviour.transform = True, _unbracket
    body = {"model": "m-abroad", "max_tokens": 50, "messages": [{"role": "user", "content": PROMPT}]}
    response = httpx.post(r.gateway.url + "/v1/messages", json=body, headers={"x-api-key": r.key})
    assert response.status_code == 200
    assert response.json()["content"][0]["text"] == PROMPT
    record = r.close_record(response.headers["onshore-request-id"])
    assert record["personal_data"]["restored_mangled_placeholders"] == 2


# --- budgets charge streamed tokens ---------------------------------------------------------------
@pytest.mark.redis
def test_streamed_tokens_without_backend_usage_are_charged_to_the_budget(tmp_path: Path) -> None:
    upstream = FakeUpstream("metered").start()
    upstream.behaviour.usage_in_stream = "none"
    settings = make_settings(
        tmp_path,
        {"b": backend(upstream.base_url)},
        {"m": {"routes": [{"backend": "b", "model": "x"}]}},
        {"metered": {**rules(["JP"]), "limits": {"budget": {"tokens": 40, "period": "day"}}}},
        gateway={"redis": {"url_env": "R", "prefix": f"onshore-test-{uuid.uuid4().hex[:8]}:"}},
        environ={"R": REDIS},
    )
    key = add_key(settings, "metered")
    gateway = RunningGateway(settings).start()
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    charged, refused_after = 0, None
    try:
        for n in range(10):
            try:
                chunks = list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
            except openai.RateLimitError as exc:
                assert exc.body["code"] == "budget_exceeded"  # type: ignore[index]
                refused_after = n
                break
            assert text_of(chunks) == "w0 w1 w2 "
            with sqlite3.connect(settings.data_dir / "onshore.db") as conn:
                (body,) = conn.execute("SELECT body FROM audit_records ORDER BY seq DESC LIMIT 1").fetchone()
            charged += json.loads(body)["usage"]["total_tokens"]
            time.sleep(0.1)  # tokens are charged just after each stream closes
    finally:
        client.close()
        gateway.stop()
        upstream.stop()
    assert refused_after is not None and refused_after >= 1  # streamed tokens count against the budget
    assert charged >= 40  # refused only once the streams' estimated tokens used it up
