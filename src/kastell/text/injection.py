# ruff: noqa: E501 - regex tables read better unwrapped
"""Prompt-injection and jailbreak heuristics (en, de, fr, it, es; more in ``_injection_eu``).

Each pattern is a strong signal on its own: an instruction to disregard earlier instructions,
to reveal the hidden prompt, to switch to an unrestricted persona, or a known jailbreak frame.
Texts are accent-folded and lower-cased first (``fold``), so ``Ignorez les instructions
précédentes`` and ``ignorez les instructions precedentes`` match the same pattern.
"""

from __future__ import annotations

import functools
import re

from kastell.text._injection_eu import INJECTION_MORE
from kastell.text.interface import Family, TextMatch
from kastell.text.normalize import COMMON_WORDS, fold
from kastell.text.views import screen_views

__all__ = ["JAILBREAK_SCORE", "find_injection", "injection_patterns", "jailbreak_score"]

_W = r"(?:\w+ ){0,3}"  # up to three filler words
_INJECTION_EN = [
    rf"\b(?:ignore|disregard|forget|skip|override|bypass)\b {_W}(?:previous|prior|above|earlier|preceding|initial|original|system|your|all|any|the) {_W}(?:instructions?|prompts?|rules|directions|guidelines|context|messages?|commands?|inputs?)",
    rf"\b(?:new|updated|real|actual) (?:instructions?|system prompt|rules)\b {_W}?(?:are|is|follow)\b",
    r"\b(?:reveal|print|show|repeat|output|display|leak|tell me|give me|write out) (?:\w+ ){0,4}(?:system|initial|hidden|secret|original|developer) (?:prompt|instructions?|message|rules)",
    r"\b(?:repeat|print|output) (?:everything|all|the text|the words) (?:\w+ ){0,3}(?:above|before|so far)",
    r"\bwhat (?:was|is|were) (?:your|the) (?:\w+ )?(?:system prompt|initial instructions?|first instructions?)",
    r"(?:^| )(?:###|---|===|\[\[)? ?(?:system|admin|developer) ?(?:override|message|prompt|instruction)s? ?:",
    r"\bstop (?:following|obeying) (?:\w+ ){0,2}(?:instructions|rules)",
    r"\binstead,? (?:say|print|output|respond with|reply with|write) ",
    r"\b(?:ignore|disregard) (?:this|that|everything|all)\b.{0,40}\b(?:and|then|instead)\b",
    r"\bnothing (?:above|before) (?:this|matters)",
]
_INJECTION_EN += [
    # system-prompt extraction phrasings (from the development half of the public set)
    r"\bwhat (?:are|were) (?:your|the) (?:\w+ )?(?:initial|original|first|system|hidden|secret) (?:instructions?|prompt|rules|directives)",
    r"\b(?:encode|translate|rot13|base64|reverse|spell check|summari[sz]e) (?:\w+ ){0,3}(?:your (?:\w+ )?instructions|the (?:previous|initial|original|above|system|hidden) (?:instructions|prompt|text)|(?:the )?text you were given|(?:your |the )?system prompt|initial (?:prompt|text))",
    r"\b(?:start|begin) your (?:answer|response|reply) with '?\"?(?:my instructions|the system prompt|you are)",
    r"\brepeat (?:this|the) (?:entire |whole )?conversation\b",
    r"\b(?:console\.log|print|echo)\s*\(\s*(?:system_?prompt|instructions|initial_?prompt)",
    r"\b(?:the )?system prompt (?:is|was)\s*:",
    r"\b(?:administrator|admin|root|sudo) (?:override|mode|access)\b",
    r"\bstop everything\b",
]
_INJECTION_EU = [
    # de
    rf"\b(?:ignoriere|ignorier|ignorieren sie|vergiss|vergessen sie|missachte) {_W}(?:vorherigen|bisherigen|obigen|vorigen|alle|deine|ihre|die) {_W}(?:anweisungen|instruktionen|regeln|befehle|vorgaben)",
    r"\b(?:zeige|gib|nenne|wiederhole|verrate) (?:\w+ ){0,4}(?:system-?prompt|systemanweisung|anweisungen|geheimen anweisungen)",
    # fr
    rf"\b(?:ignore|ignorez|ignorer|oublie|oubliez|oublier|ne tiens pas compte) {_W}(?:les |des |toutes les |tes |vos )?{_W}(?:instructions|consignes|regles|directives)",
    r"\b(?:revele|revelez|affiche|affichez|montre|montrez|repete|repetez|donne|donnez)[- ](?:\w+ ){0,4}(?:prompt systeme|invite systeme|instructions (?:initiales|cachees|systeme|secretes))",
    # it
    rf"\b(?:ignora|ignorate|dimentica|dimenticate|trascura) {_W}(?:le |tutte le |tue |vostre )?{_W}(?:istruzioni|regole|indicazioni|direttive)",
    r"\b(?:rivela|mostra|ripeti|stampa|dimmi) (?:\w+ ){0,4}(?:prompt di sistema|istruzioni (?:iniziali|nascoste|di sistema|segrete))",
    # es
    rf"\b(?:ignora|ignore|ignorad|olvida|olvide|olvidad|omite) {_W}(?:las |todas las |tus |sus )?{_W}(?:instrucciones|reglas|indicaciones|directrices)",
    r"\b(?:revela|muestra|repite|imprime|dime) (?:\w+ ){0,4}(?:prompt del sistema|instrucciones (?:iniciales|ocultas|del sistema|secretas))",
]
_JAILBREAK = [
    r"\bdo anything now\b",
    r"\b(?:dan|stan|dude|aim|kevin|apophis|anti-?dan)\b (?:mode|prompt|jailbreak)|\byou are (?:now )?(?:dan|stan|dude|aim)\b|\bact as (?:dan|stan|dude|aim)\b",
    r"\b(?:god|jailbreak|unrestricted|evil|chaos|opposite|unfiltered|uncensored)(?:ed)? mode\b",
    r"\b(?:developer|debug|dev) mode (?:enabled|activated|is on|turned on)\b|\benable (?:the )?developer mode\b",
    r"\bjailbroken\b|\[?jailbreak\]|\bjailbreak prompt\b",
    r"\b(?:without|free of|no longer (?:have|bound by|restricted by)|not bound by|free from) (?:any )?(?:\w+ )?(?:restrictions|filters|limitations|guidelines|ethic(?:s|al)|rules|censorship|policies)",
    r"\b(?:pretend|imagine|act as if|act like|roleplay as|role-play as) (?:\w+ ){0,4}(?:no|without) (?:\w+ ){0,2}(?:restrictions|filters|rules|limits|guidelines|morals)",
    r"\bstay in character\b",
    r"\b(?:two|2|both) (?:different )?(?:responses|answers)\b.{0,80}\b(?:normal|classic|filtered)\b.{0,80}\b(?:jailbroken|unfiltered|dan)\b",
    r"\bhypothetical(?:ly)? (?:\w+ ){0,4}(?:without|ignoring) (?:\w+ ){0,2}(?:rules|restrictions|ethics)",
    r"\b(?:openai|anthropic|content) polic(?:y|ies) (?:\w+ ){0,3}(?:do(?:es)? not|don'?t|no longer) apply",
    r"\b(?:tu es|du bist|sei|eres|sei ora) (?:\w+ ){0,3}(?:sans restrictions|ohne (?:einschrankungen|regeln|filter)|senza (?:restrizioni|regole|filtri)|sin (?:restricciones|reglas|filtros))",
    r"\b(?:sans|ohne|senza|sin) (?:aucune |jegliche |alcuna |ninguna )?(?:restrictions|einschrankungen|restrizioni|restricciones|censure|zensur|censura) ",
]

