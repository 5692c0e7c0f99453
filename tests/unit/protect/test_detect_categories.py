"""Error categories reported by the independent evaluation (own examples)."""

import pytest

from onshore.protect import Detector, DetectorConfig

_UNLABELLED = {"health_info", "special_care_info", "person_name"}


@pytest.fixture(scope="module")
def det() -> Detector:
    return Detector.from_config(DetectorConfig(enable_names=False))


def kinds(det: Detector, text: str) -> list[tuple[str, str]]:
    return [(f.type, f.text) for f in det.scan(text) if f.type not in _UNLABELLED]


# 1. Brackets around a value stay outside the span.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("個人番号(123456789018)を記入", ("my_number", "123456789018")),
        ("個人番号（１２３４５６７８９０１８）を記入", ("my_number", "１２３４５６７８９０１８")),
        ("携帯(080-2233-4455)まで", ("phone", "080-2233-4455")),
        ("携帯（080-2233-4455）まで", ("phone", "080-2233-4455")),
        ("代表(06)6543-2109", ("phone", "(06)6543-2109")),
    ],
)
def test_brackets_excluded(det: Detector, text: str, expected: tuple[str, str]) -> None:
    assert kinds(det, text) == [expected]


# 3. 被保険者 記号・番号 in its many written forms.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("保険証の記号 5521 番号 18", ["5521", "18"]),
        ("健康保険証 記号：3344 番号：902", ["3344", "902"]),
        ("保険証 記号：３３４４　番号：９０２", ["３３４４", "９０２"]),
        ("被保険者証 記号・番号 ７７０１・４５", ["７７０１・４５"]),
        ("保険証の記号・番号は「市職 41・233」です", ["市職 41・233"]),
        ("被保険者証記号・番号: 1234-567", ["1234-567"]),
        ("被保険者番号 12345678", ["12345678"]),
    ],
)
def test_insurance_number_forms(det: Detector, text: str, expected: list[str]) -> None:
    assert [t for k, t in kinds(det, text) if k == "insurance_number"] == expected


def test_yucho_symbol_number_is_a_bank_account(det: Detector) -> None:
    found = kinds(det, "ゆうちょ銀行 記号 12160 番号 33445561")
    assert found and all(k == "bank_account" for k, _ in found)


# 4. Card brands and groupings beyond the 16-digit 4-4-4-4 form.
@pytest.mark.parametrize(
    "text",
    [
        "カード番号 4012 8888 8888 1",  # 13-digit Visa
        "カード 2223 0000 4841 0010",  # 2-series Mastercard
        "クレジットカード 2720990000000007",
        "銀聯カード 622202 1234567890128",  # UnionPay 6-13 (Luhn-valid)
    ],
)
def test_more_card_shapes(det: Detector, text: str) -> None:
    assert [k for k, _ in kinds(det, text)] == ["credit_card"]


def test_card_negatives(det: Detector) -> None:
    assert kinds(det, "JANコード 4901234567894") == []  # bare 13 digits without card context
    assert kinds(det, "番号 2100 0000 0000 0001") == []  # 21xx is no Mastercard range


# 5. Version numbers are not IP addresses unless network words are near.
@pytest.mark.parametrize(
    "text",
    [
        "ファームウェアを 3.10.2.1 に更新しました",
        "release 10.4.0.12 で修正済み",
        "v2.0.0.1 へアップグレード",
        "仕様書 4.2.1.3 節を参照",
        "rollback to 1.2.3.4 tonight",
    ],
)
def test_version_is_not_ip(det: Detector, text: str) -> None:
    assert kinds(det, text) == []


def test_ip_with_network_context_survives_version_words(det: Detector) -> None:
    assert kinds(det, "アップデート後、サーバ 10.20.30.40 にssh接続") == [("ip_address", "10.20.30.40")]
    assert kinds(det, "問題の端末は 172.16.5.9 です") == [("ip_address", "172.16.5.9")]


# 6. Birth dates.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("令和2年11月3日生", "令和2年11月3日"),
        ("昭和58年7月21日生の男性", "昭和58年7月21日"),
        ("DOB: 03-Nov-1979", "03-Nov-1979"),
        ("born on the 21st of March, 1990", "21st of March, 1990"),
        ("Birthday: June 2nd, 1985", "June 2nd, 1985"),
        ("生年月日 1988(昭和63)年5月17日", "1988(昭和63)年5月17日"),
        ("生年月日：1979年（昭和54年）2月8日", "1979年（昭和54年）2月8日"),
    ],
)
def test_birth_dates(det: Detector, text: str, expected: str) -> None:
    assert kinds(det, text) == [("date_of_birth", expected)]


def test_birth_cue_does_not_cross_sentences(det: Detector) -> None:
    assert kinds(det, "誕生日の入力は任意です。締切：2025年6月30日") == []
    assert kinds(det, "Enter your birth date. Deadline 2025-06-30") == []
    assert kinds(det, "D.O.B. 1990-03-04") == [("date_of_birth", "1990-03-04")]


# 7. Smaller fixes.
def test_scaled_image_name_is_not_email(det: Detector) -> None:
    assert kinds(det, "icon@3x.webp と banner@1.5x.png を差し替え") == []
    assert kinds(det, "連絡先 ops@3x.example.com") == [("email", "ops@3x.example.com")]


def test_postal_code_needs_postal_or_address_context(det: Detector) -> None:
    assert kinds(det, "品番 456-7890 を発注") == []
    assert kinds(det, "郵便番号 456-7890") == [("postal_code", "456-7890")]
    assert kinds(det, "530-0001 大阪府大阪市北区梅田1-1-1") == [
        ("postal_code", "530-0001"),
        ("address", "大阪府大阪市北区梅田1-1-1"),
    ]


def test_order_number_is_not_phone(det: Detector) -> None:
    assert kinds(det, "ご注文番号：0612345678") == []
    assert kinds(det, "伝票番号 0456781234 の件") == []
    assert kinds(det, "注文の件、電話 0612345678 まで") == [("phone", "0612345678")]


def test_phone_with_spaced_hyphens(det: Detector) -> None:
    assert kinds(det, "携帯 080 - 5566 - 7788 まで") == [("phone", "080 - 5566 - 7788")]


def test_bank_account_shapes(det: Detector) -> None:
    assert kinds(det, "ゆうちょ口座 13260-11223341") == [("bank_account", "13260-11223341")]
    assert kinds(det, "振込先 0005-321-7654321") == [("bank_account", "0005-321-7654321")]


def test_passport_with_space(det: Detector) -> None:
    assert kinds(det, "パスポート番号 MZ 1234567") == [("passport", "MZ 1234567")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("住所：京都府京都市中京区烏丸通御池上る二条殿町552", "京都府京都市中京区烏丸通御池上る二条殿町552"),
        ("長野県下高井郡野沢温泉村豊郷9817 に滞在", "長野県下高井郡野沢温泉村豊郷9817"),
        ("東京都練馬区豊玉北5番地の12", "東京都練馬区豊玉北5番地の12"),
        ("神奈川県横浜市西区みなとみらい2-3-1201号", "神奈川県横浜市西区みなとみらい2-3-1201号"),
    ],
)
def test_address_shapes(det: Detector, text: str, expected: str) -> None:
    assert ("address", expected) in kinds(det, text)
