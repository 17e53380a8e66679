"""Plain-text renderings for the terminal (the CLI prints them; tests read them)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from kastell.comply.clocks import Clock, ClockState
from kastell.comply.incident import Incident, zone
from kastell.comply.interface import StepOutcome, StepResult, StoredEvidence


def evidence_table(records: Sequence[StoredEvidence]) -> str:
    """One line per evidence record."""
    if not records:
        return "no evidence recorded"
    lines = []
    for record in records:
        e = record.evidence
        passed = e.summary.get("passed")
        outcome = "passed" if passed is True else "FAILED" if passed is False else "recorded"
        lines.append(
            f"{record.id:>5}  {e.kind.value:<26} {outcome:<8} "
            f"{e.produced_at.isoformat(timespec='seconds')}  {e.subject.name}  "
            f"{str(e.payload_digest)[:23]}"
        )
    return "\n".join(lines)


def _remaining(delta: dt.timedelta) -> str:
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    text = (
        f"{days}d {rest // 3600}h {rest % 3600 // 60}m"
        if days
        else f"{rest // 3600}h {rest % 3600 // 60}m"
    )
    return f"{text} left" if delta >= dt.timedelta(0) else f"{text} OVERDUE"


def clock_line(clock: Clock) -> str:
    """One clock: state, due time, legal basis."""
    if clock.rule.period.unit == "undue_delay":
        when = "without undue delay"
    elif clock.due is None:
        when = f"starts at {clock.start_event}"
    else:
        when = f"due {clock.due.isoformat(timespec='minutes')}"
    extra = ""
    if clock.remaining is not None:
        extra = f" ({_remaining(clock.remaining)})"
    elif clock.submitted_at is not None:
        extra = f" (submitted {clock.submitted_at.isoformat(timespec='minutes')})"
    return f"  {clock.state.value:<15} {clock.rule.step:<28} {when}{extra}  [{clock.rule.basis}]"


def incident_block(incident: Incident, clocks: Sequence[Clock]) -> str:
    """An incident with all its clocks."""
    regimes = ", ".join(sorted(incident.regimes)) or "no regime set: no legal clocks"
    aware = incident.aware_at.astimezone(zone(incident.timezone)).isoformat(timespec="minutes")
    head = f"{incident.id}  {incident.title}  (aware {aware}, {incident.timezone}; {regimes})"
    if incident.closed_at:
        head += f"  closed {incident.closed_at.isoformat(timespec='minutes')}"
    upcoming = [c for c in clocks if c.state is ClockState.DUE and c.due is not None]
    lines = [head, *(clock_line(c) for c in clocks)]
    if upcoming:
        nxt = min(upcoming, key=lambda c: c.due or dt.datetime.max.replace(tzinfo=dt.UTC))
        when = nxt.due.isoformat(timespec="minutes") if nxt.due else "?"
        left = f" ({_remaining(nxt.remaining)})" if nxt.remaining is not None else ""
        lines.append(f"  next: {nxt.rule.step} ({nxt.rule.basis}) due {when}{left}")
    from kastell.comply.clocks import clock_exclusions

    lines += [f"  not applicable: {reason}" for reason in clock_exclusions(incident)]
    late = overdue(clocks)
    if late:
        lines.append(f"  OVERDUE: {', '.join(f'{c.rule.step} ({c.rule.basis})' for c in late)}")
    return "\n".join(lines)


def overdue(clocks: Sequence[Clock]) -> list[Clock]:
    """The clocks that are overdue."""
    return [c for c in clocks if c.state is ClockState.OVERDUE]


def assessment_summary(doc: Mapping[str, Any], written: Sequence[str]) -> str:
    """The text summary ``kastell assess`` prints."""
    lines = [
        f"assessment of {doc['deployment']}: {doc['verdict'].upper()} (exit {doc['exit_code']})"
    ]
    for step in doc["steps"]:
        lines.append(f"  {step['outcome']:<12} {step['name']:<16} {step['detail']}")
    lines.append("applicable controls by framework (satisfied / failing / missing / "
                 "needs attestation):")
    for framework, counts in doc["summary"].items():
        lines.append(
            f"  {framework:<16} {counts['satisfied']:>3} / {counts['failing']:>3} / "
            f"{counts['missing']:>3} / {counts['needs_attestation']:>3}"
        )
    findings = doc.get("findings") or {}
    lines.append(f"findings: {findings.get('open', 0)} open, {findings.get('accepted', 0)} "
                 f"accepted, {findings.get('inconclusive', 0)} inconclusive")  # fmt: skip
    for item in [i for i in findings.get("items", ()) if i["state"] != "accepted"][:10]:
        lines.append(f"  {item['state']:<12} {item['severity']:<8} {item['id']:<34} "
                     f"owner {item['owner']}, due {item['due']}")  # fmt: skip
    catalog = doc["catalog"]
    lines.append(f"catalog {catalog['name']} {catalog['version']} ({catalog['status']}): "
                 f"{len(catalog['caveats'])} caveat(s) shown in the report - not legal advice")
    lines += [f"report: {path}" for path in written]
    return "\n".join(lines)


def assessment_junit(deployment: str, steps: Sequence[StepResult]) -> str:
    """JUnit XML: one test case per step (failed = failure, not checked = error)."""
    from kastell.report.junit import JUnitCase, JUnitSuite, render_junit

    cases = []
    for step in steps:
        case = JUnitCase(step.name, "kastell.assess", details=step.detail)
        if step.outcome is StepOutcome.FAILED:
            case = dataclasses.replace(case, failure=step.detail)
        elif step.outcome is StepOutcome.NOT_CHECKED:
            case = dataclasses.replace(case, error=step.detail)
        elif step.outcome is StepOutcome.SKIPPED:
            case = dataclasses.replace(case, skipped=step.detail)
        cases.append(case)
    return render_junit([JUnitSuite(f"assess {deployment}", tuple(cases))])
