"""Japanese person names via SudachiPy (sudachidict_core ships in the wheel).

Loaded once at start-up (``SudachiNameLayer.load``); ``find`` is cheap to call
but the analyser itself is ~10x slower than the pattern layer. Honorifics and
job titles stay outside the span; they only raise the score.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = ["SudachiNameLayer"]

_HONORIFICS = frozenset({"様", "さま", "さん", "氏", "殿", "君", "くん", "ちゃん", "先生"})
_TITLES = frozenset({"部長", "課長", "係長", "社長", "専務", "常務", "主任", "室長", "所長", "院長", "医師", "看護師"})
_SPACES = frozenset({" ", "\u3000"})
# Sudachi rejects inputs over ~49 KB; cut at line/sentence ends well below.
_CHUNK = 4000
_CUT = re.compile(r"[\n。！？!?]")

_SURNAME, _GIVEN, _PERSON = 1, 2, 3


class SudachiNameLayer:
    def __init__(self, tokenizer: Any, dictionary: Any) -> None:
        self._tok = tokenizer
        self._dict = dictionary
        self._kind: dict[int, int] = {}

    @classmethod
    def load(cls) -> SudachiNameLayer:
        # sudachipy ships no type information; the layer uses it via Any.
        from sudachipy import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
            Dictionary,
            SplitMode,
        )

        dictionary = Dictionary(dict="core")
        return cls(dictionary.tokenizer(mode=SplitMode.C), dictionary)

    def _kind_of(self, pos_id: int) -> int:
        kind = self._kind.get(pos_id)
        if kind is None:
            pos = self._dict.pos_of(pos_id)
            kind = 0
            if pos[0] == "名詞" and pos[1] == "固有名詞" and pos[2] == "人名":
                kind = {"姓": _SURNAME, "名": _GIVEN}.get(pos[3], _PERSON)
            self._kind[pos_id] = kind
        return kind

    def _is_noun_like(self, pos_id: int) -> bool:
        pos = self._dict.pos_of(pos_id)
        return pos[0] in ("名詞", "接尾辞") or (pos[0] == "補助記号" and pos[1] == "一般")

    def find(self, text: str) -> list[tuple[int, int, float]]:
        out: list[tuple[int, int, float]] = []
        for base, chunk in _chunks(text):
            out.extend((s + base, e + base, sc) for s, e, sc in self._find_chunk(chunk))
        return out

    def _find_chunk(self, text: str) -> Iterator[tuple[int, int, float]]:
        morphs = self._tok.tokenize(text)
        n = len(morphs)
        i = 0
        while i < n:
            m = morphs[i]
            kind = self._kind_of(m.part_of_speech_id())
            if kind == 0 or m.surface().isascii():
                i += 1
                continue
            kinds = [kind]
            j = i + 1
            # Join 姓 + 名 (optionally with one space between them).
            while j < n:
                k = self._kind_of(morphs[j].part_of_speech_id())
                if k != 0 and not morphs[j].surface().isascii():
                    kinds.append(k)
                    j += 1
                elif (
                    morphs[j].surface() in _SPACES
                    and j + 1 < n
                    and self._kind_of(morphs[j + 1].part_of_speech_id()) in (_GIVEN, _PERSON)
                    and kinds[-1] == _SURNAME
                ):
                    j += 1
                else:
                    break
            if (
                kinds == [_SURNAME]
                and j + 2 < n
                and morphs[j].surface() in _SPACES
                and self._is_noun_like(morphs[j + 1].part_of_speech_id())
                and morphs[j + 2].surface() in _HONORIFICS
            ):
                # "遠藤 さくら様": a given name the dictionary does not know.
                kinds.append(_GIVEN)
                j += 2
            start, end = m.begin(), morphs[j - 1].end()
            nxt = morphs[j].surface() if j < n else ""
            score = _score(kinds, nxt in _HONORIFICS, nxt in _TITLES)
            if score < 0.8 and j < n and self._is_noun_like(morphs[j].part_of_speech_id()):
                # "梅田支店", "松本駅": a surname-like word inside a compound.
                score = 0.3
            yield (start, end, score)
            i = j


def _score(kinds: list[int], honorific: bool, title: bool) -> float:
    full = _SURNAME in kinds and (_GIVEN in kinds or len(kinds) > 1)
    if full:
        return 0.9
    if honorific:
        return 0.85
    if title:
        return 0.8
    if kinds == [_SURNAME]:
        return 0.55
    return 0.4


def _chunks(text: str) -> Iterator[tuple[int, str]]:
    start = 0
    n = len(text)
    while n - start > _CHUNK:
        # Cut after the last sentence end inside the window, else hard-cut.
        window_end = start + _CHUNK
        cut = -1
        for m in _CUT.finditer(text, start + _CHUNK // 2, window_end):
            cut = m.end()
        if cut <= start:
            cut = window_end
        yield start, text[start:cut]
        start = cut
    if start < n:
        yield start, text[start:]
