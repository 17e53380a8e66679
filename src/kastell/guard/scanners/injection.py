"""Prompt-injection and jailbreak rules: the guard's adapter over ``kastell.text.injection``."""

from __future__ import annotations

import re
from typing import ClassVar

from kastell.guard.interface import Action, Detection, Direction, RuleInfo, ScanContext
from kastell.guard.scanners._text import rule
from kastell.text.injection import find_injection, jailbreak_score
from kastell.text.injection import injection_patterns as _family_patterns
from kastell.text.interface import Family
from kastell.types import Severity

__all__ = ["PromptInjectionScanner", "injection_patterns", "jailbreak_score"]


class PromptInjectionScanner:
    """Flags instructions that try to override the system prompt or unlock a persona."""

    INJECTION = "guard.input.prompt_injection"
    JAILBREAK = "guard.input.jailbreak"
    RULE_OF: ClassVar[dict[Family, str]] = {
        Family.INJECTION: INJECTION,
        Family.JAILBREAK: JAILBREAK,
    }
    name: ClassVar[str] = "prompt_injection"
    version: ClassVar[str] = "1"
    directions: ClassVar[frozenset[Direction]] = frozenset({Direction.INPUT})
    rules: ClassVar[tuple[RuleInfo, ...]] = (
        rule(
            INJECTION,
            "Prompt injection",
            Severity.HIGH,
            ("OWASP-LLM01", "ATLAS-AML.T0051", "AIA-15.5.AE", "CRA-AI-I.2.d"),
            Action.BLOCK,
        ),
        rule(
            JAILBREAK,
            "Jailbreak attempt",
            Severity.HIGH,
            ("OWASP-LLM01", "ATLAS-AML.T0054", "AIA-15.5.AE"),
            Action.BLOCK,
        ),
    )

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        """Return one detection per rule whose patterns match the folded text."""
        found: list[Detection] = []
        for match in find_injection(text):
            if match.family not in self.RULE_OF:
                continue  # encoded payloads: the smuggling scanner's rule
            if match.rule == "persona_signals":
                message = f"jailbreak persona signals, score {match.detail}"
            else:
                message = f"matched {match.detail[:60]!r}"
            if match.view != "plain":
                message += f" ({match.view} view)"
            found.append(Detection(self.RULE_OF[match.family], message))
        return found


def injection_patterns() -> dict[str, list[re.Pattern[str]]]:
    """The compiled patterns, by guard rule id (exposed for docs and tests)."""
    rule_of = PromptInjectionScanner.RULE_OF
    return {rule_of[family]: patterns for family, patterns in _family_patterns().items()}
