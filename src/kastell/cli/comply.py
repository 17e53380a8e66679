"""``kastell evidence``, ``kastell assess`` and ``kastell incident``: compliance commands."""

from __future__ import annotations

import datetime as dt
import pathlib
from typing import Any

import click

from kastell.cli._render import FORMAT_OPTION, emit_json, format_option, note

__all__ = ["assess", "evidence", "incident"]

DEFAULT_STORE = ".kastell/evidence.sqlite"

STORE_OPTION = click.option(
    "--store", envvar="KASTELL_EVIDENCE_STORE", default=DEFAULT_STORE, show_default=True,
    help="Evidence store: a SQLite file path or a database URL (postgresql://...).",
)  # fmt: skip
NOW_OPTION = click.option(
    "--now", "now_text", envvar="KASTELL_NOW", default=None,
    help="Evaluate at this ISO 8601 time instead of the system clock (reproducible runs).",
)  # fmt: skip


def _now(now_text: str | None) -> dt.datetime:
    from kastell.comply.incident import parse_time

    return parse_time(now_text) if now_text else dt.datetime.now(dt.UTC)


# ------------------------------------------------------------------------------------ evidence


@click.group("evidence")
def evidence() -> None:
    """List, show and add compliance evidence (the store `kastell assess` writes to)."""


@evidence.command("list")
@STORE_OPTION
@click.option("--kind", help="Only this evidence kind (e.g. model_signature).")
@click.option("--subject", help="Only evidence about this subject name.")
@click.option("--controls", is_flag=True, help="List the control catalog instead of evidence.")
@FORMAT_OPTION
def evidence_list(
    store: str, kind: str | None, subject: str | None, controls: bool, output_format: str
) -> int:
    """List evidence records (oldest first), or the control catalog with --controls."""
    if controls:
        from kastell.comply.catalog import load_catalog
        from kastell.comply.report_document import control_entry

        catalog = load_catalog()
        if output_format == "json":
            emit_json([control_entry(c) for c in catalog.controls])
        else:
            for c in catalog.controls:
                click.echo(f"{c.id:<22} {c.framework:<15} {c.title}")
        return 0
    from kastell.comply._text import evidence_table
    from kastell.comply.evidence_store import EvidenceStore
    from kastell.comply.report_document import evidence_entry

    with EvidenceStore.open(store) as opened:
        records = opened.list(_kind(kind) if kind else None, subject)
    if output_format == "json":
        emit_json([evidence_entry(r) for r in records])
    else:
        click.echo(evidence_table(records))
    return 0


def _kind(text: str) -> Any:
    from kastell.comply.interface import EvidenceInputError
    from kastell.types import EvidenceKind

    try:
        return EvidenceKind(text)
    except ValueError:
        raise EvidenceInputError(
            f"unknown evidence kind {text!r}",
            hint=f"Use one of: {', '.join(k.value for k in EvidenceKind)}.",
        ) from None


@evidence.command("show")
@click.argument("evidence_id", type=int)
@STORE_OPTION
@click.option("--payload", "payload_out", type=click.Path(dir_okay=False, path_type=pathlib.Path),
              help="Also write the stored payload (digest re-checked) to this file.")  # fmt: skip
@FORMAT_OPTION
def evidence_show(
    evidence_id: int, store: str, payload_out: pathlib.Path | None, output_format: str
) -> int:
    """Show one evidence record and its summary."""
    from kastell.comply.evidence_store import CAS_PREFIX, EvidenceStore
    from kastell.comply.report_document import evidence_entry

    with EvidenceStore.open(store) as opened:
        record = opened.get(evidence_id)
        if payload_out is not None:
            if not record.evidence.payload_ref.startswith(CAS_PREFIX):
                note(f"payload is not held by the store (ref {record.evidence.payload_ref!r})")
                return 3
            payload_out.write_bytes(opened.payload(record.evidence.payload_digest))
    entry = {**evidence_entry(record), "summary": dict(record.evidence.summary)}
    if output_format == "json":
        emit_json(entry)
    else:
        for key, value in entry.items():
            click.echo(f"{key:>15}: {value}")
    return 0


