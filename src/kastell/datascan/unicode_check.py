"""Unusual Unicode in otherwise plain text: invisible, control and private-use characters.

Also letters of another script hidden inside a Latin word.

A field counts as plain when at least 95% of its letters are Latin. These are flagged with
their span: format characters (only in a plain field; other scripts and emoji sequences use
joiners legitimately) (Unicode category Cf: zero-width spaces and joiners,
bidirectional controls, the tag block U+E0000-U+E007F), private-use (Co) and unassigned (Cn)
code points, control characters other than tab, line feed and carriage return, and a Cyrillic
or Greek letter between two Latin letters (a homoglyph). Such characters are a known way to
hide a backdoor trigger from a human reviewer (see docs/datascan.md).
"""

from __future__ import annotations

import dataclasses
import unicodedata

__all__ = ["UnicodeOddity", "unusual_unicode"]

_ALLOWED_CONTROLS = frozenset("\t\n\r")
_PLAIN_SHARE = 0.95


@dataclasses.dataclass(frozen=True)
class UnicodeOddity:
    """One unusual character: where it is and what it is."""

    start: int
    codepoint: int
    reason: str


def _script(char: str) -> str:
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0] if name else ""


def _is_latin(char: str) -> bool:
    return char.isascii() or _script(char) == "LATIN"


def _plain(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    latin = sum(1 for c in letters if _is_latin(c))
    return latin >= _PLAIN_SHARE * len(letters)


def _reason(text: str, index: int) -> str | None:
    char = text[index]
    category = unicodedata.category(char)
    if category == "Cf":
        return "invisible format character"
    if category == "Co":
        return "private-use character"
    if category == "Cn":
        return "unassigned code point"
    if category == "Cc" and char not in _ALLOWED_CONTROLS:
        return "control character"
    if char.isalpha() and not _is_latin(char) and _script(char) in ("CYRILLIC", "GREEK"):
        before = index > 0 and text[index - 1].isalpha() and _is_latin(text[index - 1])
        after = index + 1 < len(text) and text[index + 1].isalpha() and _is_latin(text[index + 1])
        if before or after:
            return f"{_script(char).lower()} letter inside a latin word"
    return None


def unusual_unicode(text: str, limit: int = 16) -> tuple[UnicodeOddity, ...]:
    """The unusual characters of ``text`` (format characters only when the text is plain)."""
    if text.isascii():
        return tuple(
            UnicodeOddity(i, ord(c), "control character")
            for i, c in enumerate(text) if (ord(c) < 32 or ord(c) == 127)
            and c not in _ALLOWED_CONTROLS
        )[:limit]
    plain = _plain(text)
    found: list[UnicodeOddity] = []
    for index, char in enumerate(text):
        if char.isascii() and char.isprintable():
            continue
        reason = _reason(text, index)
        if reason is None or (reason.startswith("invisible") and not plain):
            continue
        found.append(UnicodeOddity(index, ord(char), reason))
        if len(found) >= limit:
            break
    return tuple(found)
