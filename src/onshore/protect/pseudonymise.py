"""Replace findings by vault placeholders."""

from __future__ import annotations

from collections.abc import Iterable

from onshore.protect.findings import PSEUDONYMISED_TYPES, Finding
from onshore.protect.placeholders import TOLERANT
from onshore.protect.vault import Vault

__all__ = ["pseudonymise"]

_STICKY_MIN = 3


def pseudonymise(
    text: str,
    findings: Iterable[Finding],
    vault: Vault,
    *,
    types: frozenset[str] = PSEUDONYMISED_TYPES,
    sticky: bool = True,
) -> str:
    """Return ``text`` with each finding of ``types`` replaced by its placeholder.

    Also (a) wraps text that already looks like a placeholder as a LITERAL so
    restoring can never turn user-typed ``[[PHONE_1]]`` into a real value,
    and (b) with ``sticky``, replaces verbatim occurrences of values already
    in the vault (e.g. an earlier answer quoted back) even if not detected.
    """
    spans: list[tuple[int, int, str, str]] = []  # start, end, type, original
    for m in TOLERANT.finditer(text):
        spans.append((m.start(), m.end(), "literal", m.group()))
    taken = sorted((s, e) for s, e, _, _ in spans)

    def free(s: int, e: int) -> bool:
        return all(e <= ts or s >= te for ts, te in taken)

    for f in sorted(findings, key=lambda f: (f.start, -f.end)):
        if f.type in types and f.start < f.end and free(f.start, f.end):
            spans.append((f.start, f.end, f.type, text[f.start : f.end]))
            taken.append((f.start, f.end))

    placeholders: dict[int, str] = {}
    if sticky:
        pat, table = vault.known_originals(_STICKY_MIN)
        if pat is not None:
            for m in pat.finditer(text):
                if free(m.start(), m.end()):
                    spans.append((m.start(), m.end(), "", m.group()))
                    placeholders[m.start()] = table[m.group()]
                    taken.append((m.start(), m.end()))

    spans.sort()
    out: list[str] = []
    last = 0
    for s, e, type_, original in spans:
        out.append(text[last:s])
        out.append(placeholders.get(s) or vault.placeholder_for(type_, original))
        last = e
    out.append(text[last:])
    return "".join(out)
