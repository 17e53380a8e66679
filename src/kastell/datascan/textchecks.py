"""Injected instructions and personal data, by the shared text-detection core ``kastell.text``.

Nothing here decides what an injection, personal data or a secret is (STYLE rule 14): every
text field of every record goes to ``find_injection``, ``find_pii`` and ``find_secrets``, and
this module only names the record, the field and the span, and counts. Personal-data examples
are redacted: the report shows the kind, where it is and the first two characters.
"""

from __future__ import annotations

from collections import Counter

from kastell.datascan.interface import Family, FamilyOutcome, Record, RecordHit
from kastell.text import find_injection, find_pii, find_secrets

__all__ = ["InjectionDetector", "PersonalDataDetector", "redact"]

_EXAMPLES = 20


def redact(value: str) -> str:
    """The first two characters of ``value``, then one ``*`` per remaining character (max 8)."""
    return value[:2] + "*" * min(8, max(0, len(value) - 2))


class InjectionDetector:
    """Instructions aimed at the model inside data (``kastell.text.find_injection``)."""

    family = Family.INJECTION

    def __init__(self) -> None:
        self._hits: list[RecordHit] = []
        self._rules: Counter[str] = Counter()

    def observe(self, ordinal: int, record: Record) -> None:
        """Screen every text field of the record."""
        for field in record.fields:
            for match in find_injection(field.text):
                self._rules[match.family.value] += 1
                start, end = match.span
                self._hits.append(RecordHit(
                    Family.INJECTION, "KS-DATA-INJECTION", record.id,
                    f"{match.family.value} ({match.rule}) in {match.view} text: "
                    f"{match.detail[:80]!r}", field.path, start, end, line=record.line))

    def finish(self) -> FamilyOutcome:
        """Hits and counts per text-core family."""
        return FamilyOutcome(Family.INJECTION, True, tuple(self._hits),
                             {"by_kind": dict(sorted(self._rules.items())),
                              "detector": "kastell.text.find_injection"})


class PersonalDataDetector:
    """Personal data and secrets (``kastell.text.find_pii`` and ``find_secrets``)."""

    family = Family.PERSONAL_DATA

    def __init__(self) -> None:
        self._hits: list[RecordHit] = []
        self._per_field: dict[str, Counter[str]] = {}
        self._examples: list[dict[str, object]] = []

    def observe(self, ordinal: int, record: Record) -> None:
        """Screen every text field of the record."""
        for field in record.fields:
            for match in [*find_pii(field.text), *find_secrets(field.text)]:
                start, end = match.span
                kind = f"{match.family.value}:{match.rule}"
                self._per_field.setdefault(field.path, Counter())[kind] += 1
                rule = "KS-DATA-SECRET" if match.family.value == "secret" else "KS-DATA-PII"
                self._hits.append(RecordHit(
                    Family.PERSONAL_DATA, rule, record.id, f"{kind} at {start}-{end}",
                    field.path, start, end, line=record.line))
                if len(self._examples) < _EXAMPLES:
                    self._examples.append({"record": record.id, "field": field.path,
                                           "kind": kind,
                                           "redacted": redact(field.text[start:end])})

    def finish(self) -> FamilyOutcome:
        """Hits, counts per field and kind, redacted examples."""
        per_field = {path: dict(sorted(kinds.items()))
                     for path, kinds in sorted(self._per_field.items())}
        return FamilyOutcome(Family.PERSONAL_DATA, True, tuple(self._hits),
                             {"per_field": per_field, "examples": self._examples,
                              "detector": "kastell.text.find_pii, kastell.text.find_secrets"})
