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
_DIMINUTIVES = frozenset({"ちゃん", "くん", "君"})
_TITLES = frozenset({"部長", "課長", "係長", "社長", "専務", "常務", "主任", "室長", "所長", "院長", "医師", "看護師"})
_SPACES = frozenset({" ", "\u3000"})
_COLONS = frozenset({":", "：", "﹕"})
_NAME_SEPS = frozenset({"・", "･", "=", "＝", "゠"})
# Labels whose value is a person: "氏名：高橋 美咲", "担当の森が…".
_LABELS = frozenset(
    {
        "氏名",
        "名前",
        "お名前",
        "担当",
        "担当者",
        "患者",
        "患者名",
        "申込者",
        "契約者",
        "名義",
        "名義人",
        "宛名",
        "差出人",
        "送信者",
        "受取人",
        "依頼者",
        "代表者",
        "責任者",
        "連絡者",
        "記入者",
        "作成者",
        "申請者",
        "保護者",
        "本人",
        "利用者",
        "送り主",
        "受付者",
        "From",
        "Name",
    }
)
_FAMILY = frozenset(
    {
        "娘",
        "息子",
        "長男",
        "長女",
        "次男",
        "次女",
        "三男",
        "三女",
        "妻",
        "夫",
        "主人",
        "子供",
        "子ども",
        "孫",
        "弟",
        "妹",
        "兄",
        "姉",
        "母",
        "父",
        "家内",
        "嫁",
        "婿",
        "甥",
        "姪",
    }
)
_ORG_ENDS = (
    "会社",
    "商事",
    "社",
    "店",
    "部",
    "課",
    "室",
    "所",
    "センター",
    "銀行",
    "病院",
    "事務所",
    "工業",
    "産業",
    "グループ",
    "チーム",
    "係",
    "窓口",
    "デスク",
    "協会",
    "組合",
    "大学",
    "学校",
)
# Common nouns that follow the same cues but are not names.
_NOT_NAMES = frozenset(
    {
        "者",
        "方",
        "人",
        "皆",
        "様",
        "私",
        "僕",
        "俺",
        "自分",
        "本人",
        "当方",
        "弊社",
        "当社",
        "御社",
        "貴社",
        "先方",
        "会社",
        "部署",
        "窓口",
        "営業",
        "事務",
        "受付",
        "総務",
        "経理",
        "人事",
        "係",
        "医師",
        "先生",
        "社員",
        "職員",
        "方々",
        "方針",
        "件",
        "分",
        "別",
        "外",
        "内",
        "中",
        "上",
        "下",
        "前",
        "後",
        "欄",
        "名",
        "氏名",
        "記入",
        "不要",
        "未定",
        "なし",
        "無し",
        "不明",
        "空欄",
        "省略",
        "同上",
        "以下",
        "上記",
        "下記",
        "各位",
        "者様",
        "子",
        "赤",
        "友達",
        "友人",
        "彼",
        "彼女",
        "相手",
        "全員",
        "一同",
        "代理",
        "代表",
        "課長",
        "部長",
        "社長",
    }
)
_KATAKANA = re.compile(r"[ァ-ヺーヽヾ]+")
_KANJI_KANA = re.compile(r"[一-龥々〆ヶぁ-ゖァ-ヺー]{1,4}")
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

    def _is_compound_part(self, pos_id: int, surface: str) -> bool:
        """A noun or suffix glued to the name: "梅田支店", "松本駅" (not ":" or "・")."""
        pos = self._dict.pos_of(pos_id)
        return pos[0] in ("名詞", "接尾辞") and surface not in _HONORIFICS and surface not in _TITLES

    def _is_name_like(self, pos_id: int, surface: str) -> bool:
        """A word that can be a name when a cue says so ("森", "さくら")."""
        if surface in _NOT_NAMES or _KANJI_KANA.fullmatch(surface) is None or surface.endswith(_ORG_ENDS):
            return False
        pos = self._dict.pos_of(pos_id)
        return pos[0] == "名詞" and pos[1] in ("普通名詞", "固有名詞") and pos[2] in ("一般", "人名")

    def find(self, text: str) -> list[tuple[int, int, float]]:
        out: list[tuple[int, int, float]] = []
        for base, chunk in _chunks(text):
            out.extend((s + base, e + base, sc) for s, e, sc in self._find_chunk(chunk))
        return out

    def _find_chunk(self, text: str) -> Iterator[tuple[int, int, float]]:
        morphs = self._tok.tokenize(text)
        n = len(morphs)
        surf: list[str] = [m.surface() for m in morphs]
        pids: list[int] = [m.part_of_speech_id() for m in morphs]
        kind = [0 if surf[k].isascii() else self._kind_of(pids[k]) for k in range(n)]

        def prev(k: int) -> int:
            k -= 1
            while k >= 0 and surf[k] in _SPACES:
                k -= 1
            return k

        def cue_before(k: int) -> bool:
            """Label + colon, 担当の/は, family word + の, or a line-start speaker."""
            p = prev(k)
            if p < 0:
                return False
            if surf[p] in _COLONS:
                q = prev(p)
                return q >= 0 and (surf[q] in _LABELS or (surf[q] == "名前"))
            if surf[p] in ("の", "は", "が"):
                q = prev(p)
                return q >= 0 and (surf[q] in ("担当", "担当者") or (surf[p] == "の" and surf[q] in _FAMILY))
            return False

        def speaker(k: int, j: int) -> bool:
            """ "佐藤: ..." at the start of a line (chat transcripts)."""
            p = k - 1
            while p >= 0 and surf[p] in _SPACES:
                p -= 1
            if p >= 0 and "\n" not in surf[p]:
                return False
            q = j
            while q < n and surf[q] in _SPACES:
                q += 1
            return q < n and surf[q] in _COLONS

        def cue_after(k: int, j: int) -> bool:
            """ "… と申します", "株式会社Xの小川でございます"."""
            if j + 1 < n and surf[j] == "と" and surf[j + 1].startswith("申"):
                return True
            if j + 1 < n and surf[j] == "で" and surf[j + 1] == "ござい":
                p = prev(k)
                q = prev(p) if p >= 0 else -1
                if p < 0 or surf[p] != "の" or q < 0:
                    return False
                return surf[q].endswith(_ORG_ENDS) or any("会社" in surf[x] for x in range(max(0, q - 3), q))
            return False

        def ends_word(j: int) -> bool:
            return j >= n or not self._is_compound_part(pids[j], surf[j])

        i = 0
        while i < n:
            k = kind[i]
            if k == 0:
                # Not tagged a name: only with a strong cue ("担当の森が", "さくらちゃん").
                if self._is_name_like(pids[i], surf[i]):
                    j = i + 1
                    nxt = surf[j] if j < n else ""
                    dim = nxt in _DIMINUTIVES and not (i > 0 and surf[i - 1] in ("お", "ご"))
                    if ends_word(j) and (dim or cue_before(i) or cue_after(i, j)):
                        yield (morphs[i].begin(), morphs[j - 1].end(), 0.8)
                        i = j
                        continue
                    if _KATAKANA.fullmatch(surf[i]) is None:
                        i += 1
                        continue
                else:
                    i += 1
                    continue
            if _KATAKANA.fullmatch(surf[i]) is not None:
                j, parts, persons = self._katakana_run(surf, kind, i)
                if persons or (parts > 1 and j < n and surf[j] in _HONORIFICS):
                    nxt = surf[j] if j < n else ""
                    if nxt in _HONORIFICS or (parts > 1 and persons) or cue_before(i) or speaker(i, j):
                        score = 0.85
                    elif kind[i] == _PERSON and parts == 1:
                        score = 0.6  # "マイケルから連絡"
                    else:
                        score = _score([kind[x] for x in range(i, j) if kind[x]], False, nxt in _TITLES)
                    if score < 0.8 and not ends_word(j):
                        score = 0.3
                    yield (morphs[i].begin(), morphs[j - 1].end(), score)
                    i = j
                    continue
                if k == 0:
                    i += 1
                    continue
            kinds = [k]
            j = i + 1
            # Join 姓 + 名 (optionally with one space between them).
            while j < n:
                kj = kind[j]
                if kj != 0:
                    kinds.append(kj)
                    j += 1
                elif surf[j] in _SPACES and j + 1 < n and kind[j + 1] in (_GIVEN, _PERSON) and kinds[-1] == _SURNAME:
                    j += 1
                else:
                    break
            labelled = cue_before(i) or speaker(i, j)
            if (
                kinds == [_SURNAME]
                and j + 1 < n
                and surf[j] in _SPACES
                and self._is_noun_like(pids[j + 1])
                and surf[j + 1] not in _COLONS
                and (labelled or (j + 2 < n and surf[j + 2] in _HONORIFICS))
                and _KANJI_KANA.fullmatch(surf[j + 1]) is not None
            ):
                # "遠藤 さくら様", "氏名：高橋 美咲": a given name the dictionary does not know.
                kinds.append(_GIVEN)
                j += 2
            start, end = morphs[i].begin(), morphs[j - 1].end()
            nxt = surf[j] if j < n else ""
            score = _score(kinds, nxt in _HONORIFICS, nxt in _TITLES)
            if labelled or cue_after(i, j):
                score = max(score, 0.85)
            if score < 0.8 and not ends_word(j):
                # "梅田支店", "松本駅": a surname-like word inside a compound.
                score = 0.3
            yield (start, end, score)
            i = j

    def _katakana_run(self, surf: list[str], kind: list[int], i: int) -> tuple[int, int, bool]:
        """Katakana words joined by ・/＝ (or a space before another name word):
        "ジョン・スミス", "キム・ミンジュン". Returns (end index, parts, any tagged 人名)."""
        n = len(surf)
        j = i + 1
        parts = 1
        persons = kind[i] != 0
        while j + 1 < n and _KATAKANA.fullmatch(surf[j + 1]) is not None:
            sep = surf[j]
            if sep in _NAME_SEPS or (sep in _SPACES and kind[j + 1] != 0 and persons):
                parts += 1
                persons = persons or kind[j + 1] != 0
                j += 2
            else:
                break
        while j < n and kind[j] != 0 and _KATAKANA.fullmatch(surf[j]) is not None:
            parts += 1  # "ヤマダタロウ": two name words without a separator
            j += 1
        return j, parts, persons


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
