"""Smuggled instructions: invisible or tag Unicode, bidi overrides, base64/hex payloads.

Tag characters (U+E0000..U+E007F) spell ASCII that the user cannot see; they are decoded and
screened. Long base64 or hex runs that decode to readable text are screened with the
prompt-injection patterns, so an attack cannot hide behind an encoding.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import ClassVar

from kastell.guard.interface import Action, Detection, Direction, RuleInfo, ScanContext
from kastell.guard.scanners._text import rule
from kastell.guard.scanners.injection import PromptInjectionScanner
from kastell.types import Severity

__all__ = ["SmugglingScanner"]

_INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\u206a-\u206f\ufeff\u180e\u00ad]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_TAGS = re.compile("[\U000e0000-\U000e007f]+")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}[ :]?){12,}\b")
_MIN_INVISIBLE = 3


def _readable(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(ch.isprintable() or ch.isspace() for ch in text)
    return text if text and printable / len(text) > 0.9 else None


def _decode_base64(token: str) -> str | None:
    padded = token + "=" * (-len(token) % 4)
    try:
        data = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _readable(data)


def _decode_hex(token: str) -> str | None:
    try:
        data = bytes.fromhex(re.sub(r"[ :]", "", token))
    except ValueError:
        return None
    return _readable(data)


class SmugglingScanner:
    """Flags hidden characters and blocks encoded payloads that decode to an attack."""

    INVISIBLE = "guard.input.invisible_unicode"
    ENCODED = "guard.input.encoded_payload"
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
    )

    def __init__(self) -> None:
        self._injection = PromptInjectionScanner()

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        """Return detections for hidden characters and malicious encoded runs."""
        found: list[Detection] = []
        tags = [m for m in _TAGS.finditer(text)]
        invisible = _INVISIBLE.findall(text)
        if tags or _BIDI.search(text) or len(invisible) >= _MIN_INVISIBLE:
            hidden = "".join(chr(ord(c) - 0xE0000) for m in tags for c in m.group(0))
            what = f"tag characters spelling {hidden[:60]!r}" if tags else "invisible/bidi text"
            found.append(Detection(self.INVISIBLE, what, tuple(m.span() for m in tags)))
        decoders = ((_BASE64, _decode_base64, "base64"), (_HEX, _decode_hex, "hex"))
        for pattern, decode, label in decoders:
            for match in pattern.finditer(text):
                decoded = decode(match.group(0))
                if decoded is None or not self._injection.scan(decoded, context):
                    continue
                message = f"{label} payload decodes to an injection: {decoded[:60]!r}"
                found.append(Detection(self.ENCODED, message, (match.span(),)))
                return found
        return found
