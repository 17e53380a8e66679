"""Building ``Evidence`` and ``StepResult`` values from a step's JSON payload."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from kastell import __version__
from kastell.comply.evidence_store import payload_digest
from kastell.comply.interface import StepOutcome, StepResult
from kastell.types import Digest, Evidence, EvidenceKind, Finding, Subject

PRODUCER = f"kastell {__version__}"


def canonical_json(document: Any) -> bytes:
    """The payload bytes of a JSON document (sorted keys, no spaces): stable digests."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()


def evidence_of(
    kind: EvidenceKind,
    subject: Subject | None,
    subject_name: str,
    now: dt.datetime,
    payload: bytes,
    summary: Mapping[str, Any],
) -> Evidence:
    """Evidence about ``subject`` (or, lacking one, about the payload itself) at ``now``."""
    digest = payload_digest(payload)
    return Evidence(
        kind=kind,
        subject=subject or Subject(subject_name, digest),
        produced_at=now,
        producer=PRODUCER,
        payload_digest=digest,
        payload_ref="",
        summary=dict(summary),
    )


def step_result(
    name: str,
    passed: bool,
    detail: str,
    items: Sequence[tuple[EvidenceKind, Subject | None, str, Any]],
    now: dt.datetime,
    *,
    findings: Sequence[Finding] = (),
    data: Mapping[str, Any] | None = None,
) -> StepResult:
    """A passed/failed step whose evidence items are (kind, subject, name, JSON document)."""
    evidence: list[Evidence] = []
    payloads: dict[str, bytes] = {}
    summary_findings = [f.to_dict() for f in findings]
    for kind, subject, subject_name, document in items:
        payload = canonical_json(document)
        summary = {"passed": passed, "findings": summary_findings, "step": name}
        item = evidence_of(kind, subject, subject_name, now, payload, summary)
        evidence.append(item)
        payloads[str(item.payload_digest)] = payload
    outcome = StepOutcome.PASSED if passed else StepOutcome.FAILED
    return StepResult(name, outcome, detail, tuple(findings), tuple(evidence), payloads, data or {})


def digest_subject(name: str, digest: Digest | None) -> Subject | None:
    """A subject, when the digest is known."""
    return Subject(name, digest) if digest is not None else None