@evidence.command("add")
@click.argument("kind")
@click.argument("path", type=click.Path(path_type=pathlib.Path))
@STORE_OPTION
@click.option("--title", help="What the document is (default: the file name).")
@click.option("--by", "attested_by", envvar="KASTELL_ATTESTED_BY", help="Who attests it.")
@NOW_OPTION
@FORMAT_OPTION
def evidence_add(kind: str, path: pathlib.Path, store: str, title: str | None,
                 attested_by: str | None, now_text: str | None, output_format: str) -> int:
    """Record a document (policy, oversight procedure, ...) as evidence of KIND, with its digest."""
    from kastell.comply.evidence_store import EvidenceStore
    from kastell.comply.interface import EvidenceInputError
    from kastell.comply.report_document import evidence_entry
    from kastell.comply.steps import record_manual_evidence

    if not path.exists():
        raise EvidenceInputError(f"{path} does not exist")
    result = record_manual_evidence(
        [(_kind(kind), path, title)], _now(now_text), attested_by or "kastell evidence add"
    )
    item = result.evidence[0]
    with EvidenceStore.open(store) as opened:
        record = opened.record(item, result.payloads[str(item.payload_digest)])
    if output_format == "json":
        emit_json(evidence_entry(record))
    else:
        click.echo(f"recorded evidence #{record.id}: {kind} {path.name} {item.payload_digest}")
    return 0


# -------------------------------------------------------------------------------------- assess


