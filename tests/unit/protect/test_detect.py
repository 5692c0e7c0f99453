from itertools import pairwise

import pytest

from onshore.protect import DATA_CLASS, Detector, DetectorConfig, Finding, data_class_of


@pytest.fixture(scope="module")
def det() -> Detector:
    return Detector.from_config(DetectorConfig(enable_names=False))


def kinds(det: Detector, text: str) -> list[tuple[str, str]]:
    return [(f.type, f.text) for f in det.scan(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("電話０３－１２３４－５６７８まで", ("phone", "０３－１２３４－５６７８")),
        ("携帯は090-1234-5678です", ("phone", "090-1234-5678")),
        ("フリーダイヤル0120-123-456", ("phone", "0120-123-456")),
        ("TEL:+81-90-1234-5678", ("phone", "+81-90-1234-5678")),
        ("代表(03)1234-5678", ("phone", "(03)1234-5678")),
        ("050-1234-5678に", ("phone", "050-1234-5678")),
        ("マイナンバーは1234 5678 9018です", ("my_number", "1234 5678 9018")),
        ("個人番号１２３４５６７８９０１８", ("my_number", "１２３４５６７８９０１８")),
        ("法人番号7000012050002", ("corporate_number", "7000012050002")),
        ("カード4111-1111-1111-1111", ("credit_card", "4111-1111-1111-1111")),
        ("保険者番号：06139992", ("health_insurer_number", "06139992")),
        ("〒100-0001", ("postal_code", "100-0001")),
        ("メールはtaro.yamada@example.co.jpまで", ("email", "taro.yamada@example.co.jp")),
        ("接続元IP 192.168.10.1 から", ("ip_address", "192.168.10.1")),
        ("host 2001:db8::8a2e:370:7334", ("ip_address", "2001:db8::8a2e:370:7334")),
        ("生年月日：平成2年3月4日", ("date_of_birth", "平成2年3月4日")),
        ("H2.3.4生まれ", ("date_of_birth", "H2.3.4")),
        ("DOB: 1990-03-04", ("date_of_birth", "1990-03-04")),
        ("born on March 4, 1990", ("date_of_birth", "March 4, 1990")),
        ("住所：東京都千代田区丸の内1-2-3 サンプルビル", ("address", "東京都千代田区丸の内1-2-3 サンプルビル")),
        ("大阪府大阪市北区梅田二丁目4番9号", ("address", "大阪府大阪市北区梅田二丁目4番9号")),
        ("みずほ銀行 渋谷支店 普通 1234567", ("bank_account", "1234567")),
        ("旅券番号TK1234567", ("passport", "TK1234567")),
        ("運転免許証番号 123456789012", ("drivers_licence", "123456789012")),
        ("基礎年金番号1234-567890", ("pension_number", "1234-567890")),
        ("被保険者証記号・番号: 1234-567", ("insurance_number", "1234-567")),
        ("Dear Hanako Suzuki,", ("person_name", "Hanako Suzuki")),
        ("Mr. Taro Yamada", ("person_name", "Taro Yamada")),
        ("Yamada Taro様", ("person_name", "Yamada Taro")),
    ],
)
def test_detects(det: Detector, text: str, expected: tuple[str, str]) -> None:
    assert expected in kinds(det, text)


@pytest.mark.parametrize(
    "text",
    [
        "管理番号 123456789012",  # invalid My Number checksum, no licence context
        "注文番号：ORD-2024-031234",
        "型番 ABC-1234-56",
        "2024-01-15に納品予定",  # a date without birth context
        "会議は2024年1月15日 10:30から",
        "JANコード 4901234567890",
        "追跡番号 4111 1111 1111 1112",  # Luhn fails
        "バージョン v1.2.3",
        "合計金額 ¥1,234,567",
        "保険者番号：06139995",  # check digit wrong
        "request 01a237f6-cd61-7122-9b77-1f0763762960 failed",  # a UUID: its digits are no phone
        "commit 3f09012345678e in the log",  # a hash with a mobile number's digits inside
    ],
)
def test_hard_negatives(det: Detector, text: str) -> None:
    labelled = [f for f in det.scan(text) if f.type not in {"health_info", "special_care_info"}]
    assert labelled == []


