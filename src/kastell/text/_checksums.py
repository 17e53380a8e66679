"""Checksum validators for identifiers (private): IBAN, Luhn, EU national ids."""

from __future__ import annotations

# ISO 13616 IBAN lengths of EU/EEA countries (plus CH and GB, common in EU traffic).
IBAN_LENGTHS = {
    "AT": 20,
    "BE": 16,
    "BG": 22,
    "CH": 21,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "EE": 20,
    "ES": 24,
    "FI": 18,
    "FR": 27,
    "GB": 22,
    "GR": 27,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IS": 26,
    "IT": 27,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MT": 31,
    "NL": 18,
    "NO": 15,
    "PL": 28,
    "PT": 25,
    "RO": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
}


def iban_ok(candidate: str) -> bool:
    """True when ``candidate`` (spaces allowed) has a known length and a valid mod-97 check."""
    compact = candidate.replace(" ", "").upper()
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def luhn_ok(candidate: str) -> bool:
    """True when the digits of ``candidate`` pass the Luhn check (13 to 19 digits)."""
    digits = [int(ch) for ch in candidate if ch.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def payment_card_ok(candidate: str) -> bool:
    """A card number: a known issuer prefix, that issuer's length, and the Luhn check."""
    digits = "".join(ch for ch in candidate if ch.isdigit())
    size, two, four = len(digits), int(digits[:2] or 0), int(digits[:4] or 0)
    if digits.startswith("4"):
        brand_ok = size in (13, 16, 19)
    elif 51 <= two <= 55 or 2221 <= four <= 2720:
        brand_ok = size == 16
    elif two in (34, 37):
        brand_ok = size == 15
    elif digits.startswith(("6011", "65")) or 644 <= int(digits[:3] or 0) <= 649:
        brand_ok = 16 <= size <= 19
    elif two in (36, 38) or 300 <= int(digits[:3] or 0) <= 305:
        brand_ok = size == 14
    else:
        brand_ok = False
    return brand_ok and luhn_ok(digits)


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def spanish_id_ok(candidate: str) -> bool:
    """Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter), mod-23 letter."""
    value = candidate.upper().replace("-", "")
    if value[0] in "XYZ":
        value = str("XYZ".index(value[0])) + value[1:]
    number, letter = value[:-1], value[-1]
    return number.isdigit() and _DNI_LETTERS[int(number) % 23] == letter


def french_nir_ok(candidate: str) -> bool:
    """French social security number (NIR): 13 characters + 2-digit key = 97 - n mod 97."""
    compact = candidate.replace(" ", "").upper()
    body, key = compact[:13], compact[13:]
    body = body.replace("2A", "19").replace("2B", "18")
    if not (body.isdigit() and key.isdigit()):
        return False
    return 97 - int(body) % 97 == int(key)


_PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)


def pesel_ok(candidate: str) -> bool:
    """Polish PESEL: 11 digits with a weighted mod-10 check digit."""
    if len(candidate) != 11 or not candidate.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(candidate, _PESEL_WEIGHTS, strict=False))
    return (10 - total % 10) % 10 == int(candidate[10])


_CF_ODD = [
    1,
    0,
    5,
    7,
    9,
    13,
    15,
    17,
    19,
    21,
    2,
    4,
    18,
    20,
    11,
    3,
    6,
    8,
    12,
    14,
    16,
    10,
    22,
    25,
    24,
    23,
]


def italian_cf_ok(candidate: str) -> bool:
    """Italian codice fiscale: 16 characters, the last one a check letter."""
    value = candidate.upper()
    if len(value) != 16 or not value.isalnum():
        return False
    total = 0
    for index, ch in enumerate(value[:15]):
        pos = int(ch) if ch.isdigit() else ord(ch) - ord("A")
        total += _CF_ODD[pos] if index % 2 == 0 else pos
    return chr(ord("A") + total % 26) == value[15]


def dutch_bsn_ok(candidate: str) -> bool:
    """Dutch BSN: 9 digits passing the eleven-test (last weight -1)."""
    if len(candidate) != 9 or not candidate.isdigit():
        return False
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    total = sum(int(d) * w for d, w in zip(candidate, weights, strict=True))
    return total % 11 == 0 and total != 0
