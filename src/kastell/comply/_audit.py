"""The audit-log step: verify the hash-chained audit log with ``kastell.audit`` as evidence.

The audit package verifies the log where it lives (``verify_location``) and turns the report into
``audit_log`` evidence (``audit_evidence``); this step adds findings for every issue found.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from collections.abc import Sequence
from typing import Any

from kastell.comply._evidence import canonical_json, evidence_of
from kastell.comply.interface import StepOutcome, StepResult
from kastell.types import ControlId, Evidence, EvidenceKind, Finding, Location, Severity

_MAPPINGS = tuple(ControlId(c) for c in ("AIA-12.1", "AIA-19", "CRA-AI-I.2.l", "NIS2-21.2.b"))


_GUARD_TYPES = frozenset(
    {
        "request",
        "response",
        "block",
        "redact",
        "flag",
        "canary_leak",
        "extraction_alert",
        "rate_limited",
        "upstream_error",
        "auth_failure",
    }
)


def read_audit_events(location: str) -> list[dict[str, Any]]:
    """The log's records as event mappings (``event_type``, ``occurred_at``, ``seq``, ...).

    Rows are read as stored, not verified: use them to find incident candidates, and verify the
    log (``verify_audit_step``) before relying on it as evidence.
    """
    from kastell.audit.store import AuditStore

    store = AuditStore.open(location, create=False)
    try:
        events = []
        for row in store.iter_rows():
            try:
                body = json.loads(row.body)
            except json.JSONDecodeError:
                body = {}
            event = body.get("event", {}) if isinstance(body, dict) else {}
            moment = dt.datetime.fromtimestamp(row.time_us / 1_000_000, dt.UTC)
            events.append(
                {
                    "event_type": row.event_type,
                    "occurred_at": moment.isoformat(),
                    "seq": row.seq,
                    "tenant": row.tenant,
                    "request_id": event.get("request_id"),
                    "message": event.get("message"),
                }
            )
        return events
    finally:
        store.close()


def _guard_events(location: str, log_ok: bool, now: dt.datetime) -> tuple[Evidence, bytes]:
    counts: dict[str, int] = {}
    for event in read_audit_events(location):
        counts[event["event_type"]] = counts.get(event["event_type"], 0) + 1
    guard = {k: n for k, n in counts.items() if k in _GUARD_TYPES}
    # no guard decision in the log: monitoring is not shown to run (unknown, not a pass)
    passed = (log_ok if guard else None) if log_ok else False
    document = {"log": location, "event_counts": counts, "guard_event_counts": guard}
    payload = canonical_json(document)
    summary = {"passed": passed, "guard_events": sum(guard.values()), "step": "audit log"}
    return evidence_of(
        EvidenceKind.GUARD_EVENTS, None, "guard-events", now, payload, summary
    ), payload


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
    events, events_payload = _guard_events(log, report.ok, now)
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
        (evidence, events),
        {str(evidence.payload_digest): payload, str(events.payload_digest): events_payload},
        report_document(report, location),
    )
