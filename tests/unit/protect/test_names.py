import pytest

from onshore.protect import Detector, DetectorConfig

pytest.importorskip("sudachipy")


@pytest.fixture(scope="module")
def det() -> Detector:
    return Detector.from_config(DetectorConfig())


def names(det: Detector, text: str) -> list[str]:
    return [f.text for f in det.scan(text) if f.type == "person_name"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("株式会社サンプルの山田太郎です。", ["山田太郎"]),
        ("鈴木花子様からご連絡がありました", ["鈴木花子"]),
        ("佐藤 健一さんと高橋さん", ["佐藤 健一", "高橋"]),
        ("田中先生によろしく", ["田中"]),
        ("木村部長に確認します", ["木村"]),
        ("ヤマダタロウ様", ["ヤマダタロウ"]),
        ("遠藤\u3000さくら様", ["遠藤\u3000さくら"]),
        ("Dear Hanako Suzuki, 山田様", ["Hanako Suzuki", "山田"]),
    ],
)
def test_japanese_names_without_honorific(det: Detector, text: str, expected: list[str]) -> None:
    assert names(det, text) == expected


def test_surname_inside_compound_is_not_a_name(det: Detector) -> None:
    assert names(det, "梅田支店に振り込みます") == []


def test_long_text_is_chunked(det: Detector) -> None:
    text = ("お世話になっております。" * 500 + "山田太郎様\n") * 4
    assert names(det, text) == ["山田太郎"] * 4


# Reported recall gaps (own examples): bare surnames with a cue, speakers,
# katakana foreign names, labelled forms, given names with a cue.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("本件は担当の森が折り返します", ["森"]),
        ("株式会社アオバ物産の小川でございます", ["小川"]),
        ("石原と申します。よろしくお願いします", ["石原"]),
        ("佐藤: 承知しました\n田中: ありがとうございます", ["佐藤", "田中"]),
        ("パク・ジヨンさんが来社されます", ["パク・ジヨン"]),
        ("ジョン・スミス様宛て", ["ジョン・スミス"]),
        ("ソフィア＝ロッシさんの件", ["ソフィア＝ロッシ"]),
        ("マイケルから返信がありました", ["マイケル"]),
        ("氏名：高橋\u3000美咲", ["高橋\u3000美咲"]),
        ("お名前: 中村 陽菜", ["中村 陽菜"]),
        ("娘のさくらが熱を出しました", ["さくら"]),
        ("ひなたちゃんと悠真くん", ["ひなた", "悠真"]),
    ],
)
def test_names_with_cues(det: Detector, text: str, expected: list[str]) -> None:
    assert names(det, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "株式会社田中工務店に発注しました",
        "松本市の会場で開催します",
        "本田技研の工場を見学",
        "渋谷で打ち合わせ",
        "担当: 営業部",
        "担当の者が伺います",
        "弊社の規定です",
        "デザイナーさんに依頼",
        "発行元：株式会社サンプル\n振込先：みずほ銀行",
        "お客様の名前を確認",
    ],
)
def test_company_and_place_lookalikes_are_not_names(det: Detector, text: str) -> None:
    assert names(det, text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Kenji Watanabe will join the call", ["Kenji Watanabe"]),
        ("From: Lucia Fernandez <lucia@example.com>", ["Lucia Fernandez"]),
        ("宛先 YUKI TAKAHASHI 様", ["YUKI TAKAHASHI"]),
        ("cc Robert Miller and Aiko Sato", ["Robert Miller", "Aiko Sato"]),
        ("Hi Emma, thanks for the update", ["Emma"]),
        ("Nakamura Shota から連絡", ["Nakamura Shota"]),
    ],
)
def test_latin_names_without_cue(det: Detector, text: str, expected: list[str]) -> None:
    assert names(det, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Toyota Motor Corporation announced",
        "Tokyo Station at Monday",
        "Best Regards",
        "Sales Report April",
        "Kyoto University Hospital",
    ],
)
def test_latin_non_names(det: Detector, text: str) -> None:
    assert names(det, text) == []
