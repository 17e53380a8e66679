"""Personal data: the guard's adapter over ``kastell.text.pii`` (EU formats, checksums)."""

from __future__ import annotations

from typing import ClassVar

from kastell.guard.interface import Action, Detection, Direction, RuleInfo, ScanContext
from kastell.guard.scanners._text import rule
from kastell.text.pii import find_pii
from kastell.types import Severity

__all__ = ["PiiScanner"]


class PiiScanner:
    """Finds personal data; the default policy redacts it on input and output."""

    RULE = "guard.pii"
    name: ClassVar[str] = "pii"
    version: ClassVar[str] = "1"
    directions: ClassVar[frozenset[Direction]] = frozenset({Direction.INPUT, Direction.OUTPUT})
    rules: ClassVar[tuple[RuleInfo, ...]] = (
        rule(
            RULE,
            "Personal data (EU formats)",
            Severity.MEDIUM,
            ("OWASP-LLM02", "ATLAS-AML.T0057", "NIS2-21.2.i", "CRA-AI-I.2.e"),
            Action.REDACT,
        ),
    )

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        """Return one detection listing the kinds and spans of personal data found."""
        matches = find_pii(text)
        if not matches:
            return []
        kinds_text = ", ".join(sorted({m.rule for m in matches}))
        spans = tuple(sorted(m.span for m in matches))
        return [Detection(self.RULE, f"personal data: {kinds_text}", spans)]
