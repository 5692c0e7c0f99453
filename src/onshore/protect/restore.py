"""Put originals back into model output, whole or streamed.

What counts as a placeholder in an answer, per form:

- exact ``[[PHONE_1]]``: restored;
- the tolerant bracketed forms (``[PHONE_1]``, ``[[phone_1]]``, ``[[PHONE_1]``, full-width…):
  restored when they name a value in this request's vault, else counted as unrestored;
- brackets on one side only (``[[PHONE_1``, ``PHONE_1]]``) and bare ``PHONE_1``: considered only
  for the placeholder *types* issued in this request (one-sided) or the exact placeholders issued
  (bare), so ordinary text such as ``HTTP_2`` is never touched; restored when in the vault, else
  (one-sided, unknown number) counted as unrestored. A bare token that the request itself
  contained in the same form (the user typed ``PHONE_1``) is ambiguous: left as it is, counted as
  unrestored.

Every form other than the exact one is counted as restored from a mangled form, so the audit
record shows how often the model damaged placeholders even when nothing was lost.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from onshore.protect.placeholders import EXACT, MAX_PARTIAL, OPEN_CHARS, PARTIAL, TOLERANT, canonical
from onshore.protect.vault import Vault

__all__ = ["Matcher", "RestoreResult", "StreamRestorer", "restore"]

_CLOSE = "[\\]］】〛⟧]"
_OPEN = "[\\[［【〚⟦]"
_SPACE = "[ \u3000]"
_WORD = "A-Za-z0-9_"
_WORD_CHAR = re.compile(f"[{_WORD}]")


@dataclass(frozen=True, slots=True)
class RestoreResult:
    text: str
    unmatched: list[str] = field(default_factory=list)
    mangled: int = 0  # placeholders restored from a mangled form


def _json_escape(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


class Matcher:
    """The placeholder forms to look for in one answer, built once from the request's vault."""

    __slots__ = ("_ambiguous", "_bare_first", "_bare_partial", "_bare_window", "_pattern", "_vault")

    def __init__(self, vault: Vault, sent: str = "") -> None:
        """``sent``: the text the backend received (any serialisation), to find bare tokens the
        request itself contained."""
        self._vault = vault
        self._ambiguous: frozenset[str] = frozenset()
        issued = sorted((m.group(1), m.group(2)) for p in vault.mapping() if (m := EXACT.fullmatch(p)))
        labels = sorted({label for label, _ in issued}, key=len, reverse=True)
        forms = [TOLERANT.pattern]
        self._bare_partial: re.Pattern[str] | None = None
        self._bare_first: frozenset[str] = frozenset()
        self._bare_window = 0
        if labels:
            label = "(?:" + "|".join(map(re.escape, labels)) + ")"
            tokens = "(?:" + "|".join(re.escape(f"{a}_{n}") for a, n in sorted(issued, key=len, reverse=True)) + ")"
            number = f"[0-9]{{1,6}}(?![{_WORD}])"
            loose = [
                f"{_OPEN}{{1,2}}{_SPACE}{{0,3}}(?i:{label})_{number}",  # opened, never closed
                f"(?<![{_WORD}]){label}_[0-9]{{1,6}}{_SPACE}{{0,3}}{_CLOSE}{{1,2}}",  # closed, never opened
                f"(?<![{_WORD}]){tokens}(?![{_WORD}])",  # bare: only as issued
            ]
            if sent:  # loose forms the request itself contained are the user's text, not placeholders
                found = re.finditer("|".join(loose), TOLERANT.sub("\x00", sent))
                self._ambiguous = frozenset(m.group() for m in found)
            forms += loose
            # A suffix that could still grow into a one-sided or bare form: held back when streaming.
            self._bare_partial = re.compile(
                "(?:"
                + "|".join(re.escape(t[:i]) for t in {f"{a}_" for a in labels} for i in range(1, len(t) + 1))
                + f")|{label}_[0-9]{{1,6}}{_SPACE}{{0,3}}{_CLOSE}?"
            )
            self._bare_first = frozenset(a[0] for a in labels)
            self._bare_window = max(map(len, labels)) + 1 + 6 + 3 + 1
        self._pattern = re.compile("|".join(forms))

    def restore(self, text: str, *, json_escaped: bool = False, before: str = "") -> RestoreResult:
        """``before``: the text already emitted just ahead of ``text`` (word boundaries need it)."""
        if OPEN_CHARS.search(text) is None and self._bare_partial is None:
            return RestoreResult(text, [])
        unmatched: list[str] = []
        mangled = 0
        out: list[str] = []
        source = before + text
        last = len(before)
        for m in self._pattern.finditer(source, len(before)):
            found = m.group()
            original = None if found in self._ambiguous else self._vault.original_for(canonical(found))
            out.append(source[last : m.start()])
            last = m.end()
            if original is None:
                unmatched.append(found)
                out.append(found)
                continue
            if EXACT.fullmatch(found) is None:
                mangled += 1
            out.append(_json_escape(original) if json_escaped else original)
        out.append(source[last:])
        return RestoreResult("".join(out), unmatched, mangled)

    def hold_from(self, buf: str) -> int:
        """Start of the earliest suffix that could still become a placeholder."""
        for m in OPEN_CHARS.finditer(buf, max(0, len(buf) - MAX_PARTIAL)):
            if PARTIAL.fullmatch(buf, m.start()) is not None:
                return m.start()
        if self._bare_partial is not None:
            for start in range(max(0, len(buf) - self._bare_window), len(buf)):
                if buf[start] not in self._bare_first or (start and _WORD_CHAR.match(buf, start - 1)):
                    continue
                if self._bare_partial.fullmatch(buf, start) is not None:
                    return start
        return len(buf)


def restore(text: str, vault: Vault, *, json_escaped: bool = False, sent: str = "") -> RestoreResult:
    """Replace placeholders (exact or mangled-but-canonicalisable) by originals.

    ``json_escaped``: ``text`` is JSON (e.g. tool-call arguments) and the
    placeholder sits inside a JSON string, so originals are inserted escaped.
    Anything placeholder-shaped that is not in this vault stays as it is and
    is listed in ``unmatched``; nothing else is ever substituted. ``sent``: see `Matcher`.
    """
    return Matcher(vault, sent).restore(text, json_escaped=json_escaped)


class StreamRestorer:
    """Incremental :func:`restore` whose output equals the one-shot result.

    Holds back only a suffix that is a viable placeholder prefix (at most
    ``MAX_PARTIAL`` characters; for bare forms, a prefix of an issued type
    starting a word), never the rest of the answer.
    """

    def __init__(self, vault: Vault, *, json_escaped: bool = False, matcher: Matcher | None = None) -> None:
        self._matcher = matcher or Matcher(vault)
        self._json = json_escaped
        self._buf = ""
        self._before = ""  # the last character emitted, for word boundaries
        self.unmatched: list[str] = []
        self.mangled = 0

    def feed(self, chunk: str) -> str:
        buf = self._buf + chunk
        cut = self._matcher.hold_from(buf)
        self._buf = buf[cut:]
        return self._emit(buf[:cut])

    def finish(self) -> str:
        rest, self._buf = self._buf, ""
        return self._emit(rest)

    def _emit(self, text: str) -> str:
        if not text:
            return ""
        result = self._matcher.restore(text, json_escaped=self._json, before=self._before)
        self._before = text[-1]
        self.unmatched.extend(result.unmatched)
        self.mangled += result.mangled
        return result.text
