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

__all__ = ["PII_KINDS", "find_pii"]

_EU_CALLING_CODES = (
    "30|31|32|33|34|35[0-9]|36|37[0-2]|38[0-9]|39|40|41|42[0-9]|43|44|45|46|47|48|49"
)
_Validator = Callable[[str], bool]
_PATTERNS: list[tuple[str, re.Pattern[str], _Validator | None]] = [
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"), checks.iban_ok),
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


def find_pii(text: str) -> list[TextMatch]:
    """Every non-overlapping piece of personal data in ``text``, in pattern order.

    A candidate overlapping one already found is skipped; identifiers with a checksum are
    reported only when it holds.
    """
    found: list[TextMatch] = []
    for kind, pattern, validator in _PATTERNS:
        for match in pattern.finditer(text):
            group = 1 if pattern.groups else 0
            value = match.group(group)
            if validator is not None and not validator(value.replace(" ", "").replace("-", "")):
                continue
            start, end = match.span(group)
            if any(s <= start < e or s < end <= e for s, e in (m.span for m in found)):
                continue
            found.append(TextMatch(Family.PII, kind, (start, end), view_span=(start, end)))
    return found
