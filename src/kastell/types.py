"""Shared value types: one definition each, used by every capability.

``Digest`` and ``Subject`` name content; ``Finding`` is what scan, redteam, guard and comply
report; ``Evidence`` is what every capability records for ``comply`` to evaluate.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from collections.abc import Mapping
from typing import Any, NewType

from kastell.errors import UsageError

__all__ = [
    "ControlId",
    "Digest",
    "Evidence",
    "EvidenceKind",
    "Finding",
    "Location",
    "Severity",
    "Subject",
]

ControlId = NewType("ControlId", str)
"""A control id from the catalog, for example ``OWASP-LLM01`` or ``AIA-15.5``."""

_HEX = re.compile(r"^[0-9a-f]+$")
_DIGEST_SIZES = {"sha256": 64, "sha384": 96, "sha512": 128, "blake3": 64}


@dataclasses.dataclass(frozen=True, order=True)
class Digest:
    """A content digest: algorithm name and lowercase hex value."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        size = _DIGEST_SIZES.get(self.algorithm)
        if size is None:
            raise UsageError(
                f"unsupported digest algorithm {self.algorithm!r}",
                hint=f"Use one of: {', '.join(sorted(_DIGEST_SIZES))}.",
            )
        if len(self.hex) != size or not _HEX.match(self.hex):
            raise UsageError(
                f"malformed {self.algorithm} digest {self.hex[:80]!r}",
                hint=f"A {self.algorithm} digest is {size} lowercase hex characters.",
            )

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``ALGORITHM:HEX`` (as printed by ``str()``)."""
        algorithm, sep, value = text.partition(":")
        if not sep:
            raise UsageError(
                f"digest {text[:80]!r} has no algorithm prefix",
                hint="Write digests as ALGORITHM:HEX, for example sha256:9f86d0...",
            )
        return cls(algorithm.lower(), value.lower())


@dataclasses.dataclass(frozen=True)
class Subject:
    """A named artefact and its digest (the in-toto notion of a subject)."""

    name: str
    digest: Digest


class Severity(enum.IntEnum):
    """How bad a finding is; ordered, so ``severity >= Severity.HIGH`` works."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Parse a severity name, case-insensitively."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise UsageError(
                f"unknown severity {text!r}",
                hint=f"Use one of: {', '.join(s.name.lower() for s in cls)}.",
            ) from None


@dataclasses.dataclass(frozen=True)
class Location:
    """Where a finding is: a path (or URL), optionally a member inside it and a position."""

    path: str
    member: str | None = None
    """A member inside an archive or container, e.g. ``archive/data.pkl``."""
    line: int | None = None
    byte_offset: int | None = None

    def __str__(self) -> str:
        text = self.path
        if self.member:
            text += f"!{self.member}"
        if self.line is not None:
            text += f":{self.line}"
        if self.byte_offset is not None:
            text += f"@{self.byte_offset}"
        return text


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem found by a scanner, a probe, a guard rule or a control evaluation."""

    rule_id: str
    severity: Severity
    title: str
    message: str
    location: Location | None = None
    mappings: tuple[ControlId, ...] = ()
    """Control ids from the catalog this finding bears on."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "rule_id": self.rule_id,
            "severity": self.severity.name.lower(),
            "title": self.title,
            "message": self.message,
            "location": dataclasses.asdict(self.location) if self.location else None,
            "mappings": list(self.mappings),
        }


class EvidenceKind(enum.StrEnum):
    """The kinds of evidence the control catalog asks for."""

    DATASET_MANIFEST = "dataset_manifest"
    MODEL_SIGNATURE = "model_signature"
    PROVENANCE_ATTESTATION = "provenance_attestation"
    AI_BOM = "ai_bom"
    MODEL_FILE_SCAN = "model_file_scan"
    REDTEAM_REPORT = "redteam_report"
    ROBUSTNESS_REGRESSION = "robustness_regression"
    GUARD_POLICY = "guard_policy"
    GUARD_EVENTS = "guard_events"
    AUDIT_LOG = "audit_log"
    INCIDENT_RECORD = "incident_record"
    RESIDENCY_POLICY = "residency_policy"
    ACCESS_CONTROL = "access_control"
    VULNERABILITY_DISCLOSURE = "vulnerability_disclosure"
    HUMAN_OVERSIGHT_PROCEDURE = "human_oversight_procedure"
    DOCUMENTATION = "documentation"


@dataclasses.dataclass(frozen=True)
class Evidence:
    """A record that a capability produced an artefact about a subject.

    ``comply`` evaluates controls from evidence only. The payload itself lives at
    ``payload_ref`` (a path or store key) and is pinned by ``payload_digest``; ``summary``
    holds the few facts a control evaluation needs (for example ``{"passed": False}``).
    """

    kind: EvidenceKind
    subject: Subject
    produced_at: dt.datetime
    producer: str
    """Tool and version, e.g. ``kastell-scan 0.1.0``."""
    payload_digest: Digest
    payload_ref: str
    signature: str | None = None
    summary: Mapping[str, Any] = dataclasses.field(default_factory=dict)
