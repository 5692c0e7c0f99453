from __future__ import annotations

import uuid

from onshore.ids import uuid7

FUTURE_MS = 4_000_000_000_000  # later than any id made so far in this process (the state is global)


def test_uuid7_is_versioned_and_time_ordered() -> None:
    ids = [uuid7(FUTURE_MS + i // 100) for i in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert int(parsed.hex[:12], 16) == FUTURE_MS


def test_uuid7_stays_monotonic_when_the_clock_goes_back() -> None:
    first = uuid7(FUTURE_MS + 10_000)
    assert uuid7(1_000_000_000_000) > first
