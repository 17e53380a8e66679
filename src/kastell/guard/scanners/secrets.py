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
    TOOL_TOKEN = "guard.input.token_in_tool_output"
    FLAG_IN_TOOL_OUTPUT: ClassVar[frozenset[str]] = frozenset({"jwt"})
    """Kinds that tool results (documentation, API samples) carry routinely: flagged, not
    blocked, when they are all a tool result holds (any other kind, or any other role, blocks)."""
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
        rule(
            TOOL_TOKEN,
            "Sample-looking token (JWT) in a tool result",
            Severity.LOW,
            ("OWASP-LLM02", "ATLAS-AML.T0057"),
            Action.FLAG,
        ),
    )

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        """Return one detection naming the kinds of secrets and their spans."""
        matches = find_secrets(text)
        if not matches:
            return []
        kinds = {m.rule for m in matches}
        what = ", ".join(sorted(kinds))
        spans = tuple(sorted({m.span for m in matches}))
        if context.role == "tool" and kinds <= self.FLAG_IN_TOOL_OUTPUT:
            return [Detection(self.TOOL_TOKEN, f"token in a tool result: {what}", spans)]
        return [Detection(self.RULE, f"secret: {what}", spans)]
