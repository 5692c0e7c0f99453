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
