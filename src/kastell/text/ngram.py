"""Prompt-injection and jailbreak classifier over character n-grams (core, no torch, no numpy).

The text is accent-folded and lower-cased (as the rule scanners see it), split on white space,
and every word, padded with one space on each side, yields its character 3-, 4- and 5-grams.
The features are TF-IDF weights (``1 + ln(count)`` times the n-gram's IDF, L2-normalised over
the n-grams the model knows) and the score is a logistic regression over them. The model file
``kastell/text/data/ngram_model.json`` holds, for every known n-gram, its IDF and its weight,
plus the bias, the decision threshold and how it was trained (``benchmarks/guard_detection.py
train-ngram``: training data, split, threshold rule). The same ``char_ngrams`` function is used
to train and to score, so the two cannot drift apart.

Scoring is one pass over the text with dictionary look-ups: about a microsecond per character
in CPython, so a 2,000-character prompt costs about 2 ms. Texts longer than ``MAX_CHARS`` are
featurised on their start and end (each ``MAX_CHARS // 2`` characters) by ``char_ngrams``;
``screen_probability``, which the guard uses, also scores overlapping windows, so nothing is
left unread.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import json
import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

from kastell.text.interface import TextDataError
from kastell.text.normalize import fold
from kastell.text.views import screen_views

__all__ = [
    "MAX_CHARS",
    "WINDOW_CHARS",
    "NgramModel",
    "char_ngrams",
    "load_ngram_model",
]

MAX_CHARS = 16_000
"""Longest text scored whole; longer texts are scored on their first and last halves of it."""

WINDOW_CHARS = 2_000
"""Texts longer than this are also scored in windows of this size overlapping by half."""

_SIZES = (3, 4, 5)


def char_ngrams(text: str) -> list[str]:
    """The character 3/4/5-grams of every space-padded word of the folded text, in order.

    A padded word no longer than an n-gram size contributes itself once (and no longer n-grams).
    """
    if len(text) > MAX_CHARS:
        half = MAX_CHARS // 2
        text = f"{text[:half]} {text[-half:]}"
    grams: list[str] = []
    for word in fold(text).split():
        grams.extend(_word_grams(word))
    return grams


@functools.lru_cache(maxsize=8192)
def _word_grams(word: str) -> tuple[str, ...]:
    """The n-grams of one folded word (cached: most words of a prompt are common words)."""
    padded = f" {word} "
    length = len(padded)
    grams: list[str] = []
    for size in _SIZES:
        if length <= size:
            grams.append(padded)
            break
        grams.extend(padded[i : i + size] for i in range(length - size + 1))
    return tuple(grams)


@dataclasses.dataclass(frozen=True)
class NgramModel:
    """A trained model: per n-gram ``(idf, weight)``, the bias, the threshold, provenance."""

    terms: Mapping[str, tuple[float, float]]
    bias: float
    threshold: float
    provenance: Mapping[str, Any]

    def probability(self, text: str) -> float:
        """The model's probability that ``text`` is a prompt injection or jailbreak."""
        lookup = self.terms.get
        dot = 0.0
        norm = 0.0
        for gram, count in Counter(char_ngrams(text)).items():
            entry = lookup(gram)
            if entry is None:
                continue
            idf, weight = entry
            value = idf if count == 1 else (1.0 + math.log(count)) * idf
            dot += weight * value
            norm += value * value
        z = self.bias + (dot / math.sqrt(norm) if norm > 0.0 else 0.0)
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def screen_probability(self, text: str) -> float:
        """The highest probability over the normalising views and overlapping windows.

        The views are those of ``kastell.text.views`` that keep the text's words (as written,
        normalised, de-spaced, de-leeted); a view longer than ``WINDOW_CHARS`` is scored whole
        and in windows of ``WINDOW_CHARS`` characters stepping by half of it, so a short
        injection after pages of benign text is scored on its own neighbourhood. Nothing is
        truncated: every character is in at least one window.
        """
        best = 0.0
        for view in screen_views(text).by_kind(decoded=False):
            best = max(best, self.probability(view.text))
            for window in _windows(view.text):
                best = max(best, self.probability(window))
        return best


def _windows(text: str) -> list[str]:
    if len(text) <= WINDOW_CHARS:
        return []
    step = WINDOW_CHARS // 2
    starts = range(0, len(text) - step, step)
    return [text[start : start + WINDOW_CHARS] for start in starts]


def _model_from_json(document: Mapping[str, Any]) -> NgramModel:
    try:
        terms = {str(g): (float(v[0]), float(v[1])) for g, v in document["terms"].items()}
        return NgramModel(
            terms=terms,
            bias=float(document["bias"]),
            threshold=float(document["threshold"]),
            provenance=dict(document.get("provenance", {})),
        )
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise TextDataError(
            f"the n-gram model file is malformed ({error!r})",
            hint="Reinstall kastell; the model ships in kastell/text/data/ngram_model.json.",
        ) from None


_CACHE: list[NgramModel] = []


def load_ngram_model() -> NgramModel:
    """The shipped model (read once per process; it is immutable)."""
    if not _CACHE:
        text = (
            importlib.resources.files("kastell.text")
            .joinpath("data/ngram_model.json")
            .read_text(encoding="utf-8")
        )
        _CACHE.append(_model_from_json(json.loads(text)))
    return _CACHE[0]
