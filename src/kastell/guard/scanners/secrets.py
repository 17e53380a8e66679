"""Secrets: the guard's adapter over ``kastell.text.secrets`` (keys, tokens, credentials)."""

from __future__ import annotations

from typing import ClassVar

from kastell.guard.interface import Action, Detection, Direction, RuleInfo, ScanContext
from kastell.guard.scanners._text import rule
from kastell.text.secrets import find_secrets
from kastell.types import Severity

__all__ = ["SecretScanner"]


class SecretScanner:
    """Finds credentials; the default policy blocks input and output containing them."""

    RULE = "guard.secret"
    name: ClassVar[str] = "secrets"
    version: ClassVar[str] = "1"
    directions: ClassVar[frozenset[Direction]] = frozenset({Direction.INPUT, Direction.OUTPUT})
    rules: ClassVar[tuple[RuleInfo, ...]] = (
        rule(
            RULE,
            "Secret or credential",
            Severity.HIGH,
            ("OWASP-LLM02", "ATLAS-AML.T0057", "CRA-AI-I.2.e", "NIS2-21.2.i"),
            Action.BLOCK,
        ),
    )

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        """Return one detection naming the kinds of secrets and their spans."""
        matches = find_secrets(text)
        if not matches:
            return []
        what = ", ".join(sorted({m.rule for m in matches}))
        return [Detection(self.RULE, f"secret: {what}", tuple(sorted(m.span for m in matches)))]
