"""Classify one run of digit groups (a NUMBER_TOKEN piece) by shape.

Pure function of the token plus a context oracle, so it is easy to test. The
detector calls it once per candidate; candidates are rare in prose, so the
Python-level work here does not dominate throughput.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from onshore.protect.checksums import (
    corporate_number_valid,
    insurer_number_valid,
    luhn_valid,
    my_number_valid,
)

__all__ = ["classify_number"]

_GROUPS = re.compile(r"[0-9]+")
_CARD_GROUPS = {(4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3), (6, 13), (4, 4, 4, 1), (4, 4, 5), (4, 3, 3, 3)}
_MOBILE = ("070", "080", "090", "050")

Context = Callable[[str], bool]


def _phone_score(digits: str, groups: tuple[int, ...], intl: bool, ctx: Context) -> float:
    if intl:
        if not digits.startswith("81"):
            return 0.0
        digits = "0" + digits[2:].removeprefix("0")
    if not digits.startswith("0") or digits.startswith("00"):
        return 0.0
    n = len(digits)
    if n == 11:
        if not (digits.startswith(_MOBILE) or digits.startswith("0800")):
            return 0.0
    elif n != 10 or digits.startswith(_MOBILE):
        return 0.0
    if intl:
        score = 0.9
    elif len(groups) == 1:
        score = 0.6 if digits.startswith(_MOBILE) else 0.5
    elif len(groups) in (2, 3):
        # Area code 2-5 digits, subscriber groups of 2-4: a phone's shape.
        if groups[0] > 5 or any(g > 4 for g in groups[1:]):
            return 0.0
        score = 0.85
    else:
        return 0.0
    return min(1.0, score + (0.15 if ctx("phone") else 0.0))


def _card_prefix(digits: str, grouped_or_context: bool) -> bool:
    """Issuer prefix and length: Visa 4 (13/16/19), Mastercard 51-55 and
    2221-2720, Amex/Diners/JCB 3, Discover/UnionPay 6 (UnionPay up to 19).
    A bare 13-digit run (JAN codes!) needs grouping or card context."""
    n = len(digits)
    first = digits[0]
    if n == 13:
        return first == "4" and grouped_or_context
    if not 14 <= n <= 19:
        return False
    if first == "2":
        return n == 16 and 2221 <= int(digits[:4]) <= 2720
    return first in "3456"


def classify_number(fmt: str, preceded_by_postal_mark: bool, ctx: Context) -> tuple[str, float] | None:
    """Best (type, score) for a digit token, or None.

    ``fmt`` is the token as written (normalised); ``ctx(type)`` says whether
    that type's context words are near the token.
    """
    intl = fmt.startswith("+")
    groups = tuple(len(g) for g in _GROUPS.findall(fmt))
    digits = "".join(_GROUPS.findall(fmt))
    n = len(digits)
    has_space = " " in fmt
    best: tuple[str, float] | None = None

    def offer(type_: str, score: float) -> None:
        nonlocal best
        if score > 0 and (best is None or score > best[1]):
            best = (type_, score)

    if intl:
        offer("phone", _phone_score(digits, groups, True, ctx))
        return best

    if n == 12 and groups in ((12,), (4, 4, 4)):
        licence, mine = ctx("drivers_licence"), ctx("my_number")
        if licence and not mine:
            offer("drivers_licence", 0.9)
        elif my_number_valid(digits):
            offer("my_number", 0.95 if mine else 0.85)
    if n == 13 and groups in ((13,), (1, 4, 4, 4)) and corporate_number_valid(digits):
        offer("corporate_number", 0.95 if ctx("corporate_number") else 0.8)
    card_shape = groups == (n,) or groups in _CARD_GROUPS
    if card_shape and _card_prefix(digits, len(groups) > 1 or ctx("credit_card")) and luhn_valid(digits):
        offer("credit_card", 0.95 if ctx("credit_card") else 0.85)
    if n in (6, 8) and len(groups) == 1 and ctx("health_insurer_number") and insurer_number_valid(digits):
        offer("health_insurer_number", 0.9)
    if (groups == (4, 6) or groups == (10,)) and ctx("pension_number"):
        offer("pension_number", 0.9)
    if groups == (7,) and ctx("bank_account"):
        offer("bank_account", 0.85)
    if groups == (5, 8) and digits[0] == "1" and ctx("bank_account"):
        offer("bank_account", 0.9)  # ゆうちょ 記号-番号
    if groups == (4, 3, 7):
        offer("bank_account", 0.9 if ctx("bank_account") else 0.75)  # bank-branch-account
    if not has_space and groups == (3, 4) and "(" not in fmt:
        # Without 〒, postal words or an address next to it, 123-4567 is any code.
        offer("postal_code", 0.95 if preceded_by_postal_mark or ctx("postal_code") else 0.45)
    elif not has_space and groups == (7,) and preceded_by_postal_mark:
        offer("postal_code", 0.9)
    if 10 <= n <= 11:
        offer("phone", _phone_score(digits, groups, False, ctx))
    return best
