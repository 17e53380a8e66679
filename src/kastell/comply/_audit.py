"""The audit-log step: verify the hash-chained audit log with ``kastell.audit`` as evidence.

The audit package verifies the log where it lives (``verify_location``) and turns the report into
``audit_log`` evidence (``audit_evidence``); this step adds findings for every issue found.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Sequence

from kastell.comply.interface import StepOutcome, StepResult
from kastell.types import ControlId, Finding, Location, Severity

_MAPPINGS = tuple(ControlId(c) for c in ("AIA-12.1", "AIA-19", "CRA-AI-I.2.l", "NIS2-21.2.b"))


def verify_audit_step(
    log: str, public_keys: Sequence[pathlib.Path], now: dt.datetime
) -> StepResult:
    """Verify the audit log at ``log`` (path or URL) against the checkpoint keys."""
    from kastell.audit.evidence import audit_evidence, report_document, verify_location
    from kastell.audit.keys import PublicKeyRing, load_public_key

    keys = PublicKeyRing.of([load_public_key(path) for path in public_keys])
    report, location = verify_location(log, keys, now=now)
    evidence, payload = audit_evidence(report, location, now=now)
    findings = tuple(
        Finding(
            f"KS-AUDIT-{issue.kind.value.upper()}",
            Severity.HIGH,
            "Audit log tampering",
            issue.message,
            Location(location, line=issue.seq),
            _MAPPINGS,
        )
        for issue in report.issues
    )
    outcome = StepOutcome.PASSED if report.ok else StepOutcome.FAILED
    detail = (
        f"{report.records} record(s), {report.valid_checkpoints} valid checkpoint(s), "
        f"{report.unanchored} unanchored; {len(report.issues)} issue(s)"
    )
    return StepResult(
        "audit log",
        outcome,
        detail,
        findings,
        (evidence,),
        {str(evidence.payload_digest): payload},
        report_document(report, location),
    )
