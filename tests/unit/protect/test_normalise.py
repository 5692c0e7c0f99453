import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from onshore.protect.normalise import normalise, value_key


def test_ascii_is_identity() -> None:
    n = normalise("TEL 03-1234-5678")
    assert n.text == n.original
    assert n.span_to_original(4, 16) == (4, 16)


def test_full_width_digits_map_back_exactly() -> None:
    text = "電話０３－１２３４－５６７８です"
    n = normalise(text)
    assert n.text == "電話03-1234-5678です"
    s, e = n.span_to_original(2, 14)
    assert text[s:e] == "０３－１２３４－５６７８"


def test_length_changing_pieces() -> None:
    text = "㈱ｻﾝﾌﾟﾙ 〒１００"
    n = normalise(text)
    assert n.text == "(株)サンプル 〒100"
    i = n.text.index("サンプル")
    s, e = n.span_to_original(i, i + 4)
    assert text[s:e] == "ｻﾝﾌﾟﾙ"
    j = n.text.index("100")
    s, e = n.span_to_original(j, j + 3)
    assert text[s:e] == "１００"


def test_value_key_ignores_width_case_and_separators() -> None:
    assert value_key("０３（１２３４）５６７８") == value_key("03-1234-5678")
    assert value_key("Taro@Example.com") == value_key("taro@example.com")
    assert value_key("山田　太郎") == value_key("山田太郎")


@settings(database=None)
@given(st.text(max_size=60))
def test_matches_nfkc_and_spans_stay_in_bounds(text: str) -> None:
    n = normalise(text)
    if unicodedata.is_normalized("NFKC", unicodedata.normalize("NFKC", text)):
        assert len(n.text) >= 0
    for i in range(len(n.text) + 1):
        s = n.start_to_original(i)
        e = n.end_to_original(i)
        assert 0 <= s <= len(text)
        assert 0 <= e <= len(text)
    whole = n.span_to_original(0, len(n.text))
    assert whole == (0, len(text))
