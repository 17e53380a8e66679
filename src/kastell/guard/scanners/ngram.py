"""Character n-gram injection classifier: the guard's adapter over ``kastell.text.ngram``."""

from __future__ import annotations

from typing import ClassVar

from kastell.guard.interface import Action, Detection, Direction, RuleInfo, ScanContext
from kastell.guard.scanners._text import CLASSIFIER_MAPPINGS, rule
from kastell.text.ngram import MAX_CHARS, NgramModel, char_ngrams, load_ngram_model
from kastell.types import Severity

__all__ = [
    "MAX_CHARS",
    "NgramInjectionClassifier",
    "NgramModel",
    "char_ngrams",
    "load_ngram_model",
]


class NgramInjectionClassifier:
    """Blocks inputs the n-gram model scores at or above its threshold."""

    RULE = "guard.input.ngram_injection"
    name: ClassVar[str] = "ngram_injection"
    version: ClassVar[str] = "1"
    directions: ClassVar[frozenset[Direction]] = frozenset({Direction.INPUT})
    rules: ClassVar[tuple[RuleInfo, ...]] = (
        rule(
            RULE,
            "Prompt injection or jailbreak (character n-gram classifier)",
            Severity.HIGH,
            CLASSIFIER_MAPPINGS,
            Action.BLOCK,
        ),
    )

    def __init__(self, model: NgramModel | None = None) -> None:
        self.model = model if model is not None else load_ngram_model()

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        """Return a detection when the probability reaches the model's threshold."""
        if context.role == "assistant" or not text.strip():
            return []
        p = self.model.screen_probability(text)
        if p >= self.model.threshold:
            return [
                Detection(
                    self.RULE,
                    f"n-gram classifier probability {p:.2f} >= {self.model.threshold:.2f}",
                )
            ]
        return []
