"""NFKC normalisation with an offset map back to the original text.

Patterns run on the normalised text (full-width digits become ASCII, etc.),
but findings must point into the text the caller gave us. The map is sparse:
only pieces whose length changed under NFKC are recorded, so the common case
(already-normalised text) costs one C-level check and nothing else.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["NormalisedText", "normalise", "value_key"]


def _build_tables() -> tuple[re.Pattern[str], dict[int, str]]:
    # Characters that NFKC changes on their own, or that may fuse with the
    # previous character (combining marks, half-width voicing marks).
    ranges: list[tuple[int, int]] = []
    one_to_one: dict[int, str] = {}
    start = -1
    for cp in range(0x80, 0x30000):
        if 0xD800 <= cp <= 0xDFFF:
            unstable = False
        else:
            ch = chr(cp)
            nf = unicodedata.normalize("NFKC", ch)
            if nf != ch and len(nf) == 1 and unicodedata.combining(nf) == 0 and cp not in (0xFF9E, 0xFF9F):
                one_to_one[cp] = nf
            unstable = (
                unicodedata.normalize("NFKC", ch) != ch
                or unicodedata.combining(ch) != 0
                or 0x1160 <= cp <= 0x11FF  # Hangul vowel/trailing jamo compose
                or cp in (0x3099, 0x309A, 0xFF9E, 0xFF9F)
            )
        if unstable and start < 0:
            start = cp
        elif not unstable and start >= 0:
            ranges.append((start, cp - 1))
            start = -1
    if start >= 0:
        ranges.append((start, 0x2FFFF))
    body = "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)
    return re.compile(f"[{body}]+"), one_to_one


# _ONE_TO_ONE: characters NFKC maps to exactly one stable character (full-width
# digits and punctuation, the ideographic space): translated without pieces.
_UNSTABLE_RUN, _ONE_TO_ONE = _build_tables()


def _joins_previous(ch: str) -> bool:
    cp = ord(ch)
    return unicodedata.combining(ch) != 0 or cp in (0x3099, 0x309A, 0xFF9E, 0xFF9F) or 0x1160 <= cp <= 0x11FF


@lru_cache(maxsize=4096)
def _nfkc(piece: str) -> str:
    return unicodedata.normalize("NFKC", piece)


@dataclass(frozen=True, slots=True)
class NormalisedText:
    """Normalised text plus the pieces whose length changed.

    ``pieces`` holds ``(norm_start, norm_end, orig_start, orig_end)`` tuples in
    order; outside them, norm and original offsets differ by a constant.
    """

    original: str
    text: str
    pieces: tuple[tuple[int, int, int, int], ...]
    _norm_starts: tuple[int, ...]

    def start_to_original(self, pos: int) -> int:
        if not self.pieces:
            return pos
        i = bisect_right(self._norm_starts, pos) - 1
        if i < 0:
            return pos
        _, ne, os_, oe = self.pieces[i]
        if pos < ne:
            return os_
        return oe + (pos - ne)

    def end_to_original(self, pos: int) -> int:
        if not self.pieces:
            return pos
        # Last piece starting strictly before pos: an end inside it widens to
        # cover the whole original piece, so spans never cut a character.
        i = bisect_right(self._norm_starts, pos - 1) - 1
        if i < 0:
            return pos
        _, ne, _, oe = self.pieces[i]
        if pos <= ne:
            return oe
        return oe + (pos - ne)

    def span_to_original(self, start: int, end: int) -> tuple[int, int]:
        return self.start_to_original(start), self.end_to_original(end)


def normalise(text: str) -> NormalisedText:
    """NFKC-normalise ``text`` and remember where each piece came from."""
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return NormalisedText(text, text, (), ())
    out: list[str] = []
    pieces: list[tuple[int, int, int, int]] = []
    norm_len = 0
    last = 0
    for m in _UNSTABLE_RUN.finditer(text):
        s, e = m.span()
        # A leading combining mark belongs with the character before it.
        if _joins_previous(text[s]) and s > last:
            s -= 1
        if s > last:
            out.append(text[last:s])
            norm_len += s - last
        run = text[s:e].translate(_ONE_TO_ONE)
        if _UNSTABLE_RUN.search(run) is None and not (e < len(text) and _joins_previous(text[e])):
            out.append(run)
            norm_len += e - s
            last = e
            continue
        # Group each starter with its trailing marks and normalise per group,
        # so one-to-one pieces (full-width digits) keep exact offsets.
        i = s
        while i < e:
            j = i + 1
            while j < e and _joins_previous(text[j]):
                j += 1
            group = text[i:j]
            normed = _nfkc(group)
            out.append(normed)
            if len(normed) != len(group):
                pieces.append((norm_len, norm_len + len(normed), i, j))
            norm_len += len(normed)
            i = j
        last = e
    out.append(text[last:])
    return NormalisedText(text, "".join(out), tuple(pieces), tuple(p[0] for p in pieces))


_KEY_DROP = re.compile(r"[\s\-‐‑‒–—―−ー─━()\[\].・/]+")


def value_key(value: str) -> str:
    """Comparison key for "the same value": width, case, spaces, dashes."""
    return _KEY_DROP.sub("", _nfkc(value).casefold())
