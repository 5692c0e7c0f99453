"""Time-ordered identifiers (UUIDv7, RFC 9562), so audit ids sort by creation time."""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7(now_ms: int) -> str:
    """Return a UUIDv7 string for the given Unix time in milliseconds.

    A 12-bit counter in rand_a keeps ids monotonic within one millisecond (RFC 9562, method 1).
    """
    global _last_ms, _counter
    random = int.from_bytes(os.urandom(10), "big")  # one draw: 62 bits rand_b, 10 bits counter start
    with _lock:
        if now_ms <= _last_ms:
            now_ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                now_ms += 1
                _counter = 0
        else:
            _counter = (random >> 64) & 0x3FF  # random start, with headroom to count up
        _last_ms = now_ms
        counter = _counter
    value = (now_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= random & ((1 << 62) - 1)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
