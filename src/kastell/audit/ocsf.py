"""OCSF export: one Detection Finding (class 2004, OCSF 1.7.0) per audit record, as JSON lines.

Field names and enum values follow the OCSF 1.7.0 schema (checked in the tests against the
models generated from that schema by the ``pydantic-ocsf`` package). Facts without an OCSF
attribute (decision, rule ids, digests, hashes of the chain) go under ``unmapped.kastell``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from kastell import __version__
from kastell.audit.interface import AuditRecord, EventType, ExportFormatError
from kastell.types import Severity

__all__ = [
    "OCSF_VERSION",
    "event_from_ocsf",
    "is_ocsf_finding",
    "iso_from_millis",
    "to_ocsf",
    "to_ocsf_line",
]

OCSF_VERSION = "1.7.0"
_CLASS_UID = 2004
_CATEGORY_UID = 2
_ACTIVITY_CREATE = 1
_SEVERITY_ID = {
    Severity.INFO: 1,
    Severity.LOW: 2,
    Severity.MEDIUM: 3,
    Severity.HIGH: 4,
    Severity.CRITICAL: 5,
}
_SEVERITY_NAME = {1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}
_ALERTS = frozenset(
    {
        EventType.BLOCK,
        EventType.CANARY_LEAK,
        EventType.EXTRACTION_ALERT,
        EventType.AUTH_FAILURE,
    }
)
_TITLES = {
    EventType.REQUEST: "LLM request screened",
    EventType.RESPONSE: "LLM response screened",
    EventType.BLOCK: "LLM traffic blocked",
    EventType.REDACT: "LLM traffic redacted",
    EventType.FLAG: "LLM traffic flagged",
    EventType.CANARY_LEAK: "Canary leaked in model output",
    EventType.EXTRACTION_ALERT: "Possible model extraction",
    EventType.RATE_LIMITED: "Tenant rate limited",
    EventType.UPSTREAM_ERROR: "Upstream model error",
    EventType.AUTH_FAILURE: "Gateway authentication failure",
    EventType.ADMIN: "Administrative action",
}


def _millis(record: AuditRecord) -> tuple[int, int]:
    logged = int(record.time.timestamp() * 1000)
    occurred = record.event.occurred_at
    return logged, int(occurred.timestamp() * 1000) if occurred is not None else logged


def _kastell_facts(record: AuditRecord) -> dict[str, Any]:
    event = record.event
    facts: dict[str, Any] = {
        "event_type": event.event_type.value,
        "seq": record.seq,
        "record_hash": f"sha256:{record.hash}",
        "prev_hash": f"sha256:{record.prev_hash}",
    }
    optional = {
        "decision": event.decision.value if event.decision else None,
        "rule_ids": list(event.rule_ids) or None,
        "prompt_digest": str(event.prompt_digest) if event.prompt_digest else None,
        "response_digest": str(event.response_digest) if event.response_digest else None,
        "served_model_digest": (
            str(event.served_model_digest) if event.served_model_digest else None
        ),
        "upstream": event.upstream,
        "http_status": event.status,
        "latency_us": event.latency_us,
        "redacted_text": event.redacted_text,
        "full_text": event.full_text,
        "details": dict(event.details) or None,
    }
    facts.update({key: value for key, value in optional.items() if value is not None})
    return facts


def _finding_info(record: AuditRecord, uid: str, title: str, logged: int) -> dict[str, Any]:
    event = record.event
    info: dict[str, Any] = {
        "uid": uid,
        "title": title,
        "types": [event.event_type.value],
        "created_time": logged,
        "data_sources": ["kastell audit log"],
    }
    if event.message:
        info["desc"] = event.message
    if event.rule_ids:
        info["analytic"] = {
            "uid": event.rule_ids[0],
            "name": ", ".join(event.rule_ids),
            "type_id": 1,
            "type": "Rule",
        }
    return info


def _metadata(record: AuditRecord, uid: str, logged: int) -> dict[str, Any]:
    event = record.event
    metadata: dict[str, Any] = {
        "version": OCSF_VERSION,
        "product": {"name": "Kastell", "vendor_name": "Kastell", "version": __version__},
        "uid": uid,
        "sequence": record.seq,
        "log_name": "kastell-audit",
        "logged_time": logged,
        "event_code": event.event_type.value,
    }
    if event.request_id:
        metadata["correlation_uid"] = event.request_id
    if event.tenant:
        metadata["tenant_uid"] = event.tenant
    return metadata


def to_ocsf(record: AuditRecord) -> dict[str, Any]:
    """The OCSF 1.7.0 Detection Finding of one audit record."""
    event = record.event
    logged, occurred = _millis(record)
    severity_id = _SEVERITY_ID[event.severity]
    uid = f"{record.log_id}:{record.seq}"
    title = _TITLES[event.event_type]
    finding: dict[str, Any] = {
        "activity_id": _ACTIVITY_CREATE,
        "activity_name": "Create",
        "category_uid": _CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": _CLASS_UID,
        "class_name": "Detection Finding",
        "type_uid": _CLASS_UID * 100 + _ACTIVITY_CREATE,
        "type_name": "Detection Finding: Create",
        "severity_id": severity_id,
        "severity": _SEVERITY_NAME[severity_id],
        "status_id": 1,
        "status": "New",
        "time": occurred,
        "message": event.message or title,
        "is_alert": event.event_type in _ALERTS,
        "metadata": _metadata(record, uid, logged),
        "finding_info": _finding_info(record, uid, title, logged),
        "unmapped": {"kastell": _kastell_facts(record)},
    }
    if event.status is not None:
        finding["status_code"] = str(event.status)
    if event.served_model_digest is not None:
        resource = {"type": "AI Model", "uid": str(event.served_model_digest)}
        if event.upstream:
            resource["name"] = event.upstream
        finding["resources"] = [resource]
    return finding


def to_ocsf_line(record: AuditRecord) -> str:
    """One JSON line (no trailing newline) of the record's OCSF Detection Finding."""
    return json.dumps(to_ocsf(record), ensure_ascii=False, separators=(",", ":"))


def is_ocsf_finding(document: Any) -> bool:
    """True for an OCSF Detection Finding (a JSON object of class 2004)."""
    return isinstance(document, dict) and document.get("class_uid") == _CLASS_UID


def iso_from_millis(value: Any) -> str:
    """An epoch-milliseconds time (as OCSF and CEF carry it) as ISO 8601 UTC."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ExportFormatError(f"the event time is not epoch milliseconds: {value!r}")
    return dt.datetime.fromtimestamp(value / 1000, dt.UTC).isoformat()


def event_from_ocsf(finding: dict[str, Any]) -> dict[str, Any]:
    """The plain event (``event_type``, ``occurred_at``, ``message``, ids) of ``to_ocsf``'s output.

    Raises:
        ExportFormatError: the finding lacks what ``to_ocsf`` always writes.
    """
    info = finding.get("finding_info")
    types = info.get("types") if isinstance(info, dict) else None
    if not isinstance(types, list) or not types or not isinstance(types[0], str):
        raise ExportFormatError("OCSF finding without finding_info.types")
    metadata = finding.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    event: dict[str, Any] = {
        "event_type": types[0],
        "occurred_at": iso_from_millis(finding.get("time")),
        "message": str(finding.get("message") or ""),
    }
    if isinstance(metadata.get("correlation_uid"), str):
        event["request_id"] = metadata["correlation_uid"]
    if isinstance(metadata.get("sequence"), int):
        event["seq"] = metadata["sequence"]
    return event
