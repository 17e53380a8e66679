"""``kastell evidence`` and ``kastell assess`` (``kastell incident`` is in ``cli.incident``)."""

from __future__ import annotations

import datetime as dt
import pathlib
from typing import Any

import click

from kastell.cli._render import FORMAT_OPTION, emit_json, format_option, note

__all__ = ["NOW_OPTION", "STORE_OPTION", "assess", "evidence", "now_from"]

DEFAULT_STORE = ".kastell/evidence.sqlite"

STORE_OPTION = click.option(
    "--store", envvar="KASTELL_EVIDENCE_STORE", default=DEFAULT_STORE, show_default=True,
    help="Evidence store: a SQLite file path or a database URL (postgresql://...).",
)  # fmt: skip
NOW_OPTION = click.option(
    "--now", "now_text", envvar="KASTELL_NOW", default=None,
    help="Evaluate at this ISO 8601 time instead of the system clock (reproducible runs).",
)  # fmt: skip


def now_from(now_text: str | None) -> dt.datetime:
    """``--now`` parsed, or the current UTC time."""
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
        [(_kind(kind), path, title)], now_from(now_text), attested_by or "kastell evidence add"
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
    fixed = now_from(now_text) if now_text else None

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

    with IncidentStore.open(location) as incidents:  # shares the evidence store's database
        assessment = run_assessment(d, incidents.evidence, clock, incidents=incidents.list(),
                                    on_step=on_step)  # fmt: skip
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
