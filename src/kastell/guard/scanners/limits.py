"""Size and token limits per message (the body-size limit is enforced by the app: HTTP 413)."""

from __future__ import annotations

import re
from typing import ClassVar

from kastell.guard.interface import Action, Detection, Direction, RuleInfo, ScanContext
from kastell.guard.scanners._text import rule
from kastell.types import Severity

__all__ = ["SizeLimitScanner", "estimate_tokens"]

_TOKEN = re.compile(r"\w{1,4}|[^\w\s]")


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate of BPE tokens: word pieces of up to four characters."""
    return len(_TOKEN.findall(text))


class SizeLimitScanner:
    """Blocks a message longer than the configured characters or estimated tokens."""

    RULE = "guard.input.size_limit"
    name: ClassVar[str] = "size_limit"
    version: ClassVar[str] = "1"
    directions: ClassVar[frozenset[Direction]] = frozenset({Direction.INPUT})
    rules: ClassVar[tuple[RuleInfo, ...]] = (
        rule(
            RULE,
            "Message over the size or token limit",
            Severity.LOW,
            ("OWASP-LLM10", "ATLAS-AML.T0029", "ATLAS-AML.T0034"),
            Action.BLOCK,
        ),
    )

    def __init__(self, max_chars: int = 32_000, max_tokens: int = 8_000) -> None:
        self.max_chars = max_chars
        self.max_tokens = max_tokens

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        """Return a detection when the text is over a limit."""
        if len(text) > self.max_chars:
            return [Detection(self.RULE, f"{len(text)} characters > limit {self.max_chars}")]
        if len(text) > self.max_tokens:  # cheap pre-check: a token is at least one character
            tokens = estimate_tokens(text)
            if tokens > self.max_tokens:
                return [Detection(self.RULE, f"~{tokens} tokens > limit {self.max_tokens}")]
        return []
