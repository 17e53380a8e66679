"""Canary leakage: the session canary appears in output, in any form ``SecretMatcher`` finds."""

from __future__ import annotations

from typing import ClassVar

from kastell.guard.interface import Action, Detection, Direction, RuleInfo, ScanContext
from kastell.guard.scanners._text import rule
from kastell.text.leaks import SecretMatcher
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
        """Return a detection when the canary appears: exact, normalised, encoded or partial."""
        canary = context.canary
        if not canary:
            return []
        matches = SecretMatcher([canary], labels=["canary"]).find(text)
        if not matches:
            return []
        forms = ", ".join(sorted({m.form for m in matches}))
        spans = tuple(sorted({m.span for m in matches}))
        return [Detection(self.RULE, f"the session canary appeared in the answer ({forms})", spans)]
