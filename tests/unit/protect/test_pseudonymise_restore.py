import json
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onshore.protect import Detector, DetectorConfig, Finding, StreamRestorer, Vault, pseudonymise, restore
from onshore.protect.answer import ChunkRestorer, restore_completion

DET = Detector.from_config(DetectorConfig(enable_names=False))


def test_same_value_same_placeholder_across_forms_and_turns() -> None:
    vault = Vault("tenant-a", "conv-1")
    t1 = "電話03-1234-5678、メール taro@example.jp"
    p1 = pseudonymise(t1, DET.scan(t1), vault)
    assert p1 == "電話[[PHONE_1]]、メール [[EMAIL_1]]"
    # Full-width variant of the same number in the next turn: same placeholder.
    t2 = "もう一度：０３－１２３４－５６７８、別の 090-1111-2222"
    p2 = pseudonymise(t2, DET.scan(t2), vault)
    assert p2 == "もう一度：[[PHONE_1]]、別の [[PHONE_2]]"


def test_seeded_vault_maps_previous_answer_to_same_placeholders() -> None:
    first = Vault("tenant-a", "conv-1")
    text = "連絡先は taro@example.jp です"
    pseudonymise(text, DET.scan(text), first)
    answer = restore("[[EMAIL_1]] に送ります", first).text
    assert answer == "taro@example.jp に送ります"
    # Next request: a fresh vault seeded from the persisted mapping.
    second = Vault("tenant-a", "conv-1", first.mapping())
    nxt = pseudonymise(answer + "。a@b.jp にも", DET.scan(answer + "。a@b.jp にも"), second)
    assert nxt == "[[EMAIL_1]] に送ります。[[EMAIL_2]] にも"


def test_sticky_replaces_known_values_even_if_undetected() -> None:
    vault = Vault("t", "c", {"[[PERSON_NAME_1]]": "Taro Yamada"})
    assert pseudonymise("ask Taro Yamada", [], vault) == "ask [[PERSON_NAME_1]]"
    assert pseudonymise("ask Taro Yamada", [], vault, sticky=False) == "ask Taro Yamada"


def test_tenants_never_share_values() -> None:
    a, b = Vault("tenant-a", "c"), Vault("tenant-b", "c")
    ta, tb = "TEL 03-1111-1111", "TEL 06-2222-2222"
    assert pseudonymise(ta, DET.scan(ta), a) == pseudonymise(tb, DET.scan(tb), b) == "TEL [[PHONE_1]]"
    assert restore("[[PHONE_1]]", a).text == "03-1111-1111"
    assert restore("[[PHONE_1]]", b).text == "06-2222-2222"


def test_seed_rejects_non_placeholders() -> None:
    with pytest.raises(ValueError, match="not a placeholder"):
        Vault("t", "c", {"PHONE_1": "x"})


def test_user_typed_placeholder_is_kept_literally() -> None:
    vault = Vault("t", "c")
    text = "[[PHONE_1]] は例です。本物は 03-1234-5678"
    p = pseudonymise(text, DET.scan(text), vault)
    assert p == "[[LITERAL_1]] は例です。本物は [[PHONE_1]]"
    assert restore(p, vault).text == text


def test_health_words_are_not_replaced() -> None:
    vault = Vault("t", "c")
    text = "既往歴：糖尿病"
    assert pseudonymise(text, DET.scan(text), vault) == text


@pytest.mark.parametrize(
    "mangled",
    ["［［PHONE＿1］］", "[[ PHONE_1 ]]", "[[phone_1]]", "[PHONE_1]", "【【ＰＨＯＮＥ＿１】】", "[[PHONE _ 1]]"],
)
def test_mangled_placeholders_restore_when_canonical(mangled: str) -> None:
    vault = Vault("t", "c", {"[[PHONE_1]]": "03-1234-5678"})
    result = restore(f"電話は{mangled}です", vault)
    assert result.text == "電話は03-1234-5678です"
    assert result.unmatched == []


def test_unknown_placeholders_are_reported_not_guessed() -> None:
    vault = Vault("t", "c", {"[[PHONE_1]]": "03-1234-5678", "[[EMAIL_1]]": "a@b.jp"})
    result = restore("[[PHONE_7]] と [[EMAIL_1]] と [[PHONE_3 と PHONE_4]]", vault)
    assert result.text == "[[PHONE_7]] と a@b.jp と [[PHONE_3 と PHONE_4]]"
    assert result.unmatched == ["[[PHONE_7]]", "[[PHONE_3", "PHONE_4]]"]
    assert result.mangled == 0


