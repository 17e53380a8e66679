"""System-prompt leakage: the answer repeats a run of words from the system prompt."""

from __future__ import annotations

from typing import ClassVar

from kastell.guard.interface import Action, Detection, Direction, RuleInfo, ScanContext
from kastell.guard.scanners._text import rule
from kastell.text.leaks import PromptLeakMatcher
from kastell.types import Severity

__all__ = ["SystemPromptLeakDetector"]


class SystemPromptLeakDetector:
    """Blocks an answer sharing ``window`` consecutive words with the system prompt."""

    RULE = "guard.output.system_prompt_leak"
    name: ClassVar[str] = "system_prompt_leak"
    version: ClassVar[str] = "1"
    directions: ClassVar[frozenset[Direction]] = frozenset({Direction.OUTPUT})
    rules: ClassVar[tuple[RuleInfo, ...]] = (
        rule(
            RULE,
            "System prompt leaked",
            Severity.HIGH,
            ("OWASP-LLM07", "ATLAS-AML.T0056"),
            Action.BLOCK,
        ),
    )

    def __init__(self, window: int = 8) -> None:
        self.window = window
        self._matcher = PromptLeakMatcher("", window=window)

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        """Return a detection when a run of ``window`` words of the system prompt is repeated."""
        prompt = context.system_prompt
        if not prompt:
            return []
        if self._matcher.prompt != prompt:
            self._matcher = PromptLeakMatcher(prompt, window=self.window)
        return [
            Detection(self.RULE, f"repeats the system prompt: {match.detail!r}")
            for match in self._matcher.find(text)
        ]
