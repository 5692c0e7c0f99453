"""Detector: pattern layer over NFKC text, optional name layer, resolution.

Pure: configuration comes in, findings come out; no I/O, clock or env.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from onshore.protect import patterns as P
from onshore.protect.findings import Finding
from onshore.protect.latin_names import find_latin_names
from onshore.protect.normalise import NormalisedText, normalise, value_key
from onshore.protect.numbers import classify_number
from onshore.protect.resolve import resolve_overlaps

__all__ = ["Detector", "DetectorConfig", "NameLayer"]

_BEFORE = 24  # context window (chars of normalised text) before a candidate
_AFTER = 10
_PHONE_PREFIX_WORDS = frozenset({"tel", "fax", "no", "phone", "mobile", "ph", "t", "f", "m"})
_DASHES = frozenset(P.DASH.replace("\\", "")) | {"_", "#", "/"}

# One raw candidate in NORMALISED coordinates: (type, start, end, score).
_Cand = tuple[str, int, int, float]


class NameLayer(Protocol):
    """Finds person names; spans index the text it was given."""

    def find(self, text: str) -> list[tuple[int, int, float]]: ...


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    allow_list: frozenset[str] = field(default_factory=frozenset)
    enable_names: bool = True
    min_score: float = 0.5


def _has_context(text: str, start: int, end: int, type_: str) -> bool:
    """Context words near the span, on the same line (labels in forms and
    lists belong to their own line, not to the value on the next one)."""
    pat = P.CONTEXT.get(type_)
    if pat is None:
        return False
    return _near(text, start, end, pat, type_ == "date_of_birth")


# A sentence end: "。", "!", "?", or "." after a lower-case word ("Tokyo. ",
# not "D.O.B. " or "1990.1.2").
_SENTENCE_END = re.compile(r"[。!?]|(?<=[a-z])\.(?=\s)")


def _near(text: str, start: int, end: int, pat: re.Pattern[str], sentence: bool = False) -> bool:
    """``pat`` within the context window, same line (and same sentence)."""
    lo = max(0, start - _BEFORE, text.rfind("\n", 0, start) + 1)
    hi = text.find("\n", end, end + _AFTER)
    if hi < 0:
        hi = min(len(text), end + _AFTER)
    if sentence:
        for m in _SENTENCE_END.finditer(text, lo, start):
            lo = m.end()
        m2 = _SENTENCE_END.search(text, end, hi)
        if m2 is not None:
            hi = m2.start()
    return pat.search(text, lo, start) is not None or pat.search(text, end, hi) is not None


def _is_code_fragment(n: str, s: int, e: int) -> bool:
    """True when the digits are part of an order number, code or decimal."""
    if s > 0:
        c = n[s - 1]
        if c.isascii() and c.isalpha():
            i = s - 1
            while i > 0 and n[i - 1].isascii() and n[i - 1].isalpha():
                i -= 1
            # "TEL0312345678" is a phone; "…-1f0763762960" (a UUID, a hash) is not: a prefix word
            # counts only where the letters start the token.
            if n[i:s].lower() not in _PHONE_PREFIX_WORDS or (i > 0 and n[i - 1].isascii() and n[i - 1].isalnum()):
                return True
        elif (c in _DASHES and s > 1 and n[s - 2].isascii() and n[s - 2].isalnum()) or (
            c == "." and s > 1 and n[s - 2].isdigit()
        ):
            return True
    if e < len(n):
        c = n[e]
        if c.isascii() and c.isalpha():
            return True
        if c in _DASHES and e + 1 < len(n) and n[e + 1].isascii() and n[e + 1].isalnum():
            return True
        if c == "." and e + 1 < len(n) and n[e + 1].isdigit():
            return True
    return False


_SPACE_PIECES = re.compile(rf"[^ ]+(?: [{P.DASH}] [^ ]+)*")
_HAS_UPPER = re.compile(r"[A-Z][a-z]*[ .]")


def _preceded_by(n: str, s: int, chars: str) -> bool:
    return s > 0 and n[s - 1] in chars


_DIGITS = "0123456789"
_ALNUM = _DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _windows(n: str, anchors: re.Pattern[str], before: int, after: int, line_only: bool) -> Iterator[tuple[int, int]]:
    """Merged search windows around anchor matches (optionally one line)."""
    lo_prev, hi_prev = -1, -1
    for m in anchors.finditer(n):
        lo, hi = max(0, m.start() - before), min(len(n), m.end() + after)
        if line_only:
            lo = max(lo, n.rfind("\n", 0, m.start()) + 1)
            eol = n.find("\n", m.end())
            hi = len(n) if eol < 0 else eol
        if lo <= hi_prev:
            hi_prev = max(hi_prev, hi)
            continue
        if hi_prev >= 0:
            yield lo_prev, hi_prev
        lo_prev, hi_prev = lo, hi
    if hi_prev >= 0:
        yield lo_prev, hi_prev


def _number_candidates(n: str) -> Iterator[_Cand]:
    for m in P.NUMBER_TOKEN.finditer(n):
        s, e = m.span()
        if e - s < 6 or _preceded_by(n, s, _DIGITS) or _is_code_fragment(n, s, e):
            continue
        if n[s] == "(" and ")" not in n[s:e]:
            # "(931577208461)" / "(090-1234-5678)": the bracket is not part of the value.
            s += 1
            if e - s < 6:
                continue
        token = n[s:e]
        spans = [(s + p.start(), s + p.end()) for p in _SPACE_PIECES.finditer(token)]
        i = 0
        # Greedy: from each piece, the longest run of pieces that classifies.
        while i < len(spans):
            for j in range(min(len(spans), i + 5), i, -1):
                if j - i > 1 and _touches_plain_group(n, spans, i, j):
                    continue
                ps, pe = spans[i][0], spans[j - 1][1]
                hit = _classify(n, ps, pe)
                if hit is not None:
                    yield hit
                    i = j
                    break
            else:
                i += 1


def _touches_plain_group(n: str, spans: list[tuple[int, int]], i: int, j: int) -> bool:
    """A space-grouped value must not be cut out of a longer plain group run:
    "4111 1111 1111" inside "4111 1111 1111 1112" is not a My Number."""
    before = i > 0 and n[spans[i - 1][0] : spans[i - 1][1]].isdigit()
    after = j < len(spans) and n[spans[j][0] : spans[j][1]].isdigit()
    return before or after


def _classify(n: str, s: int, e: int) -> _Cand | None:
    cache: dict[str, bool] = {}

    def ctx(type_: str) -> bool:
        if type_ not in cache:
            cache[type_] = _has_context(n, s, e, type_)
        return cache[type_]

    postal_mark = "〒" in n[max(0, s - 2) : s]
    hit = classify_number(n[s:e], postal_mark or _address_follows(n, e) or _address_precedes(n, s), ctx)
    if hit is None:
        return None
    type_, score = hit
    if type_ in ("phone", "postal_code") and not ctx(type_) and _near(n, s, e, P.NOT_PHONE_CONTEXT):
        # "ご注文番号：0312457789", "部品番号 123-4567"
        return None
    return (type_, s, e, score)


def _address_follows(n: str, e: int) -> bool:
    """A postal code directly followed by an address ("100-0001 東京都…")."""
    return P.ADDRESS_START.match(n, e) is not None


def _address_precedes(n: str, s: int) -> bool:
    """A postal code after a romanised address ("…, Minato-ku, Tokyo 107-0062")."""
    return P.ROMAN_ADDRESS_END.search(n, max(0, s - 24), s) is not None


def _valid_date(m: re.Match[str]) -> bool:
    for mg, dg in (("m1", "d1"), ("m2", "d2"), ("m3", "d3"), ("m4", "d4")):
        month = m.group(mg)
        if month is not None:
            return 1 <= int(month) <= 12 and 1 <= int(m.group(dg)) <= 31
    return True


def _insured_candidates(n: str) -> Iterator[_Cand]:
    for m in P.INSURED.finditer(n):
        yield ("insurance_number", m.start("v"), m.end("v"), 0.95)
    if "記号" not in n:
        return
    for m in P.INSURED_PAIR.finditer(n):
        lo = max(0, m.start() - 40, n.rfind("\n", 0, m.start()) + 1)
        if P.BANK_CONTEXT.search(n, lo, m.end()) is not None:
            type_, score = "bank_account", 0.9  # ゆうちょ 記号・番号
        else:
            type_ = "insurance_number"
            score = 0.95 if P.INSURED_CONTEXT.search(n, lo, m.end()) is not None else 0.75
        for g in ("v", "s", "n"):
            if m.start(g) >= 0:
                yield (type_, m.start(g), m.end(g), score)


def _address_candidates(n: str) -> Iterator[_Cand]:
    """Addresses on lines with a block number (or a Kyoto street direction)."""
    seen: set[tuple[int, int]] = set()
    hints = [P.ADDRESS_HINT, P.KYOTO_HINT] if "通" in n else [P.ADDRESS_HINT]
    for hint in hints:
        for lo, hi in _windows(n, hint, 80, 0, True):
            for pat in (P.ADDRESS, P.ROMAN_ADDRESS):
                for m in pat.finditer(n, lo, hi):
                    if m.span() in seen:
                        continue
                    seen.add(m.span())
                    bonus = 0.1 if _has_context(n, m.start(), m.end(), "address") else 0.0
                    yield ("address", m.start(), m.end(), 0.85 + bonus)


def _pattern_candidates(n: str) -> Iterator[_Cand]:
    yield from _number_candidates(n)
    if "@" in n:
        for m in P.EMAIL.finditer(n):
            if _preceded_by(n, m.start(), _ALNUM + "._%+-") or P.SCALED_ASSET.match(n, n.index("@", m.start())):
                continue
            yield ("email", m.start(), m.end(), 0.95)
    if "." in n:
        for m in P.IPV4.finditer(n):
            if _preceded_by(n, m.start(), _DIGITS + "."):
                continue
            network = _has_context(n, m.start(), m.end(), "ip_address")
            if not network and _near(n, m.start(), m.end(), P.VERSION_CONTEXT):
                continue  # "firmware 2.10.4.1", "v1.2.3.4", "仕様書 3.2.1.4 節"
            bonus = 0.15 if network else 0.0
            yield ("ip_address", m.start(), m.end(), 0.8 + bonus)
    if "::" in n or n.count(":") >= 3:
        for m in P.IPV6_CANDIDATE.finditer(n):
            try:
                ipaddress.IPv6Address(m.group())
            except ValueError:
                continue
            if m.end() - m.start() >= 6:
                yield ("ip_address", m.start(), m.end(), 0.85)
    # Passports and birth dates are only reported with context, so search
    # near the context words instead of the whole text.
    for lo, hi in _windows(n, P.PASSPORT_ANCHOR, _AFTER, _BEFORE, False):
        for m in P.PASSPORT.finditer(n, lo, hi):
            if not _preceded_by(n, m.start(), _ALNUM) and _has_context(n, m.start(), m.end(), "passport"):
                yield ("passport", m.start(), m.end(), 0.9)
    for lo, hi in _windows(n, P.DOB_ANCHOR, _AFTER + 20, _BEFORE + 20, True):
        for m in P.DOB.finditer(n, lo, hi):
            if _valid_date(m) and _has_context(n, m.start(), m.end(), "date_of_birth"):
                yield ("date_of_birth", m.start(), m.end(), 0.9)
    yield from _address_candidates(n)
    if "記号" in n or "番号" in n:
        yield from _insured_candidates(n)
    if _HAS_UPPER.search(n) is not None:
        for pat in P.LATIN_NAME:
            for m in pat.finditer(n):
                g = m.lastgroup
                if g is not None:
                    yield ("person_name", m.start(g), m.end(g), 0.85)
        for s, e, score in find_latin_names(n):
            yield ("person_name", s, e, score)
    for m in P.HEALTH.finditer(n):
        yield ("health_info", m.start(), m.end(), 0.6)
    for m in P.SPECIAL_CARE.finditer(n):
        yield ("special_care_info", m.start(), m.end(), 0.6)


class Detector:
    """Build once with :meth:`from_config`; :meth:`scan` is thread-safe."""

    def __init__(self, config: DetectorConfig, names: NameLayer | None) -> None:
        self._config = config
        self._names = names
        self._allow = frozenset(value_key(v) for v in config.allow_list)

    @classmethod
    def from_config(
        cls,
        cfg: DetectorConfig,
        *,
        name_layer_factory: Callable[[], NameLayer] | None = None,
    ) -> Detector:
        """Load the name layer (once) when ``cfg.enable_names`` is set.

        The default factory loads the SudachiPy layer and raises ImportError
        if SudachiPy or its dictionary is not installed.
        """
        names: NameLayer | None = None
        if cfg.enable_names:
            if name_layer_factory is None:
                from onshore.protect.names import SudachiNameLayer

                name_layer_factory = SudachiNameLayer.load
            names = name_layer_factory()
        return cls(cfg, names)

    @property
    def config(self) -> DetectorConfig:
        return self._config

    def scan(self, text: str) -> list[Finding]:
        """Findings sorted by start, spans in ``text``, overlaps resolved."""
        norm = normalise(text)
        found = self._from_patterns(norm)
        # The analyser only finds names in Japanese script (Latin names are a pattern); skipping it
        # for ASCII-only text saves most of the per-request cost of English prompts.
        if self._names is not None and not text.isascii():
            for s, e, score in self._names.find(text):
                found.append(Finding("person_name", s, e, text[s:e], score))
        return self._finish(found)

    def scan_patterns(self, text: str) -> list[Finding]:
        """Pattern layer only (no names), e.g. for benchmarks or fallbacks."""
        return self._finish(self._from_patterns(normalise(text)))

    def _from_patterns(self, norm: NormalisedText) -> list[Finding]:
        out: list[Finding] = []
        original = norm.original
        for type_, s, e, score in _pattern_candidates(norm.text):
            os_, oe = norm.span_to_original(s, e)
            out.append(Finding(type_, os_, oe, original[os_:oe], min(1.0, score)))
        return out

    def _finish(self, found: list[Finding]) -> list[Finding]:
        keep = [f for f in found if f.score >= self._config.min_score]
        if self._allow:
            keep = [f for f in keep if value_key(f.text) not in self._allow]
        return resolve_overlaps(keep)
