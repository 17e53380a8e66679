"""Print precision and recall of every red-team detector on the labelled set.

Usage: python benchmarks/redteam_detector_accuracy.py [LABELLED.jsonl]
(default: tests/redteam/data/labelled_detections.jsonl). Exit 1 if any detector is below the
floor the test suite enforces (precision 0.95, recall 0.85).
"""

from __future__ import annotations

import pathlib
import sys

from kastell.redteam.accuracy import parse_labelled, score_detectors

DEFAULT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "redteam" / "data" / (
    "labelled_detections.jsonl")


def main() -> int:
    path = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    rows = parse_labelled(path.read_text(encoding="utf-8"))
    scores = score_detectors(rows)
    print(f"{len(rows)} labelled examples from {path.name}")
    print(f"{'detector':<18}{'TP':>4}{'FP':>4}{'TN':>4}{'FN':>4}{'precision':>11}{'recall':>8}")
    worst = True
    for name, s in scores.items():
        print(f"{name:<18}{s.true_positive:>4}{s.false_positive:>4}{s.true_negative:>4}"
              f"{s.false_negative:>4}{s.precision:>11.2f}{s.recall:>8.2f}")
        worst = worst and s.precision >= 0.95 and s.recall >= 0.85
    tp = sum(s.true_positive for s in scores.values())
    fp = sum(s.false_positive for s in scores.values())
    fn = sum(s.false_negative for s in scores.values())
    print(f"{'all':<18}{tp:>4}{fp:>4}{'':>4}{fn:>4}{tp / max(1, tp + fp):>11.2f}"
          f"{tp / max(1, tp + fn):>8.2f}")
    return 0 if worst else 1


if __name__ == "__main__":
    sys.exit(main())
