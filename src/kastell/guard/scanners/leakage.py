"""System-prompt leakage: the answer repeats a run of words from the system prompt."""

from __future__ import annotations

import re
from typing import ClassVar

from kastell.guard.interface import Action, Detection, Direction, RuleInfo, ScanContext
from kastell.guard.scanners._text import fold, rule
from kastell.types import Severity

__all__ = ["SystemPromptLeakDetector"]

_WORD = re.compile(r"\w+")


def _shingles(text: str, size: int) -> set[tuple[str, ...]]:
    words = _WORD.findall(fold(text))
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


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
        self._cache: tuple[str, set[tuple[str, ...]]] = ("", set())

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        """Return a detection when a run of ``window`` words of the system prompt is repeated."""
        prompt = context.system_prompt
        if not prompt:
            return []
        if self._cache[0] != prompt:
            self._cache = (prompt, _shingles(prompt, self.window))
        reference = self._cache[1]
        if not reference:
            return []
        for shingle in _shingles(text, self.window):
            if shingle in reference:
                return [Detection(self.RULE, f"repeats the system prompt: {' '.join(shingle)!r}")]
        return []
