# ruff: noqa: E501 - regex tables read better unwrapped
"""Personal data with EU formats: IBAN, payment cards, e-mail, phone numbers, national ids.

Candidates come from regular expressions; identifiers with a checksum (IBAN mod-97, Luhn,
Spanish DNI/NIE, French NIR, Italian codice fiscale, Polish PESEL, Dutch BSN) are reported
only when the checksum holds, which keeps false positives on random digit runs low.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from kastell.text import _checksums as checks
from kastell.text.interface import Family, TextMatch
from kastell.text.views import screen_views

__all__ = ["PII_KINDS", "find_pii"]

_EU_CALLING_CODES = (
    "30|31|32|33|34|35[0-9]|36|37[0-2]|38[0-9]|39|40|41|42[0-9]|43|44|45|46|47|48|49"
)
_Validator = Callable[[str], bool]
_PATTERNS: list[tuple[str, re.Pattern[str], _Validator | None]] = [
    ("iban", re.compile(r"\b[A-Za-z]{2}\d{2}(?:[ .-]?[A-Za-z0-9]){11,30}\b"), checks.iban_ok),
    ("email", re.compile(r"\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})*\.[a-zA-Z]{2,24}\b"), None),
    (
        "phone",
        re.compile(
            rf"(?<![\w+])(?<!\d[ .-])(?:\+|00)(?:{_EU_CALLING_CODES})[ .-]?(?:\(0\))?[ .-]?\d{{1,4}}(?:[ .-]?\d{{2,4}}){{2,4}}\b"
        ),
        None,
    ),
    ("es_dni_nie", re.compile(r"\b[XYZ]?\d{7,8}-?[A-Z]\b"), checks.spanish_id_ok),
    (
        "fr_nir",
        re.compile(
            r"\b[12] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}\b"
        ),
        checks.french_nir_ok,
    ),
    ("payment_card", re.compile(r"\b\d(?:[ -]?\d){12,18}\b"), checks.payment_card_ok),
    (
        "it_codice_fiscale",
        re.compile(r"\b[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z]\b"),
        checks.italian_cf_ok,
    ),
    ("pl_pesel", re.compile(r"\b\d{11}\b"), checks.pesel_ok),
    (
        "nl_bsn",
        re.compile(r"(?i:\b(?:bsn|burgerservicenummer)\b\D{0,20})(\d{9})\b"),
        checks.dutch_bsn_ok,
    ),
]

PII_KINDS = tuple(kind for kind, _, _ in _PATTERNS)
"""The kinds ``find_pii`` reports (``TextMatch.rule``)."""


def _iban_end(value: str, start: int) -> int:
    """The end of the IBAN at the start of ``value`` (country-specific length), or -1."""
    length = checks.IBAN_LENGTHS.get(value[:2].upper())
    positions = [i for i, ch in enumerate(value) if ch.isalnum()]
    if length is None or len(positions) < length:
        return -1
    compact = "".join(value[i] for i in positions[:length])
    if not checks.iban_ok(compact):
        return -1
    return start + positions[length - 1] + 1


def _find_in(text: str) -> list[tuple[str, tuple[int, int]]]:
    found: list[tuple[str, tuple[int, int]]] = []
    for kind, pattern, validator in _PATTERNS:
        for match in pattern.finditer(text):
            group = 1 if pattern.groups else 0
            value = match.group(group)
            start, end = match.span(group)
            if kind == "iban":  # the country fixes the length: a longer run may hold a word
                end = _iban_end(value, start)
                if end < 0:
                    continue
            elif validator is not None and not validator(re.sub(r"[ .-]", "", value)):
                continue
            if any(s <= start < e or s < end <= e for _, (s, e) in found):
                continue
            found.append((kind, (start, end)))
    return found


def find_pii(text: str) -> list[TextMatch]:
    """Every non-overlapping piece of personal data in ``text``, in any view of it.

    The text as written first, then its normalised, de-spaced and decoded views
    (``kastell.text.views``): an IBAN spelled with zero-width characters, letter-spaced,
    reversed or base64-encoded is found too. A kind already found in an earlier view is not
    reported again from a transformed or decoded view (which could only point at the whole
    text). Identifiers with a checksum are reported only when it holds.
    """
    found: list[TextMatch] = []
    for view in screen_views(text).views:
        kinds = {m.rule for m in found}
        whole_view = not view.positions and view.name != "plain"
        for kind, span in _find_in(view.text):
            if whole_view and kind in kinds:
                continue
            source = view.source_span(span)
            if any(m.span == source and m.rule == kind for m in found):
                continue
            found.append(TextMatch(Family.PII, kind, source, view.name, view_span=span))
    return found
