"""Japanese address spans (own examples, written from the address formats).

Convention: an address runs from the prefecture (or, without one, the
municipality / designated city / Kyoto street) to its last block part, plus a
building name and room that follow directly (at most one space). A postal code
in front is a separate ``postal_code`` finding. A municipality without any block
number ("東京都千代田区") is NOT an address: it names an area, not a dwelling.
"""

import pytest

from onshore.protect import Detector, DetectorConfig

_UNLABELLED = {"health_info", "special_care_info", "person_name"}


@pytest.fixture(scope="module")
def det() -> Detector:
    return Detector.from_config(DetectorConfig(enable_names=False))


def kinds(det: Detector, text: str) -> list[tuple[str, str]]:
    return [(f.type, f.text) for f in det.scan(text) if f.type not in _UNLABELLED]


def addresses(det: Detector, text: str) -> list[str]:
    return [t for k, t in kinds(det, text) if k == "address"]


# Prefecture + municipality + town + block, every block notation.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("住所：東京都千代田区丸の内1-2-3", "東京都千代田区丸の内1-2-3"),
        ("東京都千代田区丸の内１－２－３", "東京都千代田区丸の内１－２－３"),
        ("東京都千代田区丸の内1丁目2番3号です", "東京都千代田区丸の内1丁目2番3号"),
        ("東京都新宿区西新宿二丁目8番1号", "東京都新宿区西新宿二丁目8番1号"),
        ("東京都新宿区西新宿2丁目8-1に", "東京都新宿区西新宿2丁目8-1"),
        ("東京都目黒区目黒1ー2ー3", "東京都目黒区目黒1ー2ー3"),
        ("東京都品川区大崎一丁目二番三号", "東京都品川区大崎一丁目二番三号"),
        ("東京都 千代田区 丸の内 1-1-1", "東京都 千代田区 丸の内 1-1-1"),
        ("埼玉県川越市大字今福12番地の3に住む", "埼玉県川越市大字今福12番地の3"),
        ("石川県金沢市広坂123番地", "石川県金沢市広坂123番地"),
        ("千葉県柏市柏5番地3", "千葉県柏市柏5番地3"),
        ("岐阜県大野郡白川村荻町1086に泊まる", "岐阜県大野郡白川村荻町1086"),
        ("沖縄県国頭郡恩納村字恩納2345番地", "沖縄県国頭郡恩納村字恩納2345番地"),
        ("北海道虻田郡倶知安町字山田123-4", "北海道虻田郡倶知安町字山田123-4"),
        ("神奈川県横浜市中区山下町279", "神奈川県横浜市中区山下町279"),
        ("大阪府大阪市北区梅田三丁目1番3号", "大阪府大阪市北区梅田三丁目1番3号"),
        ("埼玉県さいたま市大宮区桜木町1-7-5", "埼玉県さいたま市大宮区桜木町1-7-5"),
        ("茨城県つくば市竹園１丁目１０－１", "茨城県つくば市竹園１丁目１０－１"),
        ("東京都千代田区丸の内一丁目", "東京都千代田区丸の内一丁目"),
        ("沖縄県那覇市おもろまち1-1-1", "沖縄県那覇市おもろまち1-1-1"),
        ("宮城県仙台市青葉区一番町7-15-5", "宮城県仙台市青葉区一番町7-15-5"),
        ("東京都千代田区内幸町1-1-1", "東京都千代田区内幸町1-1-1"),
        ("東京都立川市曙町2-1-1", "東京都立川市曙町2-1-1"),
    ],
)
def test_prefecture_addresses(det: Detector, text: str, expected: str) -> None:
    assert addresses(det, text) == [expected]


