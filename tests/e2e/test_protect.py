"""Personal data through the real gateway: what the backend saw, what the client got back."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionContentPartImageParam

from tests.e2e.conftest import World

MY_NUMBER = "123456789018"  # valid check digit
PHONE = "090-1234-5678"
EMAIL = "hanako.suzuki@example.co.jp"
PROMPT = f"鈴木花子様の電話は{PHONE}、メールは{EMAIL}、マイナンバーは{MY_NUMBER}です。返信を書いてください。"
VALUES = ("鈴木花子", PHONE, EMAIL, MY_NUMBER)


def sent_to(upstream_received: list[dict[str, Any]]) -> str:
    return json.dumps(upstream_received, ensure_ascii=False)


def last_record(w: World) -> dict[str, Any]:
    with sqlite3.connect(w.settings.data_dir / "onshore.db") as conn:
        (body,) = conn.execute("SELECT body FROM audit_records ORDER BY seq DESC LIMIT 1").fetchone()
    record: dict[str, Any] = json.loads(body)
    return record


def test_less_trusted_backend_sees_placeholders_client_sees_originals(w: World) -> None:
    w.us.behaviour.echo = True
    completion = w.client(w.globex_key).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": PROMPT}]
    )
    seen = sent_to(w.us.received)
    for value in VALUES:
        assert value not in seen
    assert "[[PHONE_1]]" in seen and "[[MY_NUMBER_1]]" in seen and "[[PERSON_NAME_1]]" in seen
    assert completion.choices[0].message.content == PROMPT
    record = last_record(w)
    assert record["data_class"] == "personal"  # raised by what was found
    assert record["personal_data"]["found"]["phone"] == 1
    assert record["personal_data"]["pseudonymised_for"] == ["us-cloud"]
    assert not any(value in json.dumps(record, ensure_ascii=False) for value in VALUES)


@pytest.mark.parametrize("chunk_chars", [1, 3, 7, 50])
def test_streamed_answer_is_restored_across_chunk_boundaries(w: World, chunk_chars: int) -> None:
    w.us.behaviour.echo = True
    w.us.behaviour.chunk_chars = chunk_chars
    stream = w.client(w.globex_key).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == PROMPT
    for value in VALUES:
        assert value not in sent_to(w.us.received)


def test_tool_call_arguments_are_restored_json_escaped(w: World) -> None:
    w.us.behaviour.echo = True
    w.us.behaviour.tool_call = True
    prompt = f'Call 山田 "Taro" at {PHONE}'
    completion = w.client(w.globex_key).chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": prompt}],
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    )
    arguments = completion.choices[0].message.tool_calls[0].function.arguments  # type: ignore[index,union-attr]
    assert json.loads(arguments)["q"] == prompt
    assert PHONE not in sent_to(w.us.received)


def test_trusted_home_backend_gets_the_original(w: World) -> None:
    w.jp1.behaviour.echo = True
    completion = w.client(w.personal_key).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": PROMPT}]
    )
    assert not w.us.received
    assert PHONE in sent_to(w.jp1.received)  # JP backend, JP operator, keeps nothing: fully trusted
    assert completion.choices[0].message.content == PROMPT


def test_found_personal_data_raises_the_class_and_keeps_it_home(w: World) -> None:
    completion = w.client(w.public_key).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": f"My number is {MY_NUMBER}"}]
    )
    assert completion.choices[0].message.content
    assert not w.us.received and w.jp1.received  # acme's personal rule allows only JP
    assert last_record(w)["data_class"] == "personal"


def test_health_information_raises_to_special_care(w: World) -> None:
    w.client(w.globex_key).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "既往歴に糖尿病があります。診断書を要約して。"}]
    )
    assert last_record(w)["data_class"] == "special_care"
    assert not w.us.received


def test_without_personal_data_nothing_changes(w: World) -> None:
    w.us.behaviour.echo = True
    w.client(w.globex_key).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "Summarise the quarterly plan."}]
    )
    assert w.us.received[0]["messages"][0]["content"] == "Summarise the quarterly plan."


def test_embeddings_input_is_pseudonymised(w: World) -> None:
    w.client(w.globex_key).embeddings.create(model="embed", input=[PROMPT, "plain"])
    assert PHONE in sent_to(w.jp1.received)  # embed's only backend is trusted: nothing to hide
    assert last_record(w)["personal_data"]["found"]["phone"] == 1


def test_placeholder_typed_by_the_user_is_never_restored_into_a_value(w: World) -> None:
    w.us.behaviour.echo = True
    prompt = f"Phone {PHONE}; the literal text [[PHONE_1]] stays literal"
    completion = w.client(w.globex_key).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": prompt}]
    )
    assert completion.choices[0].message.content == prompt


def test_every_forwarded_field_is_scanned(w: World) -> None:
    """Values hidden outside message text never reach a less-trusted backend in clear."""
    body = {
        "model": "chat",
        "messages": [{"role": "user", "name": EMAIL, "content": "Summarise my order."}],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "lookup",
                    "description": f"Call {PHONE} first",
                    "parameters": {
                        "type": "object",
                        "properties": {EMAIL: {"type": "string", "description": MY_NUMBER}},
                    },
                },
            }
        ],
        "metadata": {"owner": EMAIL},
        "user": EMAIL,
        "stop": [PHONE],
        "prediction": {"type": "content", "content": f"Dear 鈴木花子様, {PHONE}"},
    }
    w.client(w.globex_key).chat.completions.create(**body)  # type: ignore[call-overload]
    seen = sent_to(w.us.received)
    for value in (PHONE, EMAIL, MY_NUMBER):
        assert value not in seen
    assert "[[PHONE_1]]" in seen and "[[EMAIL_1]]" in seen


def test_personal_data_in_a_tool_description_raises_the_class(w: World) -> None:
    w.client(w.public_key).chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "hi"}],
        tools=[{"type": "function", "function": {"name": "f", "description": f"My number is {MY_NUMBER}"}}],
    )
    assert not w.us.received and w.jp1.received  # acme's personal rule keeps it in Japan
    assert last_record(w)["data_class"] == "personal"


def test_unscannable_parts_never_reach_a_less_trusted_backend(w: World) -> None:
    image: ChatCompletionContentPartImageParam = {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
    }
    w.client(w.globex_key).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": [{"type": "text", "text": "What is this?"}, image]}]
    )
    assert not w.us.received and w.jp1.received  # a trusted home backend may see it
    assert last_record(w)["personal_data"]["blocked_backends"] == ["us-cloud"]


def test_fields_beyond_the_declared_facts_are_refused(w: World) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        w.client().chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}], store=True)
    assert info.value.body["param"] == "store"  # type: ignore[index]
    w.client().chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}], store=False)
    assert len(w.us.received) == 1


def test_a_large_body_is_scanned_off_the_event_loop_and_still_protected(w: World) -> None:
    filler = "本日の議事録です。特記事項はありません。" * 600  # ~36 KB: scanned on a worker thread
    w.client(w.globex_key).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": f"{filler} 連絡先は{PHONE}です。"}]
    )
    seen = sent_to(w.us.received)
    assert PHONE not in seen and "[[PHONE_1]]" in seen
