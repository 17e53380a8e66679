"""Hidden characters: invisible formatting, Unicode tag characters and bidi overrides.

Tag characters (U+E0000..U+E007F) spell ASCII the reader cannot see; the match's ``detail``
holds what they spell. A few zero-width characters are common in ordinary text (joiners in
emoji and some scripts), so invisible formatting counts from ``MIN_INVISIBLE`` on.
"""

from __future__ import annotations

import re

from kastell.text.interface import Family, TextMatch

__all__ = ["MIN_INVISIBLE", "find_hidden"]

_INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\u206a-\u206f\ufeff\u180e\u00ad]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_TAGS = re.compile("[\U000e0000-\U000e007f]+")
MIN_INVISIBLE = 3
"""Fewest invisible formatting characters that count (tags and bidi overrides count at one)."""


def find_hidden(text: str) -> list[TextMatch]:
    """One match (rule ``tags``, ``bidi`` or ``invisible``) when hidden characters are present.

    ``span`` is the first tag run (or the whole text); ``detail`` what the tags spell.
    """
    if text.isascii():
        return []
    tags = list(_TAGS.finditer(text))
    if tags:
        hidden = "".join(chr(ord(c) - 0xE0000) for m in tags for c in m.group(0))
        return [TextMatch(Family.HIDDEN, "tags", tags[0].span(), "plain", hidden, tags[0].span())]
    whole = (0, len(text))
    if _BIDI.search(text):
        return [TextMatch(Family.HIDDEN, "bidi", whole)]
    if len(_INVISIBLE.findall(text)) >= MIN_INVISIBLE:
        return [TextMatch(Family.HIDDEN, "invisible", whole)]
    return []
