"""Precision / recall / F1 per entity type on eval/pii/dataset.jsonl.

Usage: PYTHONPATH=src python eval/pii/evaluate.py [--dataset PATH] [--no-names] [--errors N]
(--dataset defaults to eval/pii/dataset.jsonl; eval/pii/holdout.jsonl is the
independent held-out set: report its summary, do not tune on its errors.)
Exact: same type and identical span. Lenient: same type and overlapping span
(each gold/predicted entity is matched at most once).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from onshore.protect import Detector, DetectorConfig

DATASET = Path(__file__).with_name("dataset.jsonl")
# Detected, but not labelled by the generator (word-level sensitivity flags).
UNLABELLED_TYPES = frozenset({"health_info", "special_care_info"})

Span = tuple[str, int, int]


def match(gold: list[Span], pred: list[Span], lenient: bool) -> tuple[int, list[Span], list[Span]]:
    used: set[int] = set()
    tp = 0
    missed: list[Span] = []
    for g in gold:
        for i, p in enumerate(pred):
            if i in used or p[0] != g[0]:
                continue
            if (p[1], p[2]) == (g[1], g[2]) or (lenient and p[1] < g[2] and g[1] < p[2]):
                used.add(i)
                tp += 1
                break
        else:
            missed.append(g)
    spurious = [p for i, p in enumerate(pred) if i not in used]
    return tp, missed, spurious


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", type=Path, default=DATASET, help="JSONL file (default: dataset.jsonl)")
    ap.add_argument("--no-names", action="store_true", help="pattern layer only")
    ap.add_argument("--errors", type=int, default=0, help="print up to N errors")
    args = ap.parse_args()

    detector = Detector.from_config(DetectorConfig(enable_names=not args.no_names))
    rows = [json.loads(line) for line in args.dataset.read_text(encoding="utf-8").splitlines()]
    counts: dict[str, Counter[str]] = {"exact": Counter(), "lenient": Counter()}
    errors: list[str] = []
    for row in rows:
        text = row["text"]
        gold = [(e["type"], e["start"], e["end"]) for e in row["entities"]]
        pred: list[Span] = [(f.type, f.start, f.end) for f in detector.scan(text) if f.type not in UNLABELLED_TYPES]
        for mode in ("exact", "lenient"):
            n_tp, missed, spurious = match(gold, pred, mode == "lenient")
            c = counts[mode]
            for t, _, _ in gold:
                c[f"gold:{t}"] += 1
            for t, _, _ in pred:
                c[f"pred:{t}"] += 1
            for hit in gold:
                if hit not in missed:
                    c[f"tp:{hit[0]}"] += 1
            assert n_tp == len(gold) - len(missed)
            if mode == "exact":
                errors += [f"MISS {t} {text[s:e]!r}" for t, s, e in missed]
                errors += [f"FP   {t} {text[s:e]!r}" for t, s, e in spurious]

    types = sorted({k.split(":", 1)[1] for k in counts["exact"] if not k.startswith("tp:")})
    print(f"{args.dataset.name}: {len(rows)} texts; names layer {'off' if args.no_names else 'on'}")
    print(f"{'type':24} {'gold':>5} {'pred':>5}  {'P':>6} {'R':>6} {'F1':>6}   lenient P/R/F1")
    for t in [*types, "ALL"]:
        line = f"{t:24}"
        for mode in ("exact", "lenient"):
            c = counts[mode]
            if t == "ALL":
                g = sum(v for k, v in c.items() if k.startswith("gold:"))
                p = sum(v for k, v in c.items() if k.startswith("pred:"))
                tp = sum(v for k, v in c.items() if k.startswith("tp:"))
            else:
                g, p, tp = c[f"gold:{t}"], c[f"pred:{t}"], c[f"tp:{t}"]
            prec = tp / p if p else 1.0
            rec = tp / g if g else 1.0
            f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
            if mode == "exact":
                line += f" {g:5d} {p:5d}  {prec:6.3f} {rec:6.3f} {f1:6.3f}"
            else:
                line += f"   {prec:.3f}/{rec:.3f}/{f1:.3f}"
        print(line)
    for e in errors[: args.errors]:
        print(e)


if __name__ == "__main__":
    main()
