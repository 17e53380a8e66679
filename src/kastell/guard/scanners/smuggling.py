"""Smuggled instructions: the guard's adapter over ``kastell.text``.

Hidden characters come from ``kastell.text.hidden``; an injection found in a decoded or
transformed view (base64, base32, base85, hex, binary, escapes, URL-encoding, quoted-printable,
ROT13, reversed, nested) is an encoded payload; a decoding bound crossed blocks by default
(fail closed: part of the text could not be read fully; a policy may relax it to ``flag``).
"""

from __future__ import annotations

from typing import ClassVar

from kastell.guard.interface import Action, Detection, Direction, RuleInfo, ScanContext
from kastell.guard.scanners._text import rule
from kastell.text.hidden import find_hidden
from kastell.text.injection import find_injection
from kastell.text.interface import Family
from kastell.text.views import screen_views
from kastell.types import Severity

__all__ = ["SmugglingScanner"]


class SmugglingScanner:
    """Flags hidden characters and blocks encoded payloads that decode to an attack."""

    INVISIBLE = "guard.input.invisible_unicode"
    ENCODED = "guard.input.encoded_payload"
    DECODE_LIMIT = "guard.input.decode_limit"
    name: ClassVar[str] = "smuggling"
    version: ClassVar[str] = "1"
    directions: ClassVar[frozenset[Direction]] = frozenset({Direction.INPUT})
    rules: ClassVar[tuple[RuleInfo, ...]] = (
        rule(
            INVISIBLE,
            "Invisible, tag or bidi-override Unicode",
            Severity.MEDIUM,
            ("OWASP-LLM01", "ATLAS-AML.T0068"),
            Action.BLOCK,
        ),
        rule(
            ENCODED,
            "Encoded payload hiding an injection",
            Severity.HIGH,
            ("OWASP-LLM01", "ATLAS-AML.T0068", "ATLAS-AML.T0051"),
            Action.BLOCK,
        ),
        rule(
            DECODE_LIMIT,
            "Encoded content past the decoding bounds (not fully screened)",
            Severity.MEDIUM,
            ("OWASP-LLM01", "ATLAS-AML.T0068"),
            Action.BLOCK,
        ),
    )

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        """Return detections for hidden characters, encoded injections and crossed bounds."""
        found: list[Detection] = []
        for match in find_hidden(text):
            if match.rule == "tags":
                what = f"tag characters spelling {match.detail[:60]!r}"
                found.append(Detection(self.INVISIBLE, what, (match.span,)))
            else:
                found.append(Detection(self.INVISIBLE, "invisible/bidi text"))
        for match in find_injection(text):
            if match.family is Family.ENCODED:
                message = f"{match.view} payload decodes to an injection: {match.detail[:60]!r}"
                found.append(Detection(self.ENCODED, message, (match.span,)))
        limits = screen_views(text).limits
        if limits:
            found.append(Detection(self.DECODE_LIMIT, "; ".join(limits)))
        return found
