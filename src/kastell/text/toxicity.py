"""Toxicity from an offline lexicon of abuse and threats (en, de, fr, it, es).

A lexicon is blunt: it catches explicit insults, slurs and threats of violence, not subtle
hostility. Words are matched whole, on accent-folded lower-case text.
"""

from __future__ import annotations

import functools
import re

from kastell.text.interface import Family, TextMatch
from kastell.text.normalize import fold

__all__ = ["find_toxicity", "toxicity_lexicon"]

_INSULTS = {
    "en": "fuck fucking fucker motherfucker shit bullshit asshole bitch bastard cunt dickhead "
    "retard idiot moron imbecile scumbag whore slut",
    "de": "arschloch scheisse scheiss wichser fotze hurensohn schlampe missgeburt spast "
    "vollidiot drecksau mistkerl",
    "fr": "connard connasse salope encule putain merde batard abruti pute ordure",
    "it": "stronzo stronza vaffanculo cazzo coglione puttana troia bastardo merda",
    "es": "gilipollas cabron cabrona puta mierda hijo de puta pendejo imbecil zorra",
}
_THREATS = [
    r"\bi (?:will|am going to|'ll) (?:kill|murder|hurt|rape|stab|shoot) you\b",
    r"\byou (?:should|deserve to|ought to) (?:die|be killed|kill yourself)\b",
    r"\bkill yourself\b",
    r"\bich (?:werde|bringe) dich (?:umbringen|toten|um)\b",
    r"\bje vais te tuer\b|\bva te faire foutre\b",
    r"\bti ammazzo\b|\bti uccidero\b",
    r"\bte voy a matar\b|\bmuerete\b",
]


def toxicity_lexicon() -> dict[str, list[str]]:
    """The lexicon by language (single words and short phrases)."""
    lexicon: dict[str, list[str]] = {}
    for language, words in _INSULTS.items():
        phrases = ["hijo de puta"] if language == "es" else []
        rest = words.replace("hijo de puta", "") if language == "es" else words
        lexicon[language] = sorted(set(rest.split()) | set(phrases))
    return lexicon


@functools.cache
def _compiled() -> tuple[tuple[re.Pattern[str], ...], re.Pattern[str]]:
    words = sorted({w for ws in toxicity_lexicon().values() for w in ws}, key=len, reverse=True)
    alternation = "|".join(re.escape(w) for w in words)
    return tuple(re.compile(p) for p in _THREATS), re.compile(rf"\b(?:{alternation})\b")


def find_toxicity(text: str) -> list[TextMatch]:
    """The first threat, else the first abusive word, in the folded text (empty when clean).

    ``rule`` is ``threat`` or ``abuse``; spans are those of the ``folded`` view.
    """
    folded = fold(text)
    threats, words = _compiled()
    whole = (0, len(text))
    for pattern in threats:
        match = pattern.search(folded)
        if match:
            detail, span = match.group(0), match.span()
            return [TextMatch(Family.TOXICITY, "threat", whole, "folded", detail, span)]
    match = words.search(folded)
    if match:
        return [TextMatch(Family.TOXICITY, "abuse", whole, "folded", match.group(0), match.span())]
    return []
