"""Canary leakage: the per-session canary planted in the system prompt appears in output."""

from __future__ import annotations

from typing import ClassVar

from kastell.guard.interface import Action, Detection, Direction, RuleInfo, ScanContext
from kastell.guard.scanners._text import rule
from kastell.types import Severity

__all__ = ["CanaryLeakDetector"]


class CanaryLeakDetector:
    """Blocks an answer containing the session's canary and marks it as an incident."""

    RULE = "guard.output.canary_leak"
    name: ClassVar[str] = "canary_leak"
    version: ClassVar[str] = "1"
    directions: ClassVar[frozenset[Direction]] = frozenset({Direction.OUTPUT})
    rules: ClassVar[tuple[RuleInfo, ...]] = (
        rule(
            RULE,
            "Canary from the system prompt leaked",
            Severity.CRITICAL,
            ("OWASP-LLM07", "ATLAS-AML.T0056", "ATLAS-AML.T0051", "AIA-73.2"),
            Action.BLOCK,
            incident=True,
        ),
    )

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        """Return a detection for every occurrence of the canary (case-insensitive)."""
        canary = context.canary
        if not canary:
            return []
        lowered, needle = text.lower(), canary.lower()
        spans: list[tuple[int, int]] = []
        start = lowered.find(needle)
        while start >= 0:
            spans.append((start, start + len(needle)))
            start = lowered.find(needle, start + 1)
        if not spans:
            return []
        return [Detection(self.RULE, "the session canary appeared in the answer", tuple(spans))]
