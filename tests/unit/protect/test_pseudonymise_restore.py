import json
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onshore.protect import Detector, DetectorConfig, Finding, StreamRestorer, Vault, pseudonymise, restore

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
    result = restore("[[PHONE_7]] と [[EMAIL_1]] と [[PHONE_1", vault)
    assert result.text == "[[PHONE_7]] と a@b.jp と [[PHONE_1"
    assert result.unmatched == ["[[PHONE_7]]"]


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
    assert restore(hidden, vault).text == text


@settings(database=None, max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_roundtrip_with_detector_on_arbitrary_text(text: str) -> None:
    vault = Vault("t", "c")
    hidden = pseudonymise(text, DET.scan(text), vault)
    assert restore(hidden, vault).text == text


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
