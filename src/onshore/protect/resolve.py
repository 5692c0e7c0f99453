"""Pick a non-overlapping subset of candidate spans."""

from __future__ import annotations

from bisect import bisect_left

from onshore.protect.findings import Finding

__all__ = ["resolve_overlaps"]


def resolve_overlaps(findings: list[Finding]) -> list[Finding]:
    """Highest score wins, then the longest span, then the earliest.

    Greedy over that order with a sorted list of kept intervals, so it stays
    O(n log n)-ish on documents with thousands of findings.
    """
    ordered = sorted(findings, key=lambda f: (-f.score, f.start - f.end, f.start))
    starts: list[int] = []
    ends: list[int] = []
    kept: list[Finding] = []
    for f in ordered:
        i = bisect_left(starts, f.start)
        if i > 0 and ends[i - 1] > f.start:
            continue
        if i < len(starts) and starts[i] < f.end:
            continue
        starts.insert(i, f.start)
        ends.insert(i, f.end)
        kept.append(f)
    kept.sort(key=lambda f: (f.start, f.end))
    return kept
