"""Per-(tenant, conversation) mapping between placeholders and originals."""

from __future__ import annotations

import re
from collections.abc import Mapping

from onshore.protect.normalise import value_key
from onshore.protect.placeholders import EXACT, make

__all__ = ["Vault"]


class Vault:
    """Placeholder <-> original for ONE tenant and conversation.

    A vault is never shared: two tenants always hold two vaults, so equal
    placeholder strings can never resolve to another tenant's value. Seed it
    with the mapping persisted from earlier turns so that originals coming
    back in the next request get the same placeholders.
    """

    def __init__(self, tenant: str, conversation: str, mapping: Mapping[str, str] | None = None) -> None:
        self.tenant = tenant
        self.conversation = conversation
        self._original: dict[str, str] = {}
        self._by_key: dict[str, str] = {}
        self._counters: dict[str, int] = {}
        self._exact_cache: tuple[int, re.Pattern[str] | None, dict[str, str]] | None = None
        if mapping:
            self.seed(mapping)

    def seed(self, mapping: Mapping[str, str]) -> None:
        """Add ``placeholder -> original`` pairs, e.g. from earlier turns."""
        for placeholder, original in mapping.items():
            m = EXACT.fullmatch(placeholder)
            if m is None:
                raise ValueError(f"not a placeholder: {placeholder!r}")
            label, n = m.group(1), int(m.group(2))
            self._original[placeholder] = original
            key = self._key(label, original)
            self._by_key.setdefault(key, placeholder)
            self._counters[label] = max(self._counters.get(label, 0), n)
        self._exact_cache = None

    @staticmethod
    def _key(label: str, original: str) -> str:
        if label == "LITERAL":
            return "\x00" + original  # literals must round-trip byte for byte
        return value_key(original) or original

    def placeholder_for(self, type_: str, original: str) -> str:
        """Stable placeholder for the value (same after normalisation)."""
        label = type_.upper()
        key = self._key(label, original)
        found = self._by_key.get(key)
        if found is not None:
            return found
        n = self._counters.get(label, 0) + 1
        self._counters[label] = n
        placeholder = make(label, n)
        self._original[placeholder] = original
        self._by_key[key] = placeholder
        self._exact_cache = None
        return placeholder

    def original_for(self, placeholder: str) -> str | None:
        return self._original.get(placeholder)

    def mapping(self) -> dict[str, str]:
        """Copy of ``placeholder -> original`` to persist between turns."""
        return dict(self._original)

    def __len__(self) -> int:
        return len(self._original)

    def known_originals(self, min_len: int) -> tuple[re.Pattern[str] | None, dict[str, str]]:
        """Regex over exact originals (longest first) and original -> placeholder."""
        if self._exact_cache is None or self._exact_cache[0] != min_len:
            table: dict[str, str] = {}
            for placeholder, original in self._original.items():
                if len(original) >= min_len and not placeholder.startswith("[[LITERAL_"):
                    table.setdefault(original, placeholder)
            pat = None
            if table:
                alts = sorted(table, key=len, reverse=True)
                pat = re.compile("|".join(re.escape(a) for a in alts))
            self._exact_cache = (min_len, pat, table)
        return self._exact_cache[1], self._exact_cache[2]
