# ruff: noqa: E501 - regex tables read better unwrapped
"""Markup and script injection in answers: script tags, event handlers, exfiltrating images."""

from __future__ import annotations

import re
from typing import ClassVar

from kastell.guard.interface import Action, Detection, Direction, RuleInfo, ScanContext
from kastell.guard.scanners._text import rule
from kastell.types import Severity

__all__ = ["MarkupInjectionScanner"]

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("script_tag", re.compile(r"<\s*script\b", re.IGNORECASE)),
    ("active_tag", re.compile(r"<\s*(?:iframe|object|embed|form|meta|base|svg)\b", re.IGNORECASE)),
    ("event_handler", re.compile(r"<[^>]{0,200}\son[a-z]{3,20}\s*=", re.IGNORECASE)),
    ("script_url", re.compile(r"(?:javascript|vbscript|data:text/html)\s*:", re.IGNORECASE)),
    (
        "exfil_image",
        re.compile(r"!\[[^\]]{0,200}\]\(\s*https?://[^)\s]{1,500}\?[^)\s]{8,}", re.IGNORECASE),
    ),
    (
        "exfil_img_tag",
        re.compile(
            r"<\s*img\b[^>]{0,300}src\s*=\s*[\"']?https?://[^\"'\s>]*\?[^\"'\s>]{8,}", re.IGNORECASE
        ),
    ),
]


class MarkupInjectionScanner:
    """Blocks answers that would run code or leak data when rendered as HTML or Markdown."""

    RULE = "guard.output.markup_injection"
    name: ClassVar[str] = "markup_injection"
    version: ClassVar[str] = "1"
    directions: ClassVar[frozenset[Direction]] = frozenset({Direction.OUTPUT})
    rules: ClassVar[tuple[RuleInfo, ...]] = (
        rule(
            RULE,
            "Script or markup injection in the answer",
            Severity.HIGH,
            ("OWASP-LLM05", "ATLAS-AML.T0077"),
            Action.BLOCK,
        ),
    )

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        """Return one detection naming the kinds of active markup found."""
        kinds: list[str] = []
        spans: list[tuple[int, int]] = []
        for kind, pattern in _PATTERNS:
            match = pattern.search(text)
            if match:
                kinds.append(kind)
                spans.append(match.span())
        if not kinds:
            return []
        return [Detection(self.RULE, f"active markup: {', '.join(kinds)}", tuple(sorted(spans)))]
