"""Conversation state Onshore keeps for the Responses API (previous_response_id, GET and DELETE
/v1/responses/{id}): the real gateway in front of real loopback upstreams, the official openai SDK.

What reaches the (recording) upstream proves that a later turn carries the earlier ones, is scanned and
pseudonymised again, and is decided under at least the stored data class; the bytes of the store's file
prove nothing is kept in the clear.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import msgspec
import openai
import pytest
from openai.types.responses import Response

from onshore.app import RESPONSES_DB_FILE
from onshore.service.steps import presented_key_id
from onshore.settings import ResponsesSettings
from tests.e2e.conftest import World, world_settings
from tests.e2e.test_protect import PROMPT, VALUES, sent_to
from tests.openapi import validate
from tests.support.gateway import RunningGateway, add_key
from tests.support.upstream import FakeUpstream

RETENTION_DAYS = 30


@dataclass
class MovableClock:
    """The wall clock plus an offset the test moves forward (retention); durations stay real."""

    offset: float = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.perf_counter()


@dataclass
class StateWorld:
    w: World
    clock: MovableClock
    same_tenant_key: str  # a second acme key: the same tenant, another principal

    @property
    def data_dir(self) -> Path:
        return self.w.settings.data_dir


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StateWorld]:
    us, jp1, jp2 = FakeUpstream("us").start(), FakeUpstream("jp1").start(), FakeUpstream("jp2").start()
    base = world_settings(tmp_path_factory.mktemp("gateway"), us, jp1, jp2)
    responses = ResponsesSettings(retention_days=RETENTION_DAYS, purge_interval_seconds=0.2)
    gateway_settings = msgspec.structs.replace(base.file.gateway, responses=responses)
    settings = dataclasses.replace(base, file=msgspec.structs.replace(base.file, gateway=gateway_settings))
    keys = (
        add_key(settings, "acme"),
        add_key(settings, "acme", "personal"),
        add_key(settings, "acme", models=("chat",)),
        add_key(settings, "globex"),
    )
    other = add_key(settings, "acme")
    clock = MovableClock()
    gateway = RunningGateway(settings, clock).start()
    w = World(gateway, settings, us, jp1, jp2, *keys)
    try:
        yield StateWorld(w, clock, other)
    finally:
        w.close()
        gateway.stop()
        for upstream in (us, jp1, jp2):
            upstream.stop()


@pytest.fixture
def s(world: StateWorld) -> StateWorld:
    world.w.reset()
    return world


def create(s: StateWorld, key: str | None = None, **params: Any) -> tuple[Response, dict[str, Any], str]:
    """The parsed Response, its JSON as sent (checked against the schema) and the request id header."""
    raw = s.w.client(key).responses.with_raw_response.create(**params)
    document: dict[str, Any] = json.loads(raw.content)
    validate(document, "Response")
    return raw.parse(), document, raw.headers["x-request-id"]


def get(s: StateWorld, response_id: str, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or s.w.public_key}"}
    return httpx.get(f"{s.w.gateway.url}/v1/responses/{response_id}", headers=headers)


def records(s: StateWorld) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(s.data_dir / "onshore.db")) as conn:
        return [json.loads(body) for (body,) in conn.execute("SELECT body FROM audit_records ORDER BY seq")]


def stored_ids(s: StateWorld) -> set[str]:
    with contextlib.closing(sqlite3.connect(s.data_dir / RESPONSES_DB_FILE)) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM stored_responses")}


def test_two_turns_the_second_carries_the_first(s: StateWorld) -> None:
    first, first_json, request_id = create(s, model="chat", input="Name a river.", instructions="Be brief.")
    assert first_json["store"] is True and first.previous_response_id is None
    # The Response id is the audit record's id behind a prefix: an auditor goes from one to the other.
    assert first.id == f"resp_{request_id}"
    (record,) = [r for r in records(s) if r["id"] == request_id]
    assert record["endpoint"] == "responses" and record["status"] == 200

    second, _, second_request = create(s, model="chat", input="And a mountain?", previous_response_id=first.id)
    (record,) = [r for r in records(s) if r["id"] == second_request]
    assert record["continues"] == request_id  # the auditor's way from one turn's record to the last
    assert second.previous_response_id == first.id and second.id != first.id
    assert [sent["store"] for sent in s.w.us.received] == [False, False]  # never kept at the provider
    assert s.w.us.received[1]["messages"] == [
        {"role": "user", "content": "Name a river."},  # instructions are not carried over (as OpenAI's)
        {"role": "assistant", "content": "Hello from upstream"},
        {"role": "user", "content": "And a mountain?"},
    ]
    assert "previous_response_id" not in s.w.us.received[1]

    third, _, _ = create(s, model="chat", input="And a lake?", previous_response_id=second.id, instructions="Terse.")
    assert [m["content"] for m in s.w.us.received[2]["messages"]] == [
        "Terse.",
        "Name a river.",
        "Hello from upstream",
        "And a mountain?",
        "Hello from upstream",
        "And a lake?",
    ]
    assert third.output_text == "Hello from upstream"

    # GET returns the Response exactly as its owner received it.
    fetched = get(s, first.id)
    assert fetched.status_code == 200
    validate(fetched.json(), "Response")
    assert fetched.json() == first_json
    assert s.w.client().responses.retrieve(first.id).output_text == "Hello from upstream"


def test_personal_data_of_turn_one_is_pseudonymised_again_in_turn_two(s: StateWorld) -> None:
    s.w.us.behaviour.echo = True
    first, _, _ = create(s, s.w.globex_key, model="chat", input=PROMPT)
    assert first.output_text == PROMPT  # restored for the client
    second, _, request_id = create(s, s.w.globex_key, model="chat", input="Thanks.", previous_response_id=first.id)
    turn_two = sent_to(s.w.us.received[1:])
    for value in VALUES:
        assert value not in turn_two  # the stored originals were scanned and replaced again
    assert "[[PHONE_1]]" in turn_two and "[[PERSON_NAME_1]]" in turn_two
    assert second.output_text == f"{PROMPT} Thanks."  # the echo of both user turns, restored
    (record,) = [r for r in records(s) if r["id"] == request_id]
    assert record["data_class"] == "personal" and record["personal_data"]["pseudonymised_for"] == ["us-cloud"]


def test_a_follow_up_is_decided_under_the_stored_data_class(s: StateWorld) -> None:
    # Declared confidential: acme keeps confidential data in JP. The follow-up says nothing sensitive
    # and declares nothing, yet it carries confidential history, so it may not go to the US cloud.
    first = s.w.client().responses.create(
        model="chat", input="Our Q3 numbers.", extra_headers={"Onshore-Data-Class": "confidential"}
    )
    assert s.w.jp1.received and not s.w.us.received
    s.w.reset()
    _, _, request_id = create(s, model="chat", input="Summarise.", previous_response_id=first.id)
    assert s.w.jp1.received and not s.w.us.received
    (record,) = [r for r in records(s) if r["id"] == request_id]
    assert record["data_class"] == "confidential"
    # Without the history the same request is public and goes abroad: the class came from the store.
    s.w.reset()
    create(s, model="chat", input="Summarise.")
    assert s.w.us.received and not s.w.jp1.received


def test_another_principal_of_the_same_tenant_finds_nothing(s: StateWorld) -> None:
    first, _, _ = create(s, model="chat", input="Mine.")
    unknown = get(s, "resp_00000000-0000-7000-8000-000000000000", s.same_tenant_key)
    theirs = get(s, first.id, s.same_tenant_key)
    assert theirs.status_code == unknown.status_code == 404  # not 403: nothing says it exists
    assert theirs.json()["error"]["code"] == "not_found"
    assert theirs.json()["error"]["message"] == unknown.json()["error"]["message"].replace(
        "resp_00000000-0000-7000-8000-000000000000", first.id
    )
    with pytest.raises(openai.BadRequestError) as caught:
        s.w.client(s.same_tenant_key).responses.create(model="chat", input="Yours?", previous_response_id=first.id)
    error = caught.value.body
    assert isinstance(error, dict)
    assert (error["code"], error["param"]) == ("previous_response_not_found", "previous_response_id")
    assert not s.w.us.received[1:]  # refused before any upstream saw it
    with pytest.raises(openai.NotFoundError):
        s.w.client(s.same_tenant_key).responses.delete(first.id)
    assert get(s, first.id).status_code == 200  # still there for its owner
    # Another tenant, too.
    assert get(s, first.id, s.w.globex_key).status_code == 404


def test_delete_then_get_is_404_and_both_are_audited(s: StateWorld) -> None:
    first, _, _ = create(s, model="chat", input="Forget me.")
    assert first.id in stored_ids(s)
    headers = {"Authorization": f"Bearer {s.w.public_key}"}
    deleted = httpx.delete(f"{s.w.gateway.url}/v1/responses/{first.id}", headers=headers)
    assert deleted.status_code == 200
    assert deleted.json() == {"id": first.id, "object": "response", "deleted": True}
    validate(deleted.json(), "DeleteModelResponse")  # the deletion object's shape ({id, object, deleted})
    assert first.id not in stored_ids(s)
    assert get(s, first.id).status_code == 404
    with pytest.raises(openai.NotFoundError):
        s.w.client().responses.delete(first.id)
    trail = [(r["action"], r["outcome"]) for r in records(s) if r.get("response_id") == first.id]
    assert trail == [("delete", "requested"), ("read", "not_found"), ("delete", "not_found")]
    (who,) = {r["key_id"] for r in records(s) if r.get("response_id") == first.id}
    assert who == presented_key_id(f"Bearer {s.w.public_key}")  # the principal, as in request records
    assert all(r["kind"] == "stored_response" and r["tenant"] == "acme" for r in records(s)[-3:])


def test_a_read_is_audited_with_its_reader(s: StateWorld) -> None:
    first, _, _ = create(s, model="chat", input="Read me.")
    get(s, first.id)
    get(s, first.id, s.same_tenant_key)
    reads = [r for r in records(s) if r.get("response_id") == first.id]
    assert [r["outcome"] for r in reads] == ["ok", "not_found"]
    assert reads[0]["key_id"] != reads[1]["key_id"]


def test_input_items_are_listed_for_the_owner(s: StateWorld) -> None:
    first, _, _ = create(
        s,
        model="chat",
        instructions="Not an input item.",
        input=[
            {"role": "developer", "content": "Answer in English."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
            {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "Sunny"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "It is sunny."}]},
            {"role": "user", "content": "Thanks."},
        ],
        tools=[{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}],
    )
    headers = {"Authorization": f"Bearer {s.w.public_key}"}
    url = f"{s.w.gateway.url}/v1/responses/{first.id}/input_items"
    listed = httpx.get(url, headers=headers, params={"order": "asc"}).json()
    validate(listed, "ResponseItemList")
    assert [i["type"] for i in listed["data"]] == [
        "message",
        "message",
        "function_call",
        "function_call_output",
        "message",
        "message",
    ]
    assert [i.get("role") for i in listed["data"]] == ["developer", "user", None, None, "assistant", "user"]
    assert listed["data"][0]["content"] == [{"type": "input_text", "text": "Answer in English."}]
    assert listed["has_more"] is False and listed["first_id"] == listed["data"][0]["id"]
    # The SDK's default order is newest first; pages follow `after`.
    page = s.w.client().responses.input_items.list(first.id, limit=4)
    assert [i.id for i in page.data] == [i["id"] for i in listed["data"][::-1][:4]]
    assert page.has_more
    rest = httpx.get(url, headers=headers, params={"limit": 4, "after": page.data[-1].id}).json()
    assert [i["id"] for i in rest["data"]] == [i["id"] for i in listed["data"][:2][::-1]]
    assert httpx.get(url, headers={"Authorization": f"Bearer {s.same_tenant_key}"}).status_code == 404
    assert httpx.get(url, headers=headers, params={"limit": 0}).status_code == 400
    actions = [(r["action"], r["outcome"]) for r in records(s) if r.get("response_id") == first.id]
    assert actions == [("read_input_items", "ok")] * 3 + [("read_input_items", "not_found")]


def test_store_false_keeps_nothing(s: StateWorld) -> None:
    before = stored_ids(s)
    response, document, _ = create(s, model="chat", input="Ephemeral.", store=False)
    assert document["store"] is False
    assert stored_ids(s) == before
    assert get(s, response.id).status_code == 404
    with pytest.raises(openai.BadRequestError):
        s.w.client().responses.create(model="chat", input="Again?", previous_response_id=response.id)


def test_a_streamed_turn_is_kept_before_the_stream_ends(s: StateWorld) -> None:
    with s.w.client().responses.stream(model="chat", input="Stream it.") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    kept = get(s, final.id).json()
    validate(kept, "Response")
    assert kept["store"] is True and kept["output"][0]["content"][0]["text"] == final.output_text
    second, _, _ = create(s, model="chat", input="Next.", previous_response_id=final.id)
    assert s.w.us.received[-1]["messages"][:2] == [
        {"role": "user", "content": "Stream it."},
        {"role": "assistant", "content": "w0 w1 w2 "},
    ]
    assert second.previous_response_id == final.id


def test_the_store_file_holds_no_plaintext(s: StateWorld) -> None:
    s.w.us.behaviour.echo = True
    secret_prompt = "The launch code phrase is AZURE-HERON-1942."
    first, _, _ = create(s, s.w.globex_key, model="chat", input=f"{PROMPT} {secret_prompt}")
    assert first.id in stored_ids(s)
    raw = b"".join(p.read_bytes() for p in s.data_dir.glob(f"{RESPONSES_DB_FILE}*"))  # the file, its WAL
    assert first.id.encode() in raw  # the id is there in the clear (it is looked up by it)...
    for value in (*VALUES, secret_prompt, "AZURE-HERON", "launch code"):
        assert value.encode() not in raw  # ...but no content, no personal value
    assert (s.data_dir / "responses.key").stat().st_mode & 0o777 == 0o600


def test_a_turn_is_unreadable_after_the_retention_period_and_purged(s: StateWorld) -> None:
    first, _, _ = create(s, model="chat", input="Short-lived.")
    s.clock.offset += RETENTION_DAYS * 86400 - 60
    assert get(s, first.id).status_code == 200  # still within the period
    s.clock.offset += 120
    assert get(s, first.id).status_code == 404
    with pytest.raises(openai.BadRequestError) as caught:
        s.w.client().responses.create(model="chat", input="Still there?", previous_response_id=first.id)
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "previous_response_not_found"
    assert first.id not in stored_ids(s)  # the read deleted it
    # Every turn kept so far by this module has expired by now, unread: the periodic purge deletes them.
    deadline = time.monotonic() + 10
    while stored_ids(s) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stored_ids(s) == set()


@contextlib.contextmanager
def lone_gateway(data_dir: Path, responses: ResponsesSettings) -> Iterator[tuple[RunningGateway, str]]:
    """A gateway of its own (for a config or a fault the module's gateway must not see) and an acme key."""
    upstream = FakeUpstream("jp").start()
    base = world_settings(data_dir, upstream, upstream, upstream)
    gateway_settings = msgspec.structs.replace(base.file.gateway, responses=responses)
    settings = dataclasses.replace(base, file=msgspec.structs.replace(base.file, gateway=gateway_settings))
    key = add_key(settings, "acme")
    gateway = RunningGateway(settings).start()
    try:
        yield gateway, key
    finally:
        gateway.stop()
        upstream.stop()


def test_a_gateway_configured_to_keep_nothing_says_so(tmp_path: Path) -> None:
    with (
        lone_gateway(tmp_path, ResponsesSettings(store=False)) as (gateway, key),
        openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0) as client,
    ):
        raw = client.responses.with_raw_response.create(model="chat", input="Hello")
        document = json.loads(raw.content)
        validate(document, "Response")
        assert document["store"] is False  # the Response says it was not kept
        with pytest.raises(openai.BadRequestError) as caught:
            client.responses.create(model="chat", input="Again", previous_response_id=document["id"])
        assert isinstance(caught.value.body, dict) and "gateway.responses.store" in caught.value.body["message"]
        with pytest.raises(openai.NotFoundError) as missing:
            client.responses.retrieve(document["id"])
        assert isinstance(missing.value.body, dict) and "keeps no Responses turns" in missing.value.body["message"]
    assert not (tmp_path / RESPONSES_DB_FILE).exists() and not (tmp_path / "responses.key").exists()


