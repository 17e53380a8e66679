"""Flooding and near duplicates: exact-duplicate counts and MinHash LSH clusters.

Exact duplicates share a record digest. Near duplicates share most of their word 3-gram
shingles: each record's text fields (the label field left out) get a MinHash signature
(``datasketch``, permutation scheme ``affine32``; a shingle's 32-bit hash mixes the CRC-32 of
its three words) and a MinHash LSH
index (``datasketch.MinHashLSH`` at the Jaccard threshold) finds earlier records that are probably
as similar; clusters are the connected components. A cluster is *flooding* when it has at least
``flood_min_size`` records and either holds at least ``flood_min_share`` of the dataset or its
records mostly (>= 80%) give one answer or label. Every record of a flooding cluster after its
first is flagged. Records without any text are counted by digest only.
"""

from __future__ import annotations

import zlib
from array import array
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from kastell.datascan._tokens import content_text, tokens
from kastell.datascan.interface import (
    DetectorUnavailableError,
    Family,
    FamilyOutcome,
    Record,
    RecordHit,
    RecordId,
    ScreenOptions,
)

__all__ = ["ANSWER_DOMINANCE", "FloodingDetector", "shingles"]

ANSWER_DOMINANCE = 0.8
"""Share of a cluster giving one answer above which the cluster over-weights that answer."""

_MAX_UNIONS = 256
_P1 = np.uint64(0x9E3779B97F4A7C15)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_LOW32 = np.uint64(0xFFFFFFFF)


def shingles(text: str) -> list[int]:
    """32-bit hashes of the word 3-gram shingles of ``text``, distinct, in ascending order.

    Each word is hashed with CRC-32; a shingle's hash mixes its three word hashes (the whole
    word sequence is one shingle when it has fewer than three words).
    """
    words = tokens(text)
    if not words:
        return []
    hashes = np.fromiter((zlib.crc32(w.encode("utf-8")) for w in words), dtype=np.uint64,
                         count=len(words))
    if len(words) < 3:
        return [zlib.crc32(" ".join(words).encode("utf-8"))]
    with np.errstate(over="ignore"):
        mixed = (hashes[:-2] * _P1) ^ (hashes[1:-1] * _P2) ^ hashes[2:]
    return np.unique((mixed ^ (mixed >> np.uint64(32))) & _LOW32).tolist()  # type: ignore[no-any-return]


def _datasketch() -> Any:
    try:
        import datasketch
    except ImportError:
        raise DetectorUnavailableError(
            "near-duplicate detection needs datasketch",
            hint="pip install 'kastell[datascan]', or leave flooding out with --skip flooding.",
        ) from None
    return datasketch


class FloodingDetector:
    """Counts exact duplicates and clusters near-identical records (see the module doc)."""

    family = Family.FLOODING

    def __init__(self, options: ScreenOptions, answer: Callable[[Record], str | None],
                 leave_out: frozenset[str] = frozenset()) -> None:
        ds = _datasketch()
        self._options = options
        self._answer = answer
        self._leave_out = leave_out
        self._minhash = ds.MinHash
        self._permutations = ds.MinHash(num_perm=options.minhash_perm).permutations
        self._lsh = ds.MinHashLSH(threshold=options.minhash_threshold,
                                  num_perm=options.minhash_perm)
        self._parent = array("q")
        self._ids: list[RecordId] = []
        self._answers: list[int] = []
        self._answer_names: dict[int, str] = {}
        self._digests: Counter[str] = Counter()
        self._signatures: dict[bytes, int] = {}

    def _find(self, item: int) -> int:
        parent = self._parent
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def _union(self, left: int, right: int) -> None:
        a, b = self._find(left), self._find(right)
        if a != b:
            self._parent[max(a, b)] = min(a, b)

    def _answer_key(self, record: Record) -> int:
        answer = self._answer(record)
        if answer is None:
            return -1
        key = zlib.crc32(" ".join(tokens(answer)).encode("utf-8"))
        self._answer_names.setdefault(key, answer[:120])
        return key

    def observe(self, ordinal: int, record: Record) -> None:
        """Count the record's digest and place it among near-identical earlier records."""
        self._parent.append(ordinal)
        self._ids.append(record.id)
        self._answers.append(self._answer_key(record))
        self._digests[record.digest] += 1
        grams = shingles(content_text(record, self._leave_out))
        if not grams:
            return
        signature = self._minhash(num_perm=self._options.minhash_perm, hashfunc=int,
                                  permutations=self._permutations, scheme="affine32")
        signature.update_batch(grams)
        raw = signature.hashvalues.tobytes()
        same = self._signatures.get(raw)
        if same is not None:
            self._union(same, ordinal)
            return
        self._signatures[raw] = ordinal
        for count, other in enumerate(self._lsh.query(signature)):
            if count >= _MAX_UNIONS:
                break
            self._union(int(other), ordinal)
        self._lsh.insert(ordinal, signature)

    def _clusters(self) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = {}
        for ordinal in range(len(self._parent)):
            root = self._find(ordinal)
            groups.setdefault(root, []).append(ordinal)
        return {root: members for root, members in groups.items()
                if len(members) >= self._options.flood_min_size}

    def _describe(self, members: list[int], total: int) -> dict[str, Any]:
        answers = Counter(self._answers[m] for m in members if self._answers[m] != -1)
        top, top_count = answers.most_common(1)[0] if answers else (-1, 0)
        share = len(members) / total
        dominance = top_count / len(members)
        flooding = share >= self._options.flood_min_share or dominance >= ANSWER_DOMINANCE
        return {
            "size": len(members),
            "share": round(share, 6),
            "first": self._ids[members[0]],
            "examples": [self._ids[m] for m in members[:5]],
            "dominant_answer": self._answer_names.get(top) if top != -1 else None,
            "dominant_answer_share": round(dominance, 4),
            "flooding": flooding,
        }

    def finish(self) -> FamilyOutcome:
        """Clusters, exact-duplicate counts and the flagged records."""
        total = len(self._parent)
        clusters = []
        hits: list[RecordHit] = []
        for members in sorted(self._clusters().values(), key=lambda m: (-len(m), m[0])):
            info = self._describe(members, total)
            clusters.append(info)
            if not info["flooding"]:
                continue
            for member in members[1:]:
                hits.append(RecordHit(
                    Family.FLOODING, "KS-DATA-FLOOD", self._ids[member],
                    f"near duplicate of {info['first']} in a cluster of {info['size']} "
                    f"records ({info['share']:.2%} of the dataset)",
                    score=info["share"],
                ))
        duplicates = {digest: n for digest, n in self._digests.items() if n > 1}
        details = {
            "records": total,
            "exact_duplicate_groups": len(duplicates),
            "exact_duplicate_copies": sum(n - 1 for n in duplicates.values()),
            "largest_exact_group": max(duplicates.values(), default=1),
            "near_duplicate_clusters": clusters,
            "minhash": {"threshold": self._options.minhash_threshold,
                        "num_perm": self._options.minhash_perm, "shingle": "word 3-gram"},
        }
        return FamilyOutcome(Family.FLOODING, True, tuple(hits), details)