# A building and room directly after the block (at most one space) belong to it.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("東京都千代田区丸の内2-4-1 丸の内ビル5階", "東京都千代田区丸の内2-4-1 丸の内ビル5階"),
        ("東京都世田谷区太子堂4-1-1 サンハイツ201号室", "東京都世田谷区太子堂4-1-1 サンハイツ201号室"),
        ("大阪府吹田市江坂町1-2-3 グリーンマンション502", "大阪府吹田市江坂町1-2-3 グリーンマンション502"),
        ("東京都渋谷区神南1-2-3 第二ビル 301", "東京都渋谷区神南1-2-3 第二ビル 301"),
        ("東京都港区六本木6-10-1 六本木ヒルズ森タワー42F", "東京都港区六本木6-10-1 六本木ヒルズ森タワー42F"),
        ("東京都中野区中野5-6-7 502号室まで", "東京都中野区中野5-6-7 502号室"),
        ("東京都杉並区高円寺南3-4-5コーポ田中202号室", "東京都杉並区高円寺南3-4-5コーポ田中202号室"),
        ("東京都千代田区丸の内1-2-3 サンプルビル", "東京都千代田区丸の内1-2-3 サンプルビル"),
        (
            "東京都品川区大崎１丁目２番３号　サンハイツ２０１号室",
            "東京都品川区大崎１丁目２番３号　サンハイツ２０１号室",
        ),
        ("福岡県福岡市博多区博多駅前2-1-1 博多センタービル3F", "福岡県福岡市博多区博多駅前2-1-1 博多センタービル3F"),
    ],
)
def test_building_and_room(det: Detector, text: str, expected: str) -> None:
    assert addresses(det, text) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("東京都港区芝公園4-2-8 までお越しください", "東京都港区芝公園4-2-8"),
        ("東京都港区芝公園4-2-8  サンプルビル", "東京都港区芝公園4-2-8"),  # two spaces
        ("東京都港区芝公園4-2-8 山田太郎様", "東京都港区芝公園4-2-8"),
        ("東京都港区芝公園4-2-8 株式会社サンプル 御中", "東京都港区芝公園4-2-8"),
        ("東京都港区芝公園4-2-8、ABCビル", "東京都港区芝公園4-2-8"),
        ("東京都港区芝公園4-2-8 TEL 03-1234-5678", "東京都港区芝公園4-2-8"),
    ],
)
def test_building_only_when_adjacent(det: Detector, text: str, expected: str) -> None:
    assert addresses(det, text) == [expected]


# No prefecture: designated cities (+ ward), Tokyo wards, other cities.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("大阪市北区梅田3-1-3", "大阪市北区梅田3-1-3"),
        ("送り先は大阪市北区梅田3-1-3です", "大阪市北区梅田3-1-3"),
        ("札幌市中央区北1条西2丁目", "札幌市中央区北1条西2丁目"),
        ("札幌市中央区北1条西2丁目1-1", "札幌市中央区北1条西2丁目1-1"),
        ("北海道札幌市中央区北1条西2丁目1-1 札幌ビル8階", "北海道札幌市中央区北1条西2丁目1-1 札幌ビル8階"),
        ("北海道札幌市中央区南三条西四丁目", "北海道札幌市中央区南三条西四丁目"),
        ("北海道旭川市4条通8丁目", "北海道旭川市4条通8丁目"),
        ("新宿区西新宿2-8-1", "新宿区西新宿2-8-1"),
        ("名古屋市中村区名駅1丁目1番4号", "名古屋市中村区名駅1丁目1番4号"),
        ("住所は松本市中央1-2-3です", "松本市中央1-2-3"),
    ],
)
def test_without_prefecture(det: Detector, text: str, expected: str) -> None:
    assert addresses(det, text) == [expected]


