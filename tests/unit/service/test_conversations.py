"""Kept Responses turns are sealed for their row: another owner, another expiry, another key or a
flipped byte and the turn does not open; reads and deletes are in the audit chain with their reader."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from onshore.identify.principal import Principal
from onshore.prove.signer import Signer
from onshore.prove.writer import AuditWriter
from onshore.service.conversations import Conversations, Sealer, Turn, WrongKey, request_id_of, response_id_for
from onshore.store.memory import MemoryResponses, MemoryStore

T0 = 1_800_000_000.0
ALICE = Principal("aaaaaaaaaaaa", "acme", "public", None)
BOB = Principal("bbbbbbbbbbbb", "acme", "public", None)
TURN = Turn(
    data_class="personal",
    messages=[{"role": "user", "content": "鈴木花子です"}, {"role": "assistant", "content": "こんにちは"}],
    response={"id": "resp_1", "object": "response", "output": []},
)


def test_a_sealed_value_opens_only_in_its_context_and_under_its_key() -> None:
    key = os.urandom(32)
    sealer = Sealer(key)
    sealed = sealer.seal(b"plain", b"resp_1\x00acme\x00alice\x001.0")
    assert b"plain" not in sealed
    assert sealer.open(sealed, b"resp_1\x00acme\x00alice\x001.0") == b"plain"
    assert sealer.open(sealed, b"resp_1\x00acme\x00bob\x001.0") is None  # moved to another owner
    assert sealer.open(sealed, b"resp_1\x00acme\x00alice\x009.0") is None  # given a longer life
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    assert sealer.open(flipped, b"resp_1\x00acme\x00alice\x001.0") is None
    assert Sealer(key).open(sealed, b"resp_1\x00acme\x00alice\x001.0") == b"plain"  # the same key file
    with pytest.raises(WrongKey):
        Sealer(os.urandom(32)).open(sealed, b"resp_1\x00acme\x00alice\x001.0")
    assert sealer.seal(b"plain", b"c") != sealer.seal(b"plain", b"c")  # a fresh nonce every time


def test_ids_map_to_audit_records_and_back() -> None:
    request_id = "01890a5d-ac96-774b-b2c4-5f1e2c3b4a59"
    assert response_id_for(request_id) == f"resp_{request_id}"
    assert request_id_of(response_id_for(request_id)) == request_id
    assert request_id_of("chatcmpl-1") is None


def test_keep_find_read_delete_for_the_owner_only() -> None:
    async def scenario() -> None:
        audit_store = MemoryStore()
        audit = AuditWriter(audit_store, Signer(Ed25519PrivateKey.generate()), audit_store.worker.run)
        await audit.start()
        now = [T0]
        store = MemoryResponses()
        ids = iter(f"rec-{i}" for i in range(100))
        conversations = Conversations(store, Sealer(os.urandom(32)), 60.0, audit, lambda: now[0], lambda _t: next(ids))

        await conversations.keep("resp_1", "acme", ALICE.key_id, TURN)
        found = await conversations.find("resp_1", ALICE)
        assert found is not None and found[0] == TURN and found[1] > 0
        assert await conversations.find("resp_1", BOB) is None
        sealed, _ = (await store.get("resp_1", "acme", ALICE.key_id, T0)) or (b"", 0.0)
        assert "鈴木花子".encode() not in sealed and b"personal" not in sealed

        # A row edited in the database to name another owner does not open for them.
        await store.put("resp_2", "acme", BOB.key_id, T0, T0 + 60, sealed)
        assert await conversations.find("resp_2", BOB) is None

        assert await conversations.read("resp_1", BOB) is None
        assert await conversations.read("resp_1", ALICE) == TURN
        assert not await conversations.delete("resp_1", BOB)
        assert await conversations.delete("resp_1", ALICE)
        assert await conversations.read("resp_1", ALICE) is None

        await conversations.keep("resp_3", "acme", ALICE.key_id, TURN)
        now[0] = T0 + 61
        assert await conversations.find("resp_3", ALICE) is None  # past the retention period
        assert await conversations.purge() == 1  # resp_2, met by nobody since

        await audit.close()
        bodies = [json.loads(r.body) for r in audit_store.iter_records()]
        trail = [(b["action"], b["key_id"], b["outcome"]) for b in bodies]
        assert trail == [
            ("read", BOB.key_id, "not_found"),
            ("read", ALICE.key_id, "ok"),
            ("delete", BOB.key_id, "not_found"),
            ("delete", ALICE.key_id, "requested"),
            ("read", ALICE.key_id, "not_found"),
        ]
        assert {b["kind"] for b in bodies} == {"stored_response"} and {b["response_id"] for b in bodies} == {"resp_1"}
        audit_store.close()

    asyncio.run(scenario())
