from onshore.protect.checksums import (
    corporate_number_valid,
    insurer_number_valid,
    luhn_valid,
    my_number_check_digit,
    my_number_valid,
)


def test_my_number_known_example() -> None:
    assert my_number_check_digit("12345678901") == 8
    assert my_number_valid("123456789018")
    assert not my_number_valid("123456789012")


def test_my_number_rejects_wrong_shapes() -> None:
    assert not my_number_valid("12345678901")
    assert not my_number_valid("1234567890180")
    assert not my_number_valid("１２３４５６７８９０１８")  # full-width is normalised by the caller


def test_corporate_number_check_digit_first() -> None:
    assert corporate_number_valid("7000012050002")  # National Tax Agency
    assert not corporate_number_valid("8000012050002")
    assert not corporate_number_valid("700001205000")


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("")


def test_insurer_number_lengths() -> None:
    assert insurer_number_valid("06139992")
    assert not insurer_number_valid("06139995")
    assert insurer_number_valid("138222")
    assert not insurer_number_valid("1382220")
