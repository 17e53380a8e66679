# ruff: noqa: E501 - regex tables read better unwrapped
"""Personal data with EU formats: IBAN, payment cards, e-mail, phone numbers, national ids.

Candidates come from regular expressions; identifiers with a checksum (IBAN mod-97, Luhn,
Spanish DNI/NIE, French NIR, Italian codice fiscale, Polish PESEL, Dutch BSN) are reported
only when the checksum holds, which keeps false positives on random digit runs low.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import ClassVar

from kastell.guard.interface import Action, Detection, Direction, RuleInfo, ScanContext
from kastell.guard.scanners import _checksums as checks
from kastell.guard.scanners._text import rule
from kastell.types import Severity

__all__ = ["PiiScanner"]

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


class PiiScanner:
    """Finds personal data; the default policy redacts it on input and output."""

    RULE = "guard.pii"
    name: ClassVar[str] = "pii"
    version: ClassVar[str] = "1"
    directions: ClassVar[frozenset[Direction]] = frozenset({Direction.INPUT, Direction.OUTPUT})
    rules: ClassVar[tuple[RuleInfo, ...]] = (
        rule(
            RULE,
            "Personal data (EU formats)",
            Severity.MEDIUM,
            ("OWASP-LLM02", "ATLAS-AML.T0057", "NIS2-21.2.i", "CRA-AI-I.2.e"),
            Action.REDACT,
        ),
    )

    def scan(self, text: str, context: ScanContext) -> list[Detection]:
        """Return one detection listing the kinds and spans of personal data found."""
        spans: list[tuple[int, int]] = []
        kinds: list[str] = []
        for kind, pattern, validator in _PATTERNS:
            for match in pattern.finditer(text):
                group = 1 if pattern.groups else 0
                value = match.group(group)
                if validator is not None and not validator(value.replace(" ", "").replace("-", "")):
                    continue
                start, end = match.span(group)
                if any(s <= start < e or s < end <= e for s, e in spans):
                    continue
                spans.append((start, end))
                kinds.append(kind)
        if not spans:
            return []
        kinds_text = ", ".join(sorted(set(kinds)))
        return [Detection(self.RULE, f"personal data: {kinds_text}", tuple(sorted(spans)))]
