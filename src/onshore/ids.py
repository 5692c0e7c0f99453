"""Time-ordered identifiers (UUIDv7, RFC 9562), so audit ids sort by creation time."""

from __future__ import annotations

import os
import threading
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7(now_ms: int) -> str:
    """Return a UUIDv7 string for the given Unix time in milliseconds.

    A 12-bit counter in rand_a keeps ids monotonic within one millisecond (RFC 9562, method 1).
    """
    global _last_ms, _counter
    with _lock:
        if now_ms <= _last_ms:
            now_ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                now_ms += 1
                _counter = 0
        else:
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF  # random start, headroom
        _last_ms = now_ms
        counter = _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (now_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand_b
    return str(uuid.UUID(int=value))
