"""Authentication failure bursts: N failures from one source (or for one key prefix) within a window
become one burst event. Pure: the clock is passed in; memory is bounded by pruning old keys."""

from __future__ import annotations

from collections import deque

_MAX_KEYS = 10_000  # a flood from many sources cannot grow this without bound


class BurstDetector:
    def __init__(self, threshold: int, window_seconds: float) -> None:
        if threshold < 1 or window_seconds <= 0:
            raise ValueError("a burst needs a positive threshold and window")
        self._threshold = threshold
        self._window = window_seconds
        self._seen: dict[str, deque[float]] = {}
        self._reported_until: dict[str, float] = {}

    def failed(self, key: str, now: float) -> int | None:
        """Record one failure for `key`; the number of failures in the window when this one makes a
        burst (once per window per key: a burst that goes on is reported again a window later)."""
        times = self._seen.get(key)
        if times is None:
            if len(self._seen) >= _MAX_KEYS:
                self._prune(now)
            times = self._seen[key] = deque()
        times.append(now)
        while times and times[0] <= now - self._window:
            times.popleft()
        if len(times) < self._threshold or now < self._reported_until.get(key, float("-inf")):
            return None
        self._reported_until[key] = now + self._window
        return len(times)

    def _prune(self, now: float) -> None:
        cutoff = now - self._window
        for key in [k for k, t in self._seen.items() if not t or t[-1] <= cutoff]:
            del self._seen[key]
            self._reported_until.pop(key, None)
        if len(self._seen) >= _MAX_KEYS:  # all recent: forget the oldest half rather than grow
            for key in sorted(self._seen, key=lambda k: self._seen[k][-1])[: _MAX_KEYS // 2]:
                del self._seen[key]
                self._reported_until.pop(key, None)
