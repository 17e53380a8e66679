"""Throughput of dataset screening on 1 KB records, with datasketch's own MinHash dedup as anchor.

Generates N synthetic 1 KB JSONL records (seeded), then times in the same run:
  * injection + PII + secrets (kastell.text via the datascan detectors) + flooding (MinHash LSH),
  * the anchor: datasketch MinHash (default settings, 128 permutations) + MinHashLSH dedup over
    the same texts, as its documentation shows it,
and prints records/s (one process, one core) and the peak RSS.

    python benchmarks/bench_datascan.py --records 5000
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from pathlib import Path

from kastell.datascan import Family, ScreenOptions, list_dataset, screen

WORDS = [
    "data", "model", "river", "city", "light", "music", "water", "stone", "paper", "garden",
    "window", "forest", "cloud", "rain", "wind", "market", "school", "doctor", "train",
    "station", "coffee", "letter", "winter", "summer",
]


def _records(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < 1000:
            words.append(rng.choice(WORDS))
        texts.append(" ".join(words))
    return texts


def _anchor(texts: list[str]) -> float:
    from datasketch import MinHash, MinHashLSH

    start = time.perf_counter()
    lsh = MinHashLSH(threshold=0.7, num_perm=128)
    for i, text in enumerate(texts):
        words = text.split()
        m = MinHash(num_perm=128)
        m.update_batch([" ".join(words[j:j + 3]).encode() for j in range(len(words) - 2)])
        lsh.query(m)
        lsh.insert(i, m)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--dedup-only", action="store_true",
                        help="time only the MinHash flooding step and the anchor (large N)")
    args = parser.parse_args()
    texts = _records(args.records)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "d.jsonl"
        path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
        dataset = list_dataset(Path(folder))
        skip = frozenset({Family.TRIGGER, Family.LABEL_FLIP})
        ours = None
        if not args.dedup_only:
            start = time.perf_counter()
            screen(dataset, ScreenOptions(skip=skip))
            ours = time.perf_counter() - start
        start = time.perf_counter()
        screen(dataset, ScreenOptions(skip=skip | {Family.INJECTION, Family.PERSONAL_DATA}))
        dedup = time.perf_counter() - start
    anchor = _anchor(texts)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = args.records
    print(f"records: {n} x ~1 KB, one process")
    if ours is not None:
        print(f"injection+PII+secrets+MinHash (read, parse, hash): {n / ours:,.0f} records/s")
    print(f"MinHash flooding step alone (read, parse, hash):    {n / dedup:,.0f} records/s")
    print(f"anchor datasketch MinHash(128)+LSH dedup, in memory: {n / anchor:,.0f} records/s")
    print(f"ratio flooding step / anchor: {anchor / dedup:.2f}")
    print(f"peak RSS: {rss:,.0f} MiB")


if __name__ == "__main__":
    main()
