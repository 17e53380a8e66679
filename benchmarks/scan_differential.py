"""Long run of the loader-differential harness (issue 12): counts per format.

Draws ``--batches`` batches of structural variants per format (pickle, joblib, torch) from
the strategies in ``tests/scan/_variants.py``, loads each with the real loader in a child
process (marker payload) and scans it with Kastell. Prints, per format, how many variants were
tried, how many markers the real loader ran, and how many of those Kastell called clean (a
disagreement; the goal is zero). Needs torch==2.13.0, joblib and numpy.

Usage: python benchmarks/scan_differential.py [--batches 20]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from hypothesis import strategies as st
    from tests.scan._variants import variants
    from tests.scan.test_differential import BATCH, disagreements

    print("| format | variants tried | markers run by the loader | Kastell clean on those |")
    print("| --- | --- | --- | --- |")
    for loader in ("pickle", "joblib", "torch"):
        strategy = st.lists(variants(loader), min_size=BATCH, max_size=BATCH)
        tried = ran = 0
        missed: list[str] = []
        for _ in range(args.batches):
            batch = strategy.example()  # hypothesis draws it
            with tempfile.TemporaryDirectory() as folder:
                count, misses = disagreements(batch, pathlib.Path(folder))
            tried += len(batch)
            ran += count
            missed.extend(misses)
        print(f"| {loader} | {tried} | {ran} | {len(missed)} |", flush=True)
        for variant in missed[:5]:
            print(f"  disagreement: {variant}", file=sys.stderr)


if __name__ == "__main__":
    main()
