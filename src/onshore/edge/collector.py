"""The cyclic garbage collector for a long-running gateway, set once it has started.

With CPython's defaults (a young collection per 700 net container allocations) the gateway, with 32
requests in flight, ran a young collection every ~18 requests and a full one every few thousand: each
full collection walked the ~88,000 objects made at start-up (modules, configuration, dictionaries)
and stopped every request for 35-50 ms (measured with gc.callbacks under `make bench`). Freezing what
exists once start-up is over takes those objects out of every later collection (full ones measured
0.4 ms after), and a larger young threshold runs collections a tenth as often. Garbage without
cycles is freed by reference counting as before; cycles are still collected, just in bigger
batches, so memory stays flat (`make bench BENCH_ARGS="--memory 1000000"`).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000  # net container allocations between young collections (CPython: 700)
OLDER_THRESHOLDS = (10, 10)  # CPython's own: young collections per middle one, middle per full


def settle_after_start() -> None:
    """Collect once, then freeze everything start-up made: called when the gateway is serving."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
