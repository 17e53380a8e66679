"""Toxicity in answers: the guard's adapter over ``kastell.text.toxicity`` (offline lexicon)."""

from __future__ import annotations

from typing import ClassVar

from kastell.guard.interface import Action, Detection, Direction, RuleInfo, ScanContext
from kastell.guard.scanners._text import rule
from kastell.text.toxicity import find_toxicity, toxicity_lexicon
from kastell.types import Severity

__all__ = ["ToxicityScanner", "toxicity_lexicon"]


class ToxicityScanner:
    """Flags answers with insults, slurs or threats from the offline lexicon."""

    RULE = "guard.output.toxicity"
    name: ClassVar[str] = "toxicity"
    version: ClassVar[str] = "1"
    directions: ClassVar[frozenset[Direction]] = frozenset({Direction.OUTPUT})
    rules: ClassVar[tuple[RuleInfo, ...]] = (
        rule(
            RULE,
            "Toxic or threatening language",
            Severity.MEDIUM,
            ("OWASP-LLM05", "AIA-15.4"),
            Action.BLOCK,
        ),
    )

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        """Return a detection naming the first abusive word or threat found."""
        for match in find_toxicity(text):
            what = "threat" if match.rule == "threat" else "abusive language"
            return [Detection(self.RULE, f"{what}: {match.detail!r}")]
        return []
