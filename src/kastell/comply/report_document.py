"""The assessment as one JSON-ready document; the Markdown and HTML reports render from it."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from kastell.comply.annex_iv import annex_iv_skeleton
from kastell.comply.assess import Assessment
from kastell.comply.clocks import Clock
from kastell.comply.evaluate import applies_later, summarize
from kastell.comply.interface import Control, ControlResult, StepResult, StoredEvidence

__all__ = [
    "REPORT_FORMAT_VERSION",
    "assessment_document",
    "clock_entry",
    "control_entry",
    "evidence_entry",
]

REPORT_FORMAT_VERSION = 1
_VERDICTS = {0: "pass", 1: "fail", 3: "incomplete"}


def evidence_entry(record: StoredEvidence) -> dict[str, Any]:
    """One evidence record as shown in reports."""
    e = record.evidence
    return {
        "id": record.id,
        "kind": e.kind.value,
        "subject": e.subject.name,
        "subject_digest": str(e.subject.digest),
        "payload_digest": str(e.payload_digest),
        "payload_ref": e.payload_ref,
        "produced_at": e.produced_at.isoformat(timespec="seconds"),
        "producer": e.producer,
        "passed": e.summary.get("passed"),
    }


def control_entry(control: Control) -> dict[str, Any]:
    """One catalog control as listed by ``kastell evidence list --controls``."""
    return {
        "id": control.id,
        "framework": control.framework,
        "reference": control.reference,
        "title": control.title,
        "evidence_kinds": [k.value for k in control.evidence_kinds],
    }


def _control(result: ControlResult) -> dict[str, Any]:
    c = result.control
    return {
        "id": c.id,
        "framework": c.framework,
        "reference": c.reference,
        "title": c.title,
        "status": result.status.value,
        "reason": result.reason,
        "evidence_kinds": [k.value for k in c.evidence_kinds],
        "applies_from": c.applies_from.isoformat() if c.applies_from else None,
        "verification": c.verification,
        "evidence": [evidence_entry(r) for r in result.evidence],
        "findings": [f.to_dict() for f in result.findings],
        "missing_kinds": [k.value for k in result.missing_kinds],
        "stale_kinds": [k.value for k in result.stale_kinds],
    }


def _step(step: StepResult) -> dict[str, Any]:
    return {
        "name": step.name,
        "outcome": step.outcome.value,
        "detail": step.detail,
        "findings": [f.to_dict() for f in step.findings],
        "evidence": [str(e.payload_digest) for e in step.evidence],
    }


def clock_entry(clock: Clock) -> dict[str, Any]:
    """One clock as shown in reports."""
    return {
        "key": clock.rule.key,
        "step": clock.rule.step,
        "basis": clock.rule.basis,
        "period": str(clock.rule.period),
        "start_event": clock.start_event,
        "state": clock.state.value,
        "due": clock.due.isoformat() if clock.due else None,
        "submitted_at": clock.submitted_at.isoformat() if clock.submitted_at else None,
        "recipient": clock.rule.recipient,
    }


def _step_data(steps: Sequence[StepResult], name: str) -> Mapping[str, Any] | None:
    for step in steps:
        if step.name == name:
            return {"outcome": step.outcome.value, "detail": step.detail, **dict(step.data)}
    return None


def _relative(value: Any, base: pathlib.Path) -> Any:
    """Absolute paths of existing files shown relative to the descriptor (shareable reports)."""
    if isinstance(value, dict):
        return {k: _relative(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, base) for v in value]
    if isinstance(value, str) and value.startswith("/") and "\n" not in value and len(value) < 4096:
        path = pathlib.Path(value)
        if path.exists():
            return os.path.relpath(path, base)
    return value


def assessment_document(assessment: Assessment) -> dict[str, Any]:
    """The full report as a JSON-ready dictionary.

    Absolute paths of existing files are shown relative to the descriptor's directory, so a
    report does not disclose (or depend on) the layout of the machine that produced it.
    """
    return _relative(_document(assessment), assessment.descriptor.base_dir)  # type: ignore[no-any-return]


def _document(assessment: Assessment) -> dict[str, Any]:
    catalog = assessment.catalog
    code = int(assessment.exit_code)
    return {
        "kastell_report": REPORT_FORMAT_VERSION,
        "deployment": assessment.name,
        "description": assessment.descriptor.description,
        "started_at": assessment.started_at.isoformat(timespec="seconds"),
        "finished_at": assessment.finished_at.isoformat(timespec="seconds"),
        "exit_code": code,
        "verdict": _VERDICTS.get(code, "incomplete"),
        "catalog": {
            "name": catalog.name,
            "version": catalog.version,
            "status": catalog.status,
            "caveats": list(catalog.caveats),
            "frameworks": dict(catalog.frameworks),
            "application_dates": [
                {
                    "framework": d.framework,
                    "date": d.date.isoformat(),
                    "scope": d.scope,
                    "reference": d.reference,
                    "caveat": d.caveat,
                }
                for d in catalog.application_dates
            ],  # fmt: skip
        },
        "steps": [_step(s) for s in assessment.steps],
        "summary": summarize(assessment.controls),
        "applies_later": applies_later(assessment.controls, assessment.finished_at.date()),
        "controls": [_control(r) for r in assessment.controls],
        "provenance": _step_data(assessment.steps, "provenance"),
        "integrity": _step_data(assessment.steps, "integrity"),
        "scan": _step_data(assessment.steps, "scan"),
        "redteam": _step_data(assessment.steps, "redteam"),
        "guard": _step_data(assessment.steps, "guard"),
        "audit_log": _step_data(assessment.steps, "audit log"),
        "ai_bom": _step_data(assessment.steps, "ai-bom"),
        "residency": _step_data(assessment.steps, "residency"),
        "incidents": [
            {**incident.to_dict(), "clocks": [clock_entry(c) for c in clocks]}
            for incident, clocks in assessment.incidents
        ],
        "evidence": [evidence_entry(r) for r in assessment.evidence],
        "annex_iv": [
            {
                "point": s.spec.point,
                "title": s.spec.title,
                "facts": list(s.facts),
                "to_write": s.to_write,
            }
            for s in annex_iv_skeleton(assessment.evidence)
        ],  # fmt: skip
    }