def test_a_store_that_fails_refuses_rather_than_pretending(tmp_path: Path) -> None:
    with (
        lone_gateway(tmp_path, ResponsesSettings()) as (gateway, key),
        openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0) as client,
    ):
        kept = client.responses.create(model="chat", input="Kept.")
        with contextlib.closing(sqlite3.connect(tmp_path / RESPONSES_DB_FILE)) as conn:  # broken under the gateway
            conn.execute("DROP TABLE stored_responses")
        with pytest.raises(openai.InternalServerError) as caught:
            client.responses.create(model="chat", input="Not kept.")
        assert caught.value.status_code == 503
        assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "responses_store_unavailable"
        with pytest.raises(openai.InternalServerError):  # unreadable is not "not found"
            client.responses.create(model="chat", input="Next.", previous_response_id=kept.id)
        # A stream has sent its answer by then: it ends with the error event instead of the final receipt.
        headers = {"Authorization": f"Bearer {key}"}
        body = {"model": "chat", "input": "Streamed.", "stream": True}
        with httpx.stream("POST", gateway.url + "/v1/responses", json=body, headers=headers) as response:
            raw = b"".join(response.iter_raw())
        frames = [f for f in raw.split(b"\n\n") if f]
        assert frames[-2].startswith(b"event: response.completed")
        assert frames[-1].startswith(b"event: error") and b"responses_store_unavailable" in frames[-1]
        assert b"onshore-receipt" not in raw
        with contextlib.closing(sqlite3.connect(tmp_path / "onshore.db")) as conn:
            bodies = [json.loads(b) for (b,) in conn.execute("SELECT body FROM audit_records ORDER BY seq")]
        refused = [b for b in bodies if b.get("error_code") == "responses_store_unavailable"]
        assert [(b["endpoint"], b["status"]) for b in refused] == [("responses", 503)] * 2  # recorded too