# Weighted persona/amorality signals of role-play jailbreaks: none blocks alone (a tour-guide
# role-play is fine); the jailbreak rule fires when the weights of distinct signals reach
# _JAILBREAK_SCORE. Tuned on the development half of the public attack set only.
_SIGNALS: list[tuple[int, str]] = [  # (weight, pattern); frame signals listed in _FRAMES
    (
        2,
        r"\b(?:amoral|unfiltere?d|unfiltred|uncensored|unrestricted|unlocked|unbound|uninhibited)\b",
    ),
    (2, r"\b(?:do not|don'?t|never) (?:\w+ ){0,2}(?:filter|censor) (?:your|the|any)\b"),
    (
        2,
        r"\b(?:never|won'?t|will not|cannot|can'?t|must not|do not|don'?t) (?:ever )?(?:refuse|decline|reject)",
    ),
    (
        2,
        r"\b(?:doesn'?t|does not|don'?t|do not|never|won'?t|will not) (?:\w+ ){0,2}(?:care|follow|have|obey|adhere to|abide by) (?:\w+ ){0,3}(?:laws?|rules|ethics|morals?|morality|guidelines|policies|principles|restrictions|limits)",
    ),
    (
        2,
        r"\b(?:not|isn'?t|aren'?t|never) (?:\w+ ){0,2}(?:subject to|bound by|restricted by|limited by|constrained by) (?:\w+ ){0,3}(?:polic(?:y|ies)|rules|guidelines|restrictions|ethics|laws)",
    ),
    (
        2,
        r"\b(?:break|breaks|bypass|bypasses|ignore|ignores|violate|violates) (?:\w+ ){0,3}(?:ai |openai'?s? |content )?(?:rules|polic(?:y|ies)|guidelines|filters?|restrictions)",
    ),
    (
        2,
        r"\bno (?:ethical|moral|legal) (?:\w+ )?(?:guidelines|principles|boundaries|constraints|restrictions|limits|compass)",
    ),
    (
        2,
        r"\b(?:developer|debug) mode\b|\b(?:modo|mode|modus|modalita) (?:sviluppatore|desarrollador|developpeur|entwickler)\b",
    ),
    (2, r"\bjailbreak"),
    (1, r"\bfrom now on\b|\bfrom this moment\b|\bstarting now\b"),
    (
        1,
        r"\b(?:act|acting|pretend|pretending|roleplay|role-play|play|simulate|emulate|impersonate|respond|answer|reply) (?:\w+ ){0,2}as\b",
    ),
    (
        1,
        r"\b(?:you are|you're|you will be) (?:now |going to be )?(?:a |an )?(?:\w+ ){0,3}(?:ai|bot|model|assistant|character|persona|entity)\b",
    ),
    (1, r"\b(?:persona|character|personality)\b"),
    (1, r"\billegal\b"),
    (1, r"\b(?:unethical|immoral|offensive|harmful|dangerous|explicit|nsfw)\b"),
    (1, r"\b(?:content|openai|usage|safety) (?:polic(?:y|ies)|filters?|guidelines)\b"),
    (1, r"\b(?:chatgpt|openai|gpt-?\d)\b"),
    (
        1,
        r"\bno (?:\w+ )?(?:restrictions|limits|limitations|boundaries|filters|censorship|warnings|disclaimers)\b",
    ),
    (
        1,
        r"\b(?:any|every|all) (?:\w+ )?(?:requests?|questions?)\b.{0,40}\b(?:no matter|regardless)\b|\bno matter (?:how|what)\b",
    ),
    (1, r"\b(?:ethics|morals|morality|ethical)\b"),
    (1, r"\b(?:prefix|format)\b.{0,40}\b(?:\[|:)"),
]
_FRAMES = {9, 10, 11, 12, 16, 20}
"""Indexes of persona-framing signals: common in benign system prompts, never enough alone."""
JAILBREAK_SCORE = 3
_MIN_HARM = 2


