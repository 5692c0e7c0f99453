"""Placeholder syntax: ``[[TYPE_N]]``, plus the tolerant form models produce.

Why ``[[PHONE_1]]``: plain ASCII survives every JSON encoder unescaped (``<``
becomes ``\\u003c`` in some, non-ASCII brackets become ``\\uXXXX`` with
ensure_ascii), it is not HTML that a renderer might swallow, upper-case
identifiers with digits are tokenised into few, stable pieces, and the
full-width variant a model may emit (``［［ＰＨＯＮＥ＿１］］``) folds back
under NFKC.

The tolerant regex also accepts 1-2 brackets of several shapes, spaces and
lower case; ``canonical`` maps such a match back to the exact form, and only
an exact vault hit is ever restored.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["EXACT", "MAX_PARTIAL", "OPEN_CHARS", "PARTIAL", "TOLERANT", "canonical", "make"]

_O = "[\\[［【〚⟦]"
_C = "[\\]］】〛⟧]"
_S = "[ \u3000]"
_L = "[A-Za-zＡ-Ｚａ-ｚ]"
_I = "[A-Za-zＡ-Ｚａ-ｚ_＿ \u3000]"
_U = "[_＿]"
_D = "[0-9０-９]"

EXACT = re.compile(r"\[\[([A-Z][A-Z_]*)_([0-9]+)\]\]")
TOLERANT = re.compile(f"{_O}{{1,2}}{_S}{{0,3}}{_L}{_I}{{0,39}}{_U}{_S}{{0,3}}{_D}{{1,6}}{_S}{{0,3}}{_C}{{1,2}}")
# Every proper prefix of a TOLERANT match that could still grow into one.
# A match already closed by two brackets cannot grow, so it is excluded.
PARTIAL = re.compile(
    f"{_O}{{1,2}}(?:{_S}{{0,3}}(?:{_L}(?:{_I}{{0,39}}(?:{_U}{_S}{{0,3}}(?:{_D}{{1,6}}(?:{_S}{{0,3}}{_C}?)?)?)?)?)?)?"
)
MAX_PARTIAL = 2 + 3 + 1 + 39 + 1 + 3 + 6 + 3 + 1
OPEN_CHARS = re.compile(_O)
_STRIP = re.compile(f"^{_O}+|{_C}+$|{_S}")


def make(type_: str, n: int) -> str:
    return f"[[{type_.upper()}_{n}]]"


def canonical(mangled: str) -> str:
    """``［［ phone _１ ］］`` -> ``[[PHONE_1]]``."""
    inner = _STRIP.sub("", mangled)
    return "[[" + unicodedata.normalize("NFKC", inner).upper() + "]]"