@pytest.mark.parametrize("text", ["TEL0312345678", "F 03-1234-5678", "tel:090-1234-5678"])
def test_a_prefix_word_that_starts_the_token_still_marks_a_phone(det: Detector, text: str) -> None:
    assert [f.type for f in det.scan(text)] == ["phone"]


def test_spans_point_into_original_text(det: Detector) -> None:
    text = "㈱ｻﾝﾌﾟﾙ　電話：０３（１２３４）５６７８"
    (f,) = det.scan(text)
    assert f.type == "phone"
    assert text[f.start : f.end] == f.text == "０３（１２３４）５６７８"


def test_no_spaces_between_kana_and_digits(det: Detector) -> None:
    found = kinds(det, "お電話は09012345678かメールtaro@example.jpへ")
    assert ("phone", "09012345678") in found
    assert ("email", "taro@example.jp") in found


def test_context_raises_score(det: Detector) -> None:
    lax = Detector.from_config(DetectorConfig(enable_names=False, min_score=0.0))
    (plain,) = lax.scan("123-4567")
    (marked,) = lax.scan("〒123-4567")
    assert plain.type == marked.type == "postal_code"
    assert marked.score > plain.score
    # Without 〒, postal words or an address next to it, not reported by default.
    assert det.scan("123-4567") == []


def test_context_does_not_cross_lines(det: Detector) -> None:
    found = kinds(det, "免許証番号 123456789012\n伝票番号 936536861565")
    assert found == [("drivers_licence", "123456789012")]


def test_allow_list_compares_normalised_values() -> None:
    det = Detector.from_config(DetectorConfig(allow_list=frozenset({"03-1234-5678"}), enable_names=False))
    found = kinds(det, "代表０３（１２３４）５６７８、担当090-1111-2222")
    assert found == [("phone", "090-1111-2222")]


def test_min_score_filters() -> None:
    strict = Detector.from_config(DetectorConfig(enable_names=False, min_score=0.9))
    assert strict.scan("123-4567") == []
    assert [f.type for f in strict.scan("〒123-4567")] == ["postal_code"]


def test_findings_sorted_and_disjoint(det: Detector) -> None:
    text = "〒100-0001 東京都千代田区千代田1-1-1 TEL 03-1234-5678 mail a@b.jp 生年月日 1990年1月2日"
    found = det.scan(text)
    assert [f.type for f in found] == ["postal_code", "address", "phone", "email", "date_of_birth"]
    for a, b in pairwise(found):
        assert a.end <= b.start


def test_overlap_prefers_higher_score(det: Detector) -> None:
    # The 12 digits are a valid My Number; licence context wins only without it.
    (f,) = det.scan("マイナンバー 123456789018")
    assert f.type == "my_number"
    (g,) = det.scan("免許証 123456789018")
    assert g.type == "drivers_licence"


def test_health_and_special_care_classes(det: Detector) -> None:
    found = det.scan("既往歴：糖尿病。犯罪歴なし")
    types = {f.type for f in found}
    assert {"health_info", "special_care_info"} <= types
    assert {data_class_of(t) for t in types} == {"special_care"}
    assert DATA_CLASS["my_number"] == "personal"


def test_finding_is_frozen() -> None:
    f = Finding("phone", 0, 1, "0", 0.5)
    with pytest.raises(AttributeError):
        f.start = 3  # type: ignore[misc]


def test_name_layer_is_optional_and_injectable() -> None:
    class Fake:
        def find(self, text: str) -> list[tuple[int, int, float]]:
            i = text.index("ポチ")
            return [(i, i + 2, 0.9)]

    det = Detector.from_config(DetectorConfig(), name_layer_factory=Fake)
    assert [(f.type, f.text) for f in det.scan("犬のポチ")] == [("person_name", "ポチ")]


def test_large_text_is_fast_enough_to_scan(det: Detector) -> None:
    text = "いつもお世話になっております。見積書を送付します。TEL 03-1234-5678\n" * 2000
    found = det.scan(text)
    assert len(found) == 2000