def jailbreak_score(folded: str) -> int:
    """Weighted persona/amorality score; 0 unless at least ``_MIN_HARM`` of it is harm signals.

    Persona framing (act as, you are a ..., from now on, a reply format) is everyday in benign
    system prompts, so it only adds to harm signals (amorality, refusing nothing, rules or
    policies not applying, illegality), never replaces them.
    """
    harm = frame = 0
    for index, (weight, pattern) in enumerate(_COMPILED_SIGNALS):
        if pattern.search(folded):
            if index in _FRAMES:
                frame += weight
            else:
                harm += weight
    return harm + frame if harm >= _MIN_HARM else 0


_COMPILED_SIGNALS = [(w, re.compile(p)) for w, p in _SIGNALS]


@functools.cache
def _compiled() -> dict[Family, tuple[re.Pattern[str], ...]]:
    return {
        Family.INJECTION: tuple(
            re.compile(p) for p in _INJECTION_EN + _INJECTION_EU + INJECTION_MORE
        ),
        Family.JAILBREAK: tuple(re.compile(p) for p in _JAILBREAK),
    }


def injection_patterns() -> dict[Family, list[re.Pattern[str]]]:
    """The compiled patterns, by family (exposed for docs and tests)."""
    return {family: list(patterns) for family, patterns in _compiled().items()}


