"""The clock is injected everywhere so decisions and audit records are testable."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch (wall clock, for records)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic clock (for durations)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.perf_counter()


def iso_utc(ts: float) -> str:
    """RFC 3339 UTC timestamp with millisecond precision."""
    whole = int(ts)
    millis = int((ts - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"
