"""Check-digit algorithms for Japanese identifiers and payment cards.

All functions take a string of ASCII digits (already stripped of separators)
and return False for anything of the wrong length or with non-digits.
"""

from __future__ import annotations

__all__ = [
    "corporate_number_valid",
    "insurer_number_valid",
    "luhn_valid",
    "my_number_check_digit",
    "my_number_valid",
]


def _digits(value: str, length: int) -> list[int] | None:
    if len(value) != length or not value.isascii() or not value.isdigit():
        return None
    return [ord(c) - 48 for c in value]


def my_number_check_digit(first11: str) -> int:
    """Check digit of an individual number (個人番号), per the official rule.

    With P_n the n-th digit counted from the right of the first 11 digits,
    weights are Q_n = n + 1 for n <= 6 and n - 5 above; the check digit is
    11 - (sum % 11), or 0 when the remainder is 0 or 1.
    """
    digits = _digits(first11, 11)
    if digits is None:
        raise ValueError("need exactly 11 digits")
    total = 0
    for n, p in enumerate(reversed(digits), start=1):
        total += p * (n + 1 if n <= 6 else n - 5)
    rem = total % 11
    return 0 if rem <= 1 else 11 - rem


def my_number_valid(value: str) -> bool:
    digits = _digits(value, 12)
    if digits is None:
        return False
    return my_number_check_digit(value[:11]) == digits[11]


def corporate_number_valid(value: str) -> bool:
    """法人番号: check digit FIRST; weights 1,2,1,2... from the right, mod 9."""
    digits = _digits(value, 13)
    if digits is None:
        return False
    total = 0
    for n, p in enumerate(reversed(digits[1:]), start=1):
        total += p * (1 if n % 2 else 2)
    return digits[0] == 9 - (total % 9)


def luhn_valid(value: str) -> bool:
    """Luhn (mod 10) over the whole string; the check digit is last."""
    if not value or not value.isascii() or not value.isdigit():
        return False
    total = 0
    for i, c in enumerate(reversed(value)):
        d = ord(c) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def insurer_number_valid(value: str) -> bool:
    """保険者番号 (8 digits) or 国保 (6 digits).

    The verification digit weighs the preceding digits 2,1,2,... from the
    left, adds the digit sums of the products and takes 10 - (sum % 10);
    for both lengths that is exactly Luhn over the full number.
    """
    if len(value) not in (6, 8):
        return False
    return luhn_valid(value)