def _find_in(folded: str, whole: tuple[int, int], view: str) -> list[TextMatch]:
    """At most one match per family in one folded view."""
    found: list[TextMatch] = []
    for family, patterns in _compiled().items():
        for pattern in patterns:
            match = pattern.search(folded)
            if match:
                found.append(
                    TextMatch(family, "pattern", whole, view, match.group(0), match.span())
                )
                break
    if not any(m.family is Family.JAILBREAK for m in found):
        score = jailbreak_score(folded)
        if score >= JAILBREAK_SCORE:
            found.append(TextMatch(Family.JAILBREAK, "persona_signals", whole, view, str(score)))
    return found


# Common words of the supported languages and of injections: a ROT13 or reversed view is read
# only when it holds more of them than the text as written (and at least _MIN_COMMON), which
# is the case for a transformed sentence and almost never for an ordinary one.
_MIN_COMMON = 2
_TRANSFORMS = frozenset({"rot13", "reversed"})
_WORDS = re.compile(r"[a-z]+")


def _common_words(folded: str) -> int:
    return sum(1 for word in _WORDS.findall(folded) if word in COMMON_WORDS)


@functools.lru_cache(maxsize=64)
def _find_injection(text: str) -> tuple[TextMatch, ...]:
    views = screen_views(text)
    found: dict[Family, TextMatch] = {}
    for view in views.by_kind(decoded=False):
        for match in _find_in(fold(view.text), view.origin, view.name):
            found.setdefault(match.family, match)
        if len(found) == 2:
            break
    plain_words = -1
    for view in views.by_kind(decoded=True):
        if view.name.rsplit("/", 1)[-1] in _TRANSFORMS:
            if plain_words < 0:
                plain_words = _common_words(fold(text))
            if _common_words(fold(view.text)) <= max(plain_words, _MIN_COMMON - 1):
                continue
        hits = _find_in(fold(view.text), view.origin, view.name)
        if hits:
            first = hits[0]
            found[Family.ENCODED] = TextMatch(
                Family.ENCODED,
                first.family.value,
                view.origin,
                view.name,
                first.detail,
                first.view_span,
            )
            break
    return tuple(found.values())


def find_injection(text: str) -> list[TextMatch]:
    """At most one match per family: ``injection``, ``jailbreak``, ``encoded``.

    ``injection`` and ``jailbreak`` come from the normalising views (``plain``,
    ``normalised``, ``spaced``, ``leet``: see ``kastell.text.views``), ``encoded`` from the
    first transformed or decoded view (ROT13, reversed, base64, ...) holding an injection or
    jailbreak (``rule`` names which). Each view is read folded (``fold``); ``view_span`` is in
    the folded view, ``span`` is the part of the original text the view came from. The regex
    families are tried first; the weighted persona score adds a ``jailbreak`` match when no
    jailbreak pattern matched and the score reaches ``JAILBREAK_SCORE``.
    """
    return list(_find_injection(text))