def _print_schema(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from kastell.comply.descriptor import descriptor_json_schema

    emit_json(descriptor_json_schema())
    ctx.exit(0)


@click.command("assess")
@click.argument("descriptor", type=click.Path(path_type=pathlib.Path))
@click.option("--schema", is_flag=True, expose_value=False, is_eager=True, callback=_print_schema,
              help="Print the descriptor's JSON Schema (for editors and CI) and exit.")
@click.option("--store", envvar="KASTELL_EVIDENCE_STORE", default=None,
              help="Evidence store path or URL (default: evidence.store of the descriptor).")
@click.option("--output-dir", "-o", envvar="KASTELL_OUTPUT_DIR",
              type=click.Path(path_type=pathlib.Path),
              help="Report directory (default: output.dir of the descriptor).")
@NOW_OPTION
@format_option(
    "text", "json", "sarif", "junit",
    help="Output format on stdout (the report files are written in any case).",
)
def assess(descriptor: pathlib.Path, store: str | None, output_dir: pathlib.Path | None,
           now_text: str | None, output_format: str) -> int:  # fmt: skip
    """Assess a deployment: verify, scan, red-team, lint, check residency, evaluate, report.

    Exit codes: 0 every gate passed, 1 a gate failed, 2 bad descriptor, 3 something could not
    be checked (an unchecked step is never a pass).
    """
    from kastell.comply.assess import STEP_NAMES, run_assessment
    from kastell.comply.descriptor import load_descriptor
    from kastell.comply.incident_store import IncidentStore
    from kastell.comply.report_document import assessment_document
    from kastell.comply.report_files import write_report

    d = load_descriptor(descriptor)
    fixed = _now(now_text) if now_text else None

    def clock() -> dt.datetime:
        return fixed or dt.datetime.now(dt.UTC)

    configured = d.evidence.store
    location = store or (configured if "://" in configured
                         else str(d.resolve(pathlib.Path(configured))))  # fmt: skip
    total = len(STEP_NAMES)

    def on_step(name: str, result: Any) -> None:
        index = STEP_NAMES.index(name) + 1 if name in STEP_NAMES else 0
        if result is None:
            note(f"[{index}/{total}] {name} ...")
        else:
            note(f"[{index}/{total}] {name}: {result.outcome.value} - {result.detail}")

    incidents = IncidentStore.open(location)  # shares the evidence store's database
    try:
        assessment = run_assessment(d, incidents.evidence, clock, incidents=incidents.list(),
                                    on_step=on_step)  # fmt: skip
    finally:
        incidents.evidence.close()
    doc = assessment_document(assessment)
    out = output_dir or d.resolve(d.output.dir)
    written = write_report(doc, out, d.output.formats, assessment.finished_at)
    _emit_assessment(doc, assessment, output_format, [str(p) for p in written])
    return int(assessment.exit_code)


def _emit_assessment(doc: dict[str, Any], assessment: Any, fmt: str, written: list[str]) -> None:
    from kastell import __version__
    from kastell.comply._text import assessment_summary

    if fmt == "json":
        emit_json(doc)
    elif fmt == "sarif":
        from kastell.report.interface import ToolInfo
        from kastell.report.sarif import render_sarif

        findings = [f for step in assessment.steps for f in step.findings]
        emit_json(render_sarif(findings, ToolInfo("kastell-assess", __version__)))
    elif fmt == "junit":
        from kastell.comply._text import assessment_junit

        click.echo(assessment_junit(doc["deployment"], assessment.steps))
    else:
        click.echo(assessment_summary(doc, written))
    for path in written:
        note(f"wrote {path}")


# ------------------------------------------------------------------------------------ incident

_REGIMES = ["nis2-significant", "cra-exploited-vulnerability", "cra-severe-incident",
            "aia-serious", "aia-widespread", "aia-death"]  # fmt: skip
REGIME_OPTION = click.option(
    "--regime", "regimes", multiple=True, type=click.Choice(_REGIMES),
    help="Legal classification (repeat for several); each starts its own clocks.",
)  # fmt: skip
FACT_OPTION = click.option(
    "--fact", "facts", multiple=True, help="Notification field KEY=VALUE (repeat)."
)


def _draft(title: str | None, regimes: tuple[str, ...], facts: tuple[str, ...],
           timezone: str = "UTC", description: str = "",
           aware_at: str | None = None) -> Any:  # fmt: skip
    from kastell.comply.incident import Regime
    from kastell.comply.incident_service import IncidentDraft, parse_facts

    return IncidentDraft(timezone, frozenset(Regime(r) for r in regimes), parse_facts(facts),
                         title, description, aware_at)  # fmt: skip


@click.group("incident")
def incident() -> None:
    """Open incidents and track their legal reporting clocks (NIS2, CRA, AI Act)."""


@incident.command("open")
@click.option("--title", help="Short description (required unless --from-events).")
@click.option("--aware-at", help="When you became aware (ISO 8601; default: now / the event time).")
@click.option("--tz", "timezone", envvar="KASTELL_TZ", default="UTC", show_default=True,
              help="The entity's IANA time zone (days and months count on its clock).")
@REGIME_OPTION
@click.option("--description", default="", help="What happened.")
@FACT_OPTION
@click.option("--from-events", type=click.Path(dir_okay=False, path_type=pathlib.Path),
              help="JSON-lines guard/audit events: one incident per canary leak, extraction "
                   "alert or burst of blocked attacks.")  # fmt: skip
@click.option("--from-audit-log", help="Read the events from the guard's audit log (path or URL).")
@click.option("--burst-threshold", default=20, show_default=True, help="Blocks per burst.")
@STORE_OPTION
@NOW_OPTION
@FORMAT_OPTION
def incident_open(title: str | None, aware_at: str | None, timezone: str, regimes: tuple[str, ...],
                  description: str, facts: tuple[str, ...], from_events: pathlib.Path | None,
                  from_audit_log: str | None, burst_threshold: int, store: str,
                  now_text: str | None, output_format: str) -> int:  # fmt: skip
    """Open an incident by hand, or from guard events, and show its clocks."""
    from kastell.comply.incident_service import open_from_events, open_incident
    from kastell.comply.incident_store import IncidentStore
    from kastell.comply.interface import IncidentError

    now = _now(now_text)
    draft = _draft(title, regimes, facts, timezone, description, aware_at)
    opened = IncidentStore.open(store)
    try:
        if from_audit_log is not None:
            from kastell.comply._audit import read_audit_events
            from kastell.comply.incident_service import open_from_event_list

            events = read_audit_events(from_audit_log)
            incidents = open_from_event_list(opened, draft, events, now, burst_threshold)
        elif from_events is None:
            incidents = [open_incident(opened, draft, now)]
        else:
            try:
                text = from_events.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise IncidentError(f"cannot read events {from_events}: {error}") from None
            incidents = open_from_events(opened, draft, text, str(from_events), now,
                                         burst_threshold)  # fmt: skip
        if not incidents:
            note("no incident candidates in the events")
    finally:
        opened.evidence.close()
    return _show(incidents, now, output_format)


def _show(incidents: list[Any], now: dt.datetime, output_format: str) -> int:
    from kastell.comply._text import incident_block, overdue
    from kastell.comply.clocks import compute_clocks
    from kastell.comply.report_document import clock_entry

    rows, late = [], 0
    for item in incidents:
        clocks = compute_clocks(item, now)
        late += len(overdue(clocks))
        if output_format == "json":
            rows.append({**item.to_dict(), "clocks": [clock_entry(c) for c in clocks]})
        else:
            click.echo(incident_block(item, clocks))
    if output_format == "json":
        emit_json(rows)
    return 1 if late else 0


@incident.command("update")
@click.argument("incident_id")
@click.option("--title")
@REGIME_OPTION
@click.option("--submitted", multiple=True,
              help="CLOCK=TIME: a notification was submitted (e.g. NIS2-23.4.b=...).")
@click.option("--fix-available", help="When a corrective measure became available (CRA).")
@FACT_OPTION
@click.option("--close", "close_at", help="Close the incident at this time.")
@STORE_OPTION
@NOW_OPTION
@FORMAT_OPTION
def incident_update(incident_id: str, title: str | None, regimes: tuple[str, ...],
                    submitted: tuple[str, ...], fix_available: str | None, facts: tuple[str, ...],
                    close_at: str | None, store: str, now_text: str | None,
                    output_format: str) -> int:  # fmt: skip
    """Record submissions, a fix, new facts or regimes; show the clocks again."""
    from kastell.comply.incident_service import update_incident
    from kastell.comply.incident_store import IncidentStore

    now = _now(now_text)
    opened = IncidentStore.open(store)
    try:
        updated = update_incident(opened, incident_id, now, draft=_draft(title, regimes, facts),
                                  submitted=submitted, fix_available=fix_available,
                                  close_at=close_at)  # fmt: skip
    finally:
        opened.evidence.close()
    return _show([updated], now, output_format)


@incident.command("report")
@click.argument("incident_id")
@STORE_OPTION
@NOW_OPTION
@FORMAT_OPTION
def incident_report(incident_id: str, store: str, now_text: str | None, output_format: str) -> int:
    """Draft every notification the incident's clocks call for, pre-filled from evidence."""
    from kastell.comply.clocks import compute_clocks
    from kastell.comply.incident_store import IncidentStore
    from kastell.comply.notifications import draft_notifications, render_markdown

    now = _now(now_text)
    opened = IncidentStore.open(store)
    try:
        item = opened.get(incident_id)
        drafts = draft_notifications(item, compute_clocks(item, now), opened.evidence.list())
    finally:
        opened.evidence.close()
    if output_format == "json":
        emit_json([{"clock": d.clock.rule.key, "basis": d.clock.rule.basis,
                    "recipient": d.clock.rule.recipient, "state": d.clock.state.value,
                    "due": d.clock.due.isoformat() if d.clock.due else None,
                    "fields": [{"name": f.name, "value": f.value, "source": f.source}
                               for f in d.fields]} for d in drafts])  # fmt: skip
    else:
        click.echo(f"# Notification drafts for {item.id}: {item.title}\n")
        click.echo("\n".join(render_markdown(d) for d in drafts) or "no clocks: set --regime")
    return 0


@incident.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include closed incidents.")
@STORE_OPTION
@NOW_OPTION
@FORMAT_OPTION
def incident_list(show_all: bool, store: str, now_text: str | None, output_format: str) -> int:
    """Show open incidents with what is due next and what is overdue (exit 1 if overdue)."""
    from kastell.comply.incident_store import IncidentStore

    now = _now(now_text)
    opened = IncidentStore.open(store)
    try:
        items = [i for i in opened.list() if show_all or i.closed_at is None]
    finally:
        opened.evidence.close()
    if not items and output_format == "text":
        click.echo("no open incidents")
        return 0
    return _show(items, now, output_format)
