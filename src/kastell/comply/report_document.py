"""The assessment as one JSON-ready document; the Markdown and HTML reports render from it."""

from __future__ import annotations

import datetime as dt
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from kastell.comply.annex_iv import annex_iv_skeleton
from kastell.comply.assess import Assessment
from kastell.comply.clocks import Clock, clock_exclusions
from kastell.comply.evaluate import applies_later, expired, summarize
from kastell.comply.interface import Control, ControlResult, StepResult, StoredEvidence
from kastell.comply.lifecycle import lifecycle_map
from kastell.comply.scope import Applicability, ControlScope

__all__ = [
    "REPORT_FORMAT_VERSION",
    "applicability_counts",
    "assessment_document",
    "clock_entry",
    "control_entry",
    "evidence_entry",
    "link_evidence",
    "scope_entry",
    "utc",
    "verdict_entry",
]

REPORT_FORMAT_VERSION = 2
_VERDICTS = {0: "pass", 1: "fail", 3: "incomplete"}


def utc(moment: dt.datetime) -> str:
    """One zone, to the second: ``2026-12-03T19:15:14Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _incident_times(incident: Any) -> dict[str, Any]:
    return {
        "aware_at": utc(incident.aware_at),
        "fix_available_at": utc(incident.fix_available_at) if incident.fix_available_at else None,
        "closed_at": utc(incident.closed_at) if incident.closed_at else None,
        "submitted": {k: utc(v) for k, v in sorted(incident.submitted.items())},
    }


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
        "produced_at": utc(e.produced_at),
        "title": e.summary.get("title"),
        "controls": list(e.summary.get("controls") or []),
        "attested_by": e.summary.get("attested_by"),
        "approved_by": e.summary.get("approved_by"),
        "valid_until": e.summary.get("valid_until"),
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


def _control(result: ControlResult, scope: ControlScope | None) -> dict[str, Any]:
    c = result.control
    applies = scope.applicability.value if scope else Applicability.APPLIES.value
    return {
        "applicability": applies,
        "applicability_reason": scope.reason if scope else "scope not evaluated",
        "applies_from_alternative": (
            scope.alternative_date.isoformat() if scope and scope.alternative_date else None
        ),
        "id": c.id,
        "framework": c.framework,
        "reference": c.reference,
        "title": c.title,
        "status": result.status.value,
        "reason": result.reason,
        "evidence_kinds": [k.value for k in c.evidence_kinds],
        "applies_from": (
            scope.applies_from.isoformat() if scope and scope.applies_from
            else c.applies_from.isoformat() if c.applies_from else None
        ),
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


def clock_entry(clock: Clock, *, in_utc: bool = False) -> dict[str, Any]:
    """One clock as shown in reports (local time of the entity, or UTC, to the second)."""

    def when(moment: dt.datetime) -> str:
        return utc(moment) if in_utc else moment.isoformat(timespec="seconds")

    return {
        "key": clock.rule.key,
        "step": clock.rule.step,
        "basis": clock.rule.basis,
        "period": str(clock.rule.period),
        "start_event": clock.start_event,
        "state": clock.state.value,
        "due": when(clock.due) if clock.due else None,
        "submitted_at": when(clock.submitted_at) if clock.submitted_at else None,
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
    doc = _document(assessment)
    doc["lifecycle"] = lifecycle_map(doc["controls"], doc["findings"]["items"])
    return _relative(doc, assessment.descriptor.base_dir)  # type: ignore[no-any-return]


def _document(assessment: Assessment) -> dict[str, Any]:
    catalog = assessment.catalog
    code = int(assessment.exit_code)
    scopes = {s.control.id: s for s in assessment.scopes}
    verdict = assessment.verdict
    applicable = [r for r in assessment.controls
                  if (s := scopes.get(r.control.id)) is None
                  or s.applicability is Applicability.APPLIES]  # fmt: skip
    return {
        "kastell_report": REPORT_FORMAT_VERSION,
        "deployment": assessment.name,
        "description": assessment.descriptor.description,
        "started_at": utc(assessment.started_at),
        "finished_at": utc(assessment.finished_at),
        "time_zone": "UTC",
        "exit_code": code,
        "verdict": verdict.verdict if verdict else _VERDICTS.get(code, "incomplete"),
        "gates_exit_code": int(assessment.gates_exit_code),
        "scope": scope_entry(assessment),
        "findings": verdict_entry(assessment),
        "catalog": {
            "name": catalog.name,
            "version": catalog.version,
            "status": catalog.status,
            "caveats": list(catalog.caveats),
            "frameworks": dict(catalog.frameworks),
            "max_controls_per_document": catalog.max_controls_per_document,
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
        "summary": summarize(applicable),
        "applicability": applicability_counts(assessment.scopes),
        "applies_later": applies_later(assessment.controls, assessment.finished_at.date()),
        "controls": [_control(r, scopes.get(r.control.id)) for r in assessment.controls],
        "provenance": _step_data(assessment.steps, "provenance"),
        "integrity": _step_data(assessment.steps, "integrity"),
        "scan": _step_data(assessment.steps, "scan"),
        "redteam": _step_data(assessment.steps, "redteam"),
        "guard": _step_data(assessment.steps, "guard"),
        "audit_log": _step_data(assessment.steps, "audit log"),
        "ai_bom": _step_data(assessment.steps, "ai-bom"),
        "residency": _step_data(assessment.steps, "residency"),
        "incidents": [
            {**incident.to_dict(), **_incident_times(incident),
             "clocks": [clock_entry(c, in_utc=True) for c in clocks],
             "not_applicable": list(clock_exclusions(incident))}
            for incident, clocks in assessment.incidents
        ],
        "evidence": [{**evidence_entry(r), "expired": expired(r, assessment.finished_at)}
                     for r in assessment.evidence],
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


def applicability_counts(scopes: Sequence[ControlScope]) -> dict[str, dict[str, int]]:
    """Per framework: how many controls apply, apply later, or do not apply."""
    table: dict[str, dict[str, int]] = {}
    for s in scopes:
        row = table.setdefault(s.control.framework, {a.value: 0 for a in Applicability})
        row[s.applicability.value] += 1
    return table


def scope_entry(assessment: Assessment) -> dict[str, Any] | None:
    """The declared scope (None: not declared, every control treated as applicable)."""
    scope = assessment.descriptor.scope
    if scope is None:
        return None
    return scope.model_dump(mode="json")


def verdict_entry(assessment: Assessment) -> dict[str, Any]:
    """Findings, accepted risks and inconclusive items of the verdict."""
    verdict = assessment.verdict
    if verdict is None:
        return {"items": [], "open": 0, "accepted": 0, "inconclusive": 0}
    from kastell.comply.verdict import ItemState

    return {
        "items": [i.to_dict() for i in verdict.items],
        "open": verdict.count(ItemState.OPEN),
        "accepted": verdict.count(ItemState.ACCEPTED),
        "inconclusive": verdict.count(ItemState.INCONCLUSIVE),
        "not_checked_steps": list(verdict.not_checked),
        "acceptance_problem": verdict.acceptance_problem,
        "unused_acceptances": [a.to_dict() for a in verdict.unused_acceptances],
    }


def link_evidence(doc: dict[str, Any], included: Sequence[str]) -> dict[str, Any]:
    """Give each evidence entry whose payload is in the bundle its relative link (``href``)."""
    from kastell.comply.report_files import evidence_href

    held = set(included)

    def linked(entry: dict[str, Any]) -> dict[str, Any]:
        digest = entry.get("payload_digest")
        href = evidence_href(digest) if isinstance(digest, str) and digest in held else None
        return {**entry, "href": href}

    controls = [{**c, "evidence": [linked(e) for e in c["evidence"]]} for c in doc["controls"]]
    return {**doc, "evidence": [linked(e) for e in doc["evidence"]], "controls": controls}
