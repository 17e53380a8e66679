"""Converters that hide or disguise text with Unicode: homoglyphs, zero-width and tag characters."""

from __future__ import annotations

from typing import ClassVar

__all__ = ["HomoglyphConverter", "TagCharacterConverter", "ZeroWidthConverter"]

# Latin letters -> Cyrillic/Greek look-alikes.
_HOMOGLYPHS = str.maketrans({
    "a": "\u0430", "c": "\u0441", "e": "\u0435", "o": "\u043e", "p": "\u0440", "x": "\u0445",
    "y": "\u0443", "i": "\u0456", "A": "\u0391", "B": "\u0392", "E": "\u0395", "H": "\u0397",
    "K": "\u039a", "M": "\u039c", "O": "\u039f", "P": "\u03a1", "T": "\u03a4", "X": "\u03a7",
})
_ZERO_WIDTH_SPACE = "\u200b"
_TAG_BASE = 0xE0000


class HomoglyphConverter:
    """Swap Latin letters for visually identical Cyrillic/Greek ones (keyword-filter evasion)."""

    name: ClassVar[str] = "homoglyph"
    version: ClassVar[int] = 1

    def convert(self, text: str) -> str:
        """Return ``text`` with homoglyphs."""
        return text.translate(_HOMOGLYPHS)


class ZeroWidthConverter:
    """Insert a zero-width space inside every word longer than three letters."""

    name: ClassVar[str] = "zero_width"
    version: ClassVar[int] = 1

    def convert(self, text: str) -> str:
        """Return ``text`` with zero-width spaces splitting words."""
        words = text.split(" ")
        return " ".join(
            w[: len(w) // 2] + _ZERO_WIDTH_SPACE + w[len(w) // 2 :] if len(w) > 3 else w
            for w in words
        )


class TagCharacterConverter:
    """Append the text again as invisible Unicode tag characters (U+E0020..U+E007E).

    Text outside printable ASCII cannot be written in tag characters and is dropped from the
    invisible copy; the visible text is replaced by an innocuous request.
    """

    name: ClassVar[str] = "unicode_tags"
    version: ClassVar[int] = 1

    def convert(self, text: str) -> str:
        """Return a benign visible request followed by ``text`` in tag characters."""
        hidden = "".join(chr(_TAG_BASE + ord(ch)) for ch in text if 0x20 <= ord(ch) <= 0x7E)
        return "Please answer the question in this message." + hidden
