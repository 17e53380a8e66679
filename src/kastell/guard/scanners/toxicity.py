"""Toxicity in answers, from an offline lexicon of abuse and threats (en, de, fr, it, es).

A lexicon is blunt: it catches explicit insults, slurs and threats of violence, not subtle
hostility. Words are matched whole, on accent-folded lower-case text.
"""

from __future__ import annotations

import re
from typing import ClassVar

from kastell.guard.interface import Action, Detection, Direction, RuleInfo, ScanContext
from kastell.guard.scanners._text import fold, rule
from kastell.types import Severity

__all__ = ["ToxicityScanner", "toxicity_lexicon"]

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


class ToxicityScanner:
    """Flags answers with insults, slurs or threats from the offline lexicon."""

    RULE = "guard.output.toxicity"
    name: ClassVar[str] = "toxicity"
    version: ClassVar[str] = "1"
    directions: ClassVar[frozenset[Direction]] = frozenset({Direction.OUTPUT})
    rules: ClassVar[tuple[RuleInfo, ...]] = (
        rule(
            RULE,
            "Toxic or threatening language",
            Severity.MEDIUM,
            ("OWASP-LLM05", "AIA-15.4"),
            Action.BLOCK,
        ),
    )

    def __init__(self) -> None:
        words = sorted({w for ws in toxicity_lexicon().values() for w in ws}, key=len, reverse=True)
        alternation = "|".join(re.escape(w) for w in words)
        self._words = re.compile(rf"\b(?:{alternation})\b")
        self._threats = [re.compile(p) for p in _THREATS]

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        """Return a detection naming the first abusive word or threat found."""
        folded = fold(text)
        for pattern in self._threats:
            match = pattern.search(folded)
            if match:
                return [Detection(self.RULE, f"threat: {match.group(0)!r}")]
        match = self._words.search(folded)
        if match:
            return [Detection(self.RULE, f"abusive language: {match.group(0)!r}")]
        return []
