"""The audit log as compliance evidence: verify a log where it lives, describe the result.

``verify_location`` is the I/O edge around the pure ``verify_log``; ``report_document`` is the
JSON form of a report (what ``kastell audit verify --format json`` prints);
``audit_evidence`` turns a report into ``Evidence`` of kind ``audit_log`` for ``comply``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pathlib
from typing import Any

from kastell import __version__
from kastell.audit.interface import MIN_RETENTION
from kastell.audit.keys import PublicKeyRing
from kastell.audit.store import AuditStore
from kastell.audit.verify import VerificationReport, verify_log
from kastell.types import Digest, Evidence, EvidenceKind, Subject

__all__ = ["audit_evidence", "report_document", "verify_location"]


def verify_location(
    location: str | pathlib.Path | AuditStore,
    keys: PublicKeyRing,
    *,
    now: dt.datetime,
    min_retention: dt.timedelta = MIN_RETENTION,
) -> tuple[VerificationReport, str]:
    """Verify the log at a path or URL (or an open store); return the report and the location.

    Everything is read in one snapshot (one read transaction), so a log that the gateway keeps
    appending to verifies as it was when the verification started.

    Raises:
        AuditUnavailableError: the log cannot be read.
        AuditConfigError: the location is malformed.
    """
    own = not isinstance(location, AuditStore)
    store = (
        location if isinstance(location, AuditStore) else AuditStore.open(location, create=False)
    )
    try:
        with store.reading() as snapshot:
            head = store.head(within=snapshot)
            report = verify_log(
                store.iter_rows(within=snapshot),
                store.load_checkpoints(within=snapshot),
                keys,
                now=now,
                min_retention=min_retention,
                head_seq=head.seq if head is not None else None,
            )
    finally:
        if own:
            store.close()
    return report, store.location


def report_document(report: VerificationReport, location: str) -> dict[str, Any]:
    """The JSON document of a verification report."""
    return {
        "log": location,
        "log_id": report.log_id,
        "ok": report.ok,
        "records": report.records,
        "first_seq": report.first_seq,
        "last_seq": report.last_seq,
        "head_hash": report.head_hash,
        "valid_checkpoints": report.valid_checkpoints,
        "anchored_through": report.anchored_through,
        "unanchored": report.unanchored,
        "pruned_through": report.pruned_through,
        "issues": [
            {"kind": issue.kind.value, "seq": issue.seq, "message": issue.message}
            for issue in report.issues
        ],
    }


def audit_evidence(
    report: VerificationReport, location: str, *, now: dt.datetime
) -> tuple[Evidence, bytes]:
    """Evidence of kind ``audit_log`` for a verification, and its payload (the JSON report).

    The subject is the log, pinned by the hash of its last record; ``summary["passed"]`` is
    true only when nothing was tampered with.
    """
    payload = json.dumps(report_document(report, location), sort_keys=True).encode("utf-8")
    payload_digest = Digest("sha256", hashlib.sha256(payload).hexdigest())
    subject_digest = Digest("sha256", report.head_hash) if report.head_hash else payload_digest
    evidence = Evidence(
        kind=EvidenceKind.AUDIT_LOG,
        subject=Subject(f"audit-log:{report.log_id or location}", subject_digest),
        produced_at=now,
        producer=f"kastell-audit {__version__}",
        payload_digest=payload_digest,
        payload_ref=location,
        summary={
            "passed": report.ok,
            "records": report.records,
            "valid_checkpoints": report.valid_checkpoints,
            "unanchored": report.unanchored,
            "pruned_through": report.pruned_through,
            "issues": len(report.issues),
        },
    )
    return evidence, payload