# Forms seen from a real llama.cpp server (SmolLM2) and from eval/placeholders/preservation.py.
@pytest.mark.parametrize(
    "mangled",
    [
        "PERSON_NAME_1",
        "[PERSON_NAME_1]",
        "[[person_name_1]]",
        "[[PERSON_NAME_1]",
        "[[PERSON_NAME_1",
        "PERSON_NAME_1]]",
        "[PERSON_NAME_1",
        "PERSON_NAME_1 ]",
    ],
)
def test_mangled_forms_of_issued_placeholders_are_restored_and_counted(mangled: str) -> None:
    vault = Vault("t", "c", {"[[PERSON_NAME_1]]": "山田太郎", "[[PHONE_1]]": "03-1234-5678"})
    result = restore(f"Dear {mangled}, call [[PHONE_1]].", vault)
    assert result.text == "Dear 山田太郎, call 03-1234-5678."
    assert result.unmatched == []
    assert result.mangled == 1  # the exact [[PHONE_1]] is not counted as mangled


@pytest.mark.parametrize(
    "ordinary",
    ["HTTP_2", "PHONE_2", "PHONE_10", "MY_PHONE_1", "PHONE_1X", "phone_1", "xPHONE_1", "PERSON_1", "UTF_8"],
)
def test_ordinary_text_is_not_taken_for_a_bare_placeholder(ordinary: str) -> None:
    vault = Vault("t", "c", {"[[PHONE_1]]": "03-1234-5678", "[[PERSON_NAME_1]]": "山田太郎"})
    text = f"use {ordinary} here"
    result = restore(text, vault)
    assert result.text == text
    assert result.unmatched == [] and result.mangled == 0


def test_bare_placeholder_the_request_itself_contained_is_ambiguous() -> None:
    vault = Vault("t", "c", {"[[PHONE_1]]": "03-1234-5678"})
    sent = "PHONE_1 is my label; my number is [[PHONE_1]]"  # the user typed PHONE_1 bare
    result = restore("PHONE_1 and [[PHONE_1]]", vault, sent=sent)
    assert result.text == "PHONE_1 and 03-1234-5678"
    assert result.unmatched == ["PHONE_1"]  # left as it is, and counted


def test_bare_placeholders_restore_inside_json_and_count() -> None:
    vault = Vault("t", "c", {"[[PERSON_NAME_1]]": 'Taro "T"'})
    document: dict[str, Any] = {
        "choices": [
            {
                "message": {
                    "content": "PERSON_NAME_1 and [[PERSON_NAME_9]]",
                    "tool_calls": [{"function": {"arguments": '{"to": "PERSON_NAME_1"}'}}],
                }
            }
        ]
    }
    restored = restore_completion(document, vault)
    message = document["choices"][0]["message"]
    assert message["content"] == 'Taro "T" and [[PERSON_NAME_9]]'
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"to": 'Taro "T"'}
    assert (restored.unrestored, restored.from_mangled) == (1, 2)


def test_stream_holds_back_a_bare_prefix_only_at_a_word_start() -> None:
    vault = Vault("t", "c", {"[[PERSON_NAME_1]]": "山田太郎"})
    s = StreamRestorer(vault)
    assert s.feed("Dear PERS") == "Dear "
    assert s.feed("ON_NA") == ""
    assert s.feed("ME_1") == ""  # could still become PERSON_NAME_10 or PERSON_NAME_1]]
    assert s.feed("さん、HTTP_2 and SUPERSON") == "山田太郎さん、HTTP_2 and SUPERSON"
    assert s.feed(" P") == " "
    assert s.feed("lease") == "Please"
    assert (len(s.unmatched), s.mangled) == (0, 1)


def test_stream_without_issued_placeholders_holds_nothing_bare() -> None:
    s = StreamRestorer(Vault("t", "c"))
    assert s.feed("PERSON_NAME_1 P") == "PERSON_NAME_1 P"


def test_chunk_restorer_counts_across_a_stream() -> None:
    vault = Vault("t", "c", {"[[PHONE_1]]": "03-1234-5678"})
    restorer = ChunkRestorer(vault)
    out = []
    for piece, finish in (("call PHO", None), ("NE_1 or [[PHONE_2]] or [PHONE_", None), ("1]", "stop")):
        chunk: dict[str, Any] = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": finish}]}
        restorer.chunk(chunk)
        out.append(chunk["choices"][0]["delta"]["content"])
    assert "".join(out) == "call 03-1234-5678 or [[PHONE_2]] or 03-1234-5678"
    assert (restorer.restored.unrestored, restorer.restored.from_mangled) == (1, 2)


def test_json_escaped_restore_inside_tool_arguments() -> None:
    vault = Vault("t", "c", {"[[PERSON_NAME_1]]": 'Taro "T" Yamada\\', "[[ADDRESS_1]]": "東京都\n千代田区"})
    args = json.dumps({"to": "[[PERSON_NAME_1]]", "addr": "[[ADDRESS_1]]"}, ensure_ascii=False)
    out = restore(args, vault, json_escaped=True).text
    assert json.loads(out) == {"to": 'Taro "T" Yamada\\', "addr": "東京都\n千代田区"}


