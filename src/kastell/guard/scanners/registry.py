"""The explicit list of guard scanners; the contract test iterates over it."""

from __future__ import annotations

from kastell.guard.interface import RuleInfo, Scanner
from kastell.guard.scanners.canary import CanaryLeakDetector
from kastell.guard.scanners.injection import PromptInjectionScanner
from kastell.guard.scanners.leakage import SystemPromptLeakDetector
from kastell.guard.scanners.limits import SizeLimitScanner
from kastell.guard.scanners.markup import MarkupInjectionScanner
from kastell.guard.scanners.pii import PiiScanner
from kastell.guard.scanners.secrets import SecretScanner
from kastell.guard.scanners.smuggling import SmugglingScanner
from kastell.guard.scanners.toxicity import ToxicityScanner

__all__ = ["SCANNER_TYPES", "all_rules", "default_scanners"]

SCANNER_TYPES: tuple[type[Scanner], ...] = (
    SizeLimitScanner,
    SmugglingScanner,
    PromptInjectionScanner,
    SecretScanner,
    PiiScanner,
    CanaryLeakDetector,
    SystemPromptLeakDetector,
    MarkupInjectionScanner,
    ToxicityScanner,
)


def default_scanners(*, max_chars: int = 32_000, max_tokens: int = 8_000) -> list[Scanner]:
    """One instance of every registered scanner, with the given limits."""
    scanners: list[Scanner] = []
    for scanner_type in SCANNER_TYPES:
        if scanner_type is SizeLimitScanner:
            scanners.append(SizeLimitScanner(max_chars=max_chars, max_tokens=max_tokens))
        else:
            scanners.append(scanner_type())
    return scanners


def all_rules() -> dict[str, RuleInfo]:
    """Every rule of every registered scanner, by rule id."""
    return {info.rule_id: info for t in SCANNER_TYPES for info in t.rules}
