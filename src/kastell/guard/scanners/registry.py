"""The explicit list of guard scanners; the contract test iterates over it."""

from __future__ import annotations

from kastell.guard.interface import RuleInfo, Scanner
from kastell.guard.scanners.canary import CanaryLeakDetector
from kastell.guard.scanners.injection import PromptInjectionScanner
from kastell.guard.scanners.leakage import SystemPromptLeakDetector
from kastell.guard.scanners.limits import SizeLimitScanner
from kastell.guard.scanners.markup import MarkupInjectionScanner
from kastell.guard.scanners.ml import MlInjectionClassifier
from kastell.guard.scanners.ngram import NgramInjectionClassifier
from kastell.guard.scanners.pii import PiiScanner
from kastell.guard.scanners.secrets import SecretScanner
from kastell.guard.scanners.smuggling import SmugglingScanner
from kastell.guard.scanners.toxicity import ToxicityScanner

__all__ = ["OPTIONAL_SCANNER_TYPES", "SCANNER_TYPES", "all_rules", "default_scanners"]

SCANNER_TYPES: tuple[type[Scanner], ...] = (
    SizeLimitScanner,
    SmugglingScanner,
    PromptInjectionScanner,
    NgramInjectionClassifier,
    SecretScanner,
    PiiScanner,
    CanaryLeakDetector,
    SystemPromptLeakDetector,
    MarkupInjectionScanner,
    ToxicityScanner,
)

OPTIONAL_SCANNER_TYPES: tuple[type[Scanner], ...] = (MlInjectionClassifier,)
"""Scanners enabled by config only (they need an extra: ``guard-ml``)."""


def default_scanners(
    *, max_chars: int = 32_000, max_tokens: int = 8_000, ml_classifier: bool = False
) -> list[Scanner]:
    """One instance of every registered scanner, with the given limits (+ the ML classifier)."""
    scanners: list[Scanner] = []
    for scanner_type in SCANNER_TYPES:
        if scanner_type is SizeLimitScanner:
            scanners.append(SizeLimitScanner(max_chars=max_chars, max_tokens=max_tokens))
        else:
            scanners.append(scanner_type())
    if ml_classifier:
        scanners.append(MlInjectionClassifier())
    return scanners


def all_rules() -> dict[str, RuleInfo]:
    """Every rule of every registered scanner, by rule id."""
    types = (*SCANNER_TYPES, *OPTIONAL_SCANNER_TYPES)
    return {info.rule_id: info for t in types for info in t.rules}
