"""Put originals back into model output, whole or streamed."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from onshore.protect.placeholders import MAX_PARTIAL, OPEN_CHARS, PARTIAL, TOLERANT, canonical
from onshore.protect.vault import Vault

__all__ = ["RestoreResult", "StreamRestorer", "restore"]


@dataclass(frozen=True, slots=True)
class RestoreResult:
    text: str
    unmatched: list[str] = field(default_factory=list)


def _json_escape(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def restore(text: str, vault: Vault, *, json_escaped: bool = False) -> RestoreResult:
    """Replace placeholders (exact or mangled-but-canonicalisable) by originals.

    ``json_escaped``: ``text`` is JSON (e.g. tool-call arguments) and the
    placeholder sits inside a JSON string, so originals are inserted escaped.
    Anything placeholder-shaped that is not in this vault stays as it is and
    is listed in ``unmatched``; nothing else is ever substituted.
    """
    if OPEN_CHARS.search(text) is None:
        return RestoreResult(text, [])
    unmatched: list[str] = []

    def sub(m: re.Match[str]) -> str:
        original = vault.original_for(canonical(m.group()))
        if original is None:
            unmatched.append(m.group())
            return m.group()
        return _json_escape(original) if json_escaped else original

    return RestoreResult(TOLERANT.sub(sub, text), unmatched)


def _hold_from(buf: str) -> int:
    """Start of the earliest suffix that could still become a placeholder."""
    for m in OPEN_CHARS.finditer(buf, max(0, len(buf) - MAX_PARTIAL)):
        if PARTIAL.fullmatch(buf, m.start()) is not None:
            return m.start()
    return len(buf)


class StreamRestorer:
    """Incremental :func:`restore` whose output equals the one-shot result.

    Holds back only a suffix that is a viable placeholder prefix (at most
    ``MAX_PARTIAL`` characters), never the rest of the answer.
    """

    def __init__(self, vault: Vault, *, json_escaped: bool = False) -> None:
        self._vault = vault
        self._json = json_escaped
        self._buf = ""
        self.unmatched: list[str] = []

    def feed(self, chunk: str) -> str:
        buf = self._buf + chunk
        cut = _hold_from(buf)
        self._buf = buf[cut:]
        return self._emit(buf[:cut])

    def finish(self) -> str:
        rest, self._buf = self._buf, ""
        return self._emit(rest)

    def _emit(self, text: str) -> str:
        if not text:
            return ""
        result = restore(text, self._vault, json_escaped=self._json)
        self.unmatched.extend(result.unmatched)
        return result.text
