"""Detection throughput (MB/s of UTF-8 input) on Japanese text, one process.

Usage: PYTHONPATH=src python bench/pii_bench.py [--mb 2] [--repeat 3]
Reports the pattern layer and the name layer (SudachiPy) separately, plus
the full scan. Input: eval/pii texts (PII-dense) and plain business prose
(mostly no PII), each concatenated to the requested size.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from onshore.protect import Detector, DetectorConfig
from onshore.protect.names import SudachiNameLayer

DATASET = Path(__file__).resolve().parent.parent / "eval" / "pii" / "dataset.jsonl"
PROSE = (
    "いつもお世話になっております。先日の打ち合わせでは貴重なお時間をいただき、誠にありがとうございました。"
    "議事録を添付いたしますので、ご確認のほどよろしくお願いいたします。次回は来月第二週を予定しており、"
    "詳細な日程は追ってご連絡いたします。なお、見積書の金額は税込みで120,000円となります。\n"
)


def corpus(kind: str, mb: float) -> str:
    if kind == "prose":
        unit = PROSE
    else:
        rows = [json.loads(line)["text"] for line in DATASET.read_text(encoding="utf-8").splitlines()]
        unit = "\n".join(rows) + "\n"
    reps = max(1, int(mb * 1e6 / len(unit.encode("utf-8"))) + 1)
    return unit * reps


def measure(fn: Callable[[str], object], text: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - t0)
    return len(text.encode("utf-8")) / best / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=2.0, help="input size per corpus (pattern layer)")
    ap.add_argument("--name-mb", type=float, default=0.5, help="input size for the slower name layer")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    t0 = time.perf_counter()
    names = SudachiNameLayer.load()
    load_s = time.perf_counter() - t0
    patterns_only = Detector.from_config(DetectorConfig(enable_names=False))
    full = Detector.from_config(DetectorConfig(), name_layer_factory=lambda: names)
    print(f"name layer load: {load_s:.2f} s (once per process)")
    for kind in ("prose", "dataset"):
        text = corpus(kind, args.mb)
        small = corpus(kind, args.name_mb)
        print(f"[{kind}] pattern layer: {measure(patterns_only.scan, text, args.repeat):7.1f} MB/s")
        print(f"[{kind}] name layer:    {measure(names.find, small, args.repeat):7.1f} MB/s")
        print(f"[{kind}] full scan:     {measure(full.scan, small, args.repeat):7.1f} MB/s")


if __name__ == "__main__":
    main()