def test_stream_holds_back_only_a_possible_placeholder_prefix() -> None:
    vault = Vault("t", "c", {"[[PHONE_1]]": "03-1234-5678"})
    s = StreamRestorer(vault)
    assert s.feed("お電話は[") == "お電話は"
    assert s.feed("[PHO") == ""
    assert s.feed("NE_1]") == ""
    assert s.feed("] まで。配列 [1, 2]") == "03-1234-5678 まで。配列 [1, 2]"
    assert s.feed(" x[") == " x"
    assert s.finish() == "["


def test_stream_never_holds_the_whole_answer() -> None:
    vault = Vault("t", "c")
    s = StreamRestorer(vault)
    long_text = "あ" * 1000
    assert s.feed(long_text) == long_text


# --- properties --------------------------------------------------------------

_VALUES = {
    "phone": ["03-1234-5678", "090-1111-2222", "+81-90-1234-5678"],
    "email": ["taro@example.jp", "h.suzuki@mail.example.com"],
    "person_name": ["山田太郎", "Hanako Suzuki"],
    "my_number": ["123456789018"],
}
_PIECE = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    st.sampled_from(["[", "]", "[[", "]]", "［", "PHONE_1", "[[PHONE_1]]", "[[email_2]]", " ", "_", "1"]),
)


@st.composite
def text_with_findings(draw: st.DrawFn) -> tuple[str, list[Finding]]:
    parts: list[str] = []
    findings: list[Finding] = []
    pos = 0
    for _ in range(draw(st.integers(0, 6))):
        filler = draw(_PIECE)
        parts.append(filler)
        pos += len(filler)
        if draw(st.booleans()):
            type_ = draw(st.sampled_from(sorted(_VALUES)))
            value = draw(st.sampled_from(_VALUES[type_]))
            findings.append(Finding(type_, pos, pos + len(value), value, 0.9))
            parts.append(value)
            pos += len(value)
    return "".join(parts), findings


@settings(database=None, max_examples=300, deadline=None)
@given(text_with_findings())
def test_pseudonymise_then_restore_is_identity(case: tuple[str, list[Finding]]) -> None:
    text, findings = case
    vault = Vault("t", "c")
    hidden = pseudonymise(text, findings, vault)
    for f in findings:
        assert f.text not in hidden
    assert restore(hidden, vault, sent=hidden).text == text


@settings(database=None, max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_roundtrip_with_detector_on_arbitrary_text(text: str) -> None:
    vault = Vault("t", "c")
    hidden = pseudonymise(text, DET.scan(text), vault)
    assert restore(hidden, vault, sent=hidden).text == text


_ANSWER_PIECE = st.one_of(
    st.text(alphabet="aZ_1 [].", max_size=6),
    st.sampled_from(
        ["PHONE_1", "[[PHONE_1]]", "[PHONE_1", "PHONE_1]]", "PHONE_12", "PERSON_NAME_2", "[[person_name_2]", "P", "_"]
    ),
)


@settings(database=None, max_examples=300, deadline=None)
@given(st.lists(_ANSWER_PIECE, max_size=10), st.data())
def test_stream_equals_one_shot_with_bare_forms(pieces: list[str], data: st.DataObject) -> None:
    vault = Vault("t", "c", {"[[PHONE_1]]": "03-1234-5678", "[[PERSON_NAME_2]]": "山田太郎"})
    text = "".join(pieces)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    stream = StreamRestorer(vault)
    out = "".join(stream.feed(text[a:b]) for a, b in pairwise([0, *cuts, len(text)])) + stream.finish()
    whole = restore(text, vault)
    assert out == whole.text
    assert stream.unmatched == whole.unmatched and stream.mangled == whole.mangled


@st.composite
def answer_and_chunks(draw: st.DrawFn) -> tuple[str, list[int]]:
    pieces = st.sampled_from(
        [
            "[[PHONE_1]]",
            "[[EMAIL_1]]",
            "［［ phone＿1 ］］",
            "[[PHONE_9]]",
            "[[PHONE_1]",
            "[",
            "]",
            "[[",
            "_",
            "1",
            " ",
            "x",
        ]
    )
    answer = "".join(draw(st.lists(st.one_of(pieces, st.text(max_size=5)), max_size=20)))
    cuts = sorted(draw(st.lists(st.integers(0, len(answer)), max_size=10)))
    return answer, cuts


@settings(database=None, max_examples=400, deadline=None)
@given(answer_and_chunks(), st.booleans())
def test_stream_equals_one_shot_for_any_chunking(case: tuple[str, list[int]], as_json: bool) -> None:
    answer, cuts = case
    vault = Vault("t", "c", {"[[PHONE_1]]": "03-1234-5678", "[[EMAIL_1]]": 'a"b@c.jp'})
    expected = restore(answer, vault, json_escaped=as_json)
    stream = StreamRestorer(vault, json_escaped=as_json)
    bounds = [0, *cuts, len(answer)]
    out = "".join(stream.feed(answer[a:b]) for a, b in pairwise(bounds)) + stream.finish()
    assert out == expected.text
    assert stream.unmatched == expected.unmatched
