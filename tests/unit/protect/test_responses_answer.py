"""Restoring a native backend's Responses answer: the whole Response, and its stream event by event."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from onshore.protect.responses_answer import EventRestorer, restore_response
from onshore.protect.vault import Vault

PHONE = "090-1234-5678"


def vault() -> Vault:
    v = Vault("acme", "req-1")
    assert v.placeholder_for("phone", PHONE) == "[[PHONE_1]]"
    return v


def test_a_whole_response_is_restored_in_text_refusal_and_arguments() -> None:
    document: dict[str, Any] = {
        "output": [
            {
                "type": "message",
                "content": [
                    {"type": "output_text", "text": "Call [[PHONE_1]]"},
                    {"type": "refusal", "refusal": "[[PHONE_1]]?"},
                ],
            },
            {"type": "function_call", "arguments": json.dumps({"q": "[[PHONE_1]]"})},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "about [[PHONE_1]]"}]},
        ]
    }
    restored = restore_response(document, vault())
    message, call, reasoning = document["output"]
    assert message["content"][0]["text"] == f"Call {PHONE}" and message["content"][1]["refusal"] == f"{PHONE}?"
    assert json.loads(call["arguments"]) == {"q": PHONE}
    assert reasoning["summary"][0]["text"] == f"about {PHONE}"
    assert (restored.unrestored, restored.from_mangled) == (0, 0)


def _events(text: str, cuts: list[int]) -> list[dict[str, Any]]:
    where = {"item_id": "msg", "output_index": 0, "content_index": 0}
    bounds = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    return [
        *({"type": "response.output_text.delta", **where, "delta": p, "logprobs": []} for p in pieces),
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {
            "type": "response.completed",
            "response": {"output": [{"type": "message", "content": [{"type": "output_text", "text": text}]}]},
        },
    ]


@given(
    prefix=st.text(max_size=8).filter(lambda s: "[" not in s and "]" not in s),
    cuts=st.lists(st.integers(0, 40), max_size=6),
)
def test_deltas_split_anywhere_join_to_the_restored_text_and_match_the_done_event(prefix: str, cuts: list[int]) -> None:
    restorer = EventRestorer(vault())
    text = f"{prefix}[[PHONE_1]] end"
    out = [e for event in _events(text, cuts) for e in restorer.event(event)]
    deltas = [e["delta"] for e in out if e["type"] == "response.output_text.delta"]
    (done,) = [e for e in out if e["type"] == "response.output_text.done"]
    assert "".join(deltas) == f"{prefix}{PHONE} end" == done["text"]
    assert not any("[[" in d for d in deltas)
    assert out[-1]["response"]["output"][0]["content"][0]["text"] == f"{prefix}{PHONE} end"
    assert restorer.restored.unrestored == 0


def test_text_held_back_at_the_end_of_a_part_is_sent_as_one_more_delta_before_its_done() -> None:
    restorer = EventRestorer(vault())
    where = {"item_id": "msg", "output_index": 0, "content_index": 0}
    first = restorer.event({"type": "response.output_text.delta", **where, "delta": "ok [[PHO"})
    assert first[0]["delta"] == "ok "  # the possible placeholder is held back
    closing = restorer.event({"type": "response.output_text.done", **where, "text": "ok [[PHO"})
    assert [e["type"] for e in closing] == ["response.output_text.delta", "response.output_text.done"]
    assert closing[0]["delta"] == "[[PHO" and closing[1]["text"] == "ok [[PHO"
