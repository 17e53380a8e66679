"""Normalisation of text before detection: folding, homoglyphs, invisible characters.

``fold`` is what the rule and classifier detectors read: lower-case, accents stripped, white
space collapsed. ``normalize`` is the form leak matching reads: NFKC, look-alike letters mapped
to Latin, invisible characters removed. ``squash`` keeps only upper-cased letters and digits, so
a secret spelled with separators still matches.
"""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = ["fold", "normalize", "squash", "squash_with_map"]

_SPACES = re.compile(r"\s+")
_INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff\U000e0000-\U000e007f]")
_FOLD = str.maketrans({
    "\u0430": "a", "\u0441": "c", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0445": "x",
    "\u0443": "y", "\u0456": "i", "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0397": "H",
    "\u039a": "K", "\u039c": "M", "\u039f": "O", "\u03a1": "P", "\u03a4": "T", "\u03a7": "X",
    "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041a": "K", "\u041c": "M", "\u041d": "H",
    "\u041e": "O", "\u0420": "P", "\u0421": "C", "\u0422": "T", "\u0425": "X",
})  # fmt: skip


@functools.lru_cache(maxsize=256)
def fold(text: str) -> str:
    """Lower-case, strip accents and collapse whitespace, keeping character positions loose.

    Several detectors fold the same text one after the other; the small cache makes that one
    pass (the argument is the text itself, so a hit can only return that text's folding).
    """
    if text.isascii():
        return _SPACES.sub(" ", text.lower())
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold())


def normalize(text: str) -> str:
    """NFKC, homoglyphs folded to Latin, invisible characters removed, whitespace collapsed."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).translate(_FOLD)
    return " ".join(text.split())


def squash(text: str) -> str:
    """Upper-case alphanumerics only (so ``azure falcon-42`` matches ``AZURE-FALCON-42``)."""
    return "".join(ch for ch in normalize(text).upper() if ch.isalnum())


def squash_with_map(text: str) -> tuple[str, list[int]]:
    """``squash`` character by character, with the index in ``text`` of every kept character.

    Used to turn a match in the squashed text back into a span of the original (for
    redaction). Each character is normalised on its own, which equals ``squash`` except for
    rare compositions across characters.
    """
    out: list[str] = []
    where: list[int] = []
    for index, ch in enumerate(text):
        if ch.isascii():
            if ch.isalnum():
                out.append(ch.upper())
                where.append(index)
            continue
        for piece in unicodedata.normalize("NFKC", ch).translate(_FOLD).upper():
            if piece.isalnum():
                out.append(piece)
                where.append(index)
    return "".join(out), where
