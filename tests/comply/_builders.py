"""Builders shared by the compliance tests: a fixed clock and evidence records."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from kastell.comply.interface import EvidenceId, StoredEvidence
from kastell.types import Digest, Evidence, EvidenceKind, Subject

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def digest_of(text: str) -> Digest:
    return Digest("sha256", hashlib.sha256(text.encode()).hexdigest())


def make_evidence(
    kind: EvidenceKind,
    *,
    age: dt.timedelta = dt.timedelta(hours=1),
    passed: bool | None = True,
    findings: list[dict[str, Any]] | None = None,
    subject: str = "model",
    controls: list[str] | None = None,
    valid_until: str | None = None,
) -> Evidence:
    summary: dict[str, Any] = {}
    if controls is not None:
        summary["controls"] = controls
    if valid_until is not None:
        summary["valid_until"] = valid_until
    if passed is not None:
        summary["passed"] = passed
    if findings is not None:
        summary["findings"] = findings
    payload = f"{kind}-{age}-{passed}-{subject}"
    return Evidence(
        kind=kind,
        subject=Subject(subject, digest_of(subject)),
        produced_at=NOW - age,
        producer="test 0",
        payload_digest=digest_of(payload),
        payload_ref="",
        summary=summary,
    )


def stored(*items: Evidence) -> list[StoredEvidence]:
    return [StoredEvidence(EvidenceId(i + 1), e) for i, e in enumerate(items)]
