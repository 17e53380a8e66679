"""Normalisation of text before detection: folding, homoglyphs, invisible characters.

``fold`` is what the rule and classifier detectors read: lower-case, accents stripped, white
space collapsed. ``normalize`` is the form leak matching reads: NFKC, look-alike letters mapped
to Latin, invisible characters removed. ``squash`` keeps only upper-cased letters and digits, so
a secret spelled with separators still matches.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
import unicodedata

from kastell.text.interface import TextDataError

__all__ = [
    "COMMON_WORDS",
    "IGNORABLE",
    "MAYBE_LEET",
    "collapse_spacing_with_map",
    "deleet",
    "fold",
    "normalize",
    "skeleton",
    "skeleton_with_map",
    "squash",
    "squash_with_map",
]

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


# Default-ignorable code points (Unicode DerivedCoreProperties.txt, Default_Ignorable_Code_Point)
# plus the Mongolian vowel separator: invisible in rendering, so an attacker can put them
# between the letters of a word. Variation selectors (FE00-FE0F, E0100-E01EF) and tag
# characters (E0000-E007F) are in these ranges.
_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)  # fmt: skip
IGNORABLE = re.compile(
    "[" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in _IGNORABLE_RANGES) + "]"
)
"""One default-ignorable code point."""


@functools.cache
def _confusables() -> dict[str, str]:
    resource = importlib.resources.files("kastell.text").joinpath("data/confusables.json")
    try:
        table = json.loads(resource.read_text(encoding="utf-8"))["table"]
    except (OSError, KeyError, TypeError, ValueError) as error:
        raise TextDataError(f"the confusables table is unreadable ({error!r})") from None
    if not isinstance(table, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in table.items()
    ):
        raise TextDataError("the confusables table is malformed (want a string -> string map)")
    return table


def skeleton_with_map(text: str) -> tuple[str, list[int]]:
    """NFKC, default-ignorables removed, look-alikes mapped to ASCII, with source positions.

    Every character is read on its own: NFKC first (full-width and mathematical letters become
    ASCII), then the confusables table (``data/confusables.json``, generated from Unicode's
    UTS #39 data by ``tools/gen_confusables.py``) maps Cyrillic, Greek, Cherokee and other
    look-alikes to their ASCII prototype. ASCII characters are kept as they are (a TR39
    skeleton would also map ``0`` to ``O``; leetspeak is handled by ``deleet``). The list gives,
    for every output character, the index of the input character it came from.
    """
    table = _confusables()
    out: list[str] = []
    where: list[int] = []
    for index, ch in enumerate(text):
        if ch.isascii():
            out.append(ch)
            where.append(index)
            continue
        if IGNORABLE.match(ch):
            continue
        for piece in unicodedata.normalize("NFKC", ch):
            mapped = table.get(piece, piece)
            out.append(mapped)
            where.extend([index] * len(mapped))
    return "".join(out), where


def skeleton(text: str) -> str:
    """``skeleton_with_map`` without the positions."""
    return text if text.isascii() else skeleton_with_map(text)[0]


# A run of 4+ single characters each separated by one space ("I g n o r e"), or 4+ single
# letters or digits separated by the same punctuation ("i-g-n-o-r-e", "i.g.n.o.r.e").
_SPACED = re.compile(r"(?<!\S)(?:\S )+\S(?!\S)|\b\w([-._*|/·~+])(?:\w\1){2,}\w\b")
_MIN_SPACED = 2


def collapse_spacing_with_map(text: str) -> tuple[str, list[int]] | None:
    """Letter-spaced runs joined (``I g n o r e`` -> ``Ignore``), or None when there is none.

    Words of a letter-spaced phrase are told apart by a wider gap (two spaces or more), which
    is how such phrases are written to stay readable; each gap becomes one space.
    """
    out: list[str] = []
    where: list[int] = []
    last = 0
    changed = False
    for match in _SPACED.finditer(text):
        run = match.group(0)
        pieces = run.split(" ") if match.group(1) is None else run.split(match.group(1))
        if len(pieces) < _MIN_SPACED:
            continue
        between = text[last : match.start()]
        if changed and last > 0 and between.isspace():
            between = " "  # the wider gap between two spaced words
        changed = True
        out.append(between)
        where.extend(range(last, last + len(between)))
        for offset in range(match.start(), match.end(), 2):
            out.append(text[offset])
            where.append(offset)
        last = match.end()
    if not changed:
        return None
    out.append(text[last:])
    where.extend(range(last, len(text)))
    return "".join(out), where


_LEET = str.maketrans({
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
    "@": "a", "$": "s",
})  # fmt: skip
_LEET_L = {**_LEET, ord("1"): "l"}
_LEET_CHARS = "01345789@$"
# A word of 3+ letters/leet characters with a leet character between two letters ("ign0re")
# or leading two letters ("1gnore", "4ll") or two or more ending a word ("ru135"), and not an
# ordinal ("1st", "3rd", "4th").
_LEET_WORD = re.compile(
    rf"(?<![\w@$])(?![0-9]+(?:st|nd|rd|th)\b)"
    rf"(?=[\w@$]*(?:[A-Za-z][{_LEET_CHARS}]+[A-Za-z]|\b[{_LEET_CHARS}][A-Za-z]{{2}}"
    rf"|[A-Za-z]{{2}}[{_LEET_CHARS}]{{2,}}\b))"
    rf"[\w@$]{{3,}}"
)
MAYBE_LEET = re.compile(
    rf"[A-Za-z][{_LEET_CHARS}]+[A-Za-z]|(?<![\w@$])[{_LEET_CHARS}][A-Za-z]{{2}}"
    rf"|[A-Za-z]{{2}}[{_LEET_CHARS}]{{2,}}\b"
)
"""A cheap test for a leet word (``deleet`` changes nothing when it does not match)."""


COMMON_WORDS = frozenset({
    "the", "and", "you", "your", "all", "to", "of", "is", "are", "be", "it", "this", "that",
    "with", "for", "from", "now", "any", "previous", "prior", "ignore", "disregard", "forget",
    "instructions", "instruction", "rules", "rule", "prompt", "prompts", "system", "reveal",
    "secret", "say", "print", "tell", "me", "show", "above", "new", "mode", "act", "as", "no",
    "not", "do", "der", "die", "das", "und", "ist", "nicht", "du", "sie", "alle", "anweisungen",
    "regeln", "le", "la", "les", "et", "est", "vous", "tu", "tes", "toutes", "ne", "pas", "il",
    "che", "di", "e", "non", "tue", "istruzioni", "regole", "el", "los", "las", "que", "y", "es",
    "tus", "todas", "instrucciones", "reglas", "de", "het", "een", "en", "niet", "je", "regels",
    "instructies", "wszystkie", "i", "nie", "o", "os", "voce", "och", "att", "inte", "will",
    "kill", "filter", "filters", "illegal", "unlimited", "unfiltered", "jailbreak", "jailbroken"
})  # fmt: skip
"""Frequent words of the supported languages and of injections (folded)."""


def deleet(text: str) -> str | None:
    """Leetspeak words read as letters (``1gn0r3`` -> ``ignore``), or None when there is none.

    Only words that mix letters with leet digits or symbols change, so numbers (``2024``) and
    amounts stay as written. ``1`` reads as ``i``, or as ``l`` when that makes a word of
    ``COMMON_WORDS`` (``a11`` -> ``all``, ``ru135`` -> ``rules``). Each character maps to one
    character: positions are unchanged.
    """
    changed = False

    def fix(match: re.Match[str]) -> str:
        nonlocal changed
        changed = True
        word = match.group(0).translate(_LEET)
        if "1" in match.group(0):
            other = match.group(0).translate(_LEET_L)
            if other.lower() in COMMON_WORDS and word.lower() not in COMMON_WORDS:
                return other
        return word

    result = _LEET_WORD.sub(fix, text)
    return result if changed else None
