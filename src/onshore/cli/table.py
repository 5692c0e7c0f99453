"""Plain-text tables that fit a terminal: columns as wide as their contents, and the columns that
would run past the width wrapped onto continuation lines under themselves."""

from __future__ import annotations

import textwrap
import unicodedata
from collections.abc import Sequence

WIDTH = 100
GAP = "  "


def cell_width(text: str) -> int:
    """Columns `text` takes in a terminal: East Asian wide characters (tenant names in Japanese) take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - cell_width(text))


def _wrap(text: str, width: int) -> list[str]:
    if cell_width(text) <= width:
        return [text]
    # break_long_words: a long backend list has no spaces to break at inside one name.
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def render(rows: Sequence[Sequence[str]], width: int = WIDTH, wrap: Sequence[int] = ()) -> list[str]:
    """Lines for `rows` (the first is the header), none wider than `width` where that is possible.

    Columns in `wrap` (default: the last) give up width, widest first, until the row fits; their
    text continues on the next lines, in the same column.
    """
    if not rows:
        return []
    count = len(rows[0])
    widths = [max(cell_width(r[i]) for r in rows) for i in range(count)]
    wrappable = list(wrap) or [count - 1]
    floor = 12  # a wrapped column keeps at least this many columns
    while sum(widths) + len(GAP) * (count - 1) > width:
        candidates = [i for i in wrappable if widths[i] > floor]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        excess = sum(widths) + len(GAP) * (count - 1) - width
        widths[widest] = max(floor, widths[widest] - excess)
    lines = []
    for row in rows:
        cells = [_wrap(cell, widths[i]) if i in wrappable else [cell] for i, cell in enumerate(row)]
        for n in range(max(len(c) for c in cells)):
            parts = [_pad(c[n] if n < len(c) else "", widths[i]) for i, c in enumerate(cells)]
            lines.append(GAP.join(parts).rstrip())
    return lines