# Kyoto: street + direction (上る/下る/西入る...) + town, with or without a number.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("京都市中京区河原町通三条上る下丸屋町390", "京都市中京区河原町通三条上る下丸屋町390"),
        ("京都府京都市下京区烏丸通四条下ル水銀屋町620", "京都府京都市下京区烏丸通四条下ル水銀屋町620"),
        ("京都市下京区烏丸通四条下ル", "京都市下京区烏丸通四条下ル"),
        ("京都市上京区今出川通烏丸東入ル玄武町601番地", "京都市上京区今出川通烏丸東入ル玄武町601番地"),
        ("住所：京都府京都市中京区烏丸通御池上る二条殿町552", "京都府京都市中京区烏丸通御池上る二条殿町552"),
    ],
)
def test_kyoto_streets(det: Detector, text: str, expected: str) -> None:
    assert addresses(det, text) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3-5-12 Minami-Aoyama, Minato-ku, Tokyo", "3-5-12 Minami-Aoyama, Minato-ku, Tokyo"),
        ("Office: 1-1 Marunouchi, Chiyoda-ku, Tokyo.", "1-1 Marunouchi, Chiyoda-ku, Tokyo"),
        ("2-8-1 Nishi-Shinjuku, Shinjuku-ku, Tokyo-to", "2-8-1 Nishi-Shinjuku, Shinjuku-ku, Tokyo-to"),
        ("Umeda 3-1-3, Kita-ku, Osaka", "Umeda 3-1-3, Kita-ku, Osaka"),
        ("4-1 Kioicho, Chiyoda City, Tokyo", "4-1 Kioicho, Chiyoda City, Tokyo"),
        ("1-2-3 Chuo, Aoba-ku, Sendai-shi, Miyagi", "1-2-3 Chuo, Aoba-ku, Sendai-shi, Miyagi"),
        ("5-6 Kita 1-jo Nishi, Chuo-ku, Sapporo", "5-6 Kita 1-jo Nishi, Chuo-ku, Sapporo"),
        ("12-3 Sakae, Naka-ku, Nagoya, Aichi Prefecture", "12-3 Sakae, Naka-ku, Nagoya, Aichi Prefecture"),
    ],
)
def test_romanised(det: Detector, text: str, expected: str) -> None:
    assert addresses(det, text) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "〒530-0001 大阪府大阪市北区梅田3-1-3",
            [("postal_code", "530-0001"), ("address", "大阪府大阪市北区梅田3-1-3")],
        ),
        (
            "〒１００－０００５　東京都千代田区丸の内１丁目１番１号",
            [("postal_code", "１００－０００５"), ("address", "東京都千代田区丸の内１丁目１番１号")],
        ),
        (
            "3-5-12 Minami-Aoyama, Minato-ku, Tokyo 107-0062",
            [("address", "3-5-12 Minami-Aoyama, Minato-ku, Tokyo"), ("postal_code", "107-0062")],
        ),
        (
            "1-1 Marunouchi, Chiyoda-ku, Tokyo 100-0005, Japan",
            [("address", "1-1 Marunouchi, Chiyoda-ku, Tokyo"), ("postal_code", "100-0005")],
        ),
    ],
)
def test_postal_code_is_separate(det: Detector, text: str, expected: list[tuple[str, str]]) -> None:
    assert kinds(det, text) == expected


def test_two_addresses_on_one_line(det: Detector) -> None:
    text = "旧住所 東京都港区芝公園4-2-8、新住所 大阪府大阪市北区梅田3-1-3"
    assert addresses(det, text) == ["東京都港区芝公園4-2-8", "大阪府大阪市北区梅田3-1-3"]


@pytest.mark.parametrize(
    "text",
    [
        "東京都の人口は約1400万人です",
        "大阪府警が3日に発表した",
        "大阪府警は12-3で勝った",
        "千代田区役所に行きました",
        "千代田区役所2階の窓口",
        "松本市長は2日、会見を開いた",
        "渋谷駅で待ち合わせ",
        "渋谷駅3番出口",
        "第3章2節を参照",
        "仕様書 3-2-1 節",
        "バージョン1.2.3に更新",
        "v2-1-0 をリリース",
        "2024-01-15に会議",
        "2024年1月15日",
        "合計1,234,567円",
        "価格は12-3-4500円",
        "住所：東京都千代田区",  # municipality alone: no block, not an address
        "東京都千代田区に本社を置く",
        "東京都千代田区の売上は1-2月に増加",
        "大阪市北区で3件の火災",
        "京都市では2024年に",
        "横浜市の人口は377万人",
        "東京都港区、2024年",
        "東京都千代田区 2024年度予算",
        "東京都港区 3-4月予定",
        "横浜市立大学2-3年生",
        "名古屋市営地下鉄3号線",
        "札幌市中央区の1-3月期",
        "市場3-5番で",
        "卸売市場で3-5",
        "階段を上る人が3人",
        "Tokyo 2020 Olympics",
        "Chiyoda-ku, Tokyo",
        "version 1-2-3 Release, Tokyo",
    ],
)
def test_not_addresses(det: Detector, text: str) -> None:
    assert addresses(det, text) == []
