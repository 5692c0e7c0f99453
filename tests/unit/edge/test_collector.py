"""Once serving, the gateway's start-up objects are frozen out of garbage collection and young
collections run less often (edge/collector.py). Checked in a child interpreter: freezing pytest's
own process would change every later test."""

from __future__ import annotations

import json
import subprocess
import sys

from onshore.edge.collector import OLDER_THRESHOLDS, YOUNG_THRESHOLD

_PROBE = """
import gc, json
from onshore.edge.collector import settle_after_start
class Cycle:
    pass
before = gc.get_freeze_count()
settle_after_start()
frozen = gc.get_freeze_count()
a = Cycle(); a.me = a; del a  # garbage made after start-up, in a cycle: still collected
print(json.dumps({"before": before, "frozen": frozen, "threshold": gc.get_threshold(), "collected": gc.collect()}))
"""


def test_settling_freezes_start_up_and_raises_the_young_threshold_while_cycles_still_go() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60)
    probe = json.loads(out.stdout)
    assert probe["before"] == 0
    assert probe["frozen"] > 1000  # the modules and objects start-up made
    assert probe["threshold"] == [YOUNG_THRESHOLD, *OLDER_THRESHOLDS]
    assert probe["collected"] >= 1  # a cycle made later is not frozen with them
