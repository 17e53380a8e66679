"""``kastell evidence`` and ``kastell assess`` (``kastell incident`` is in ``cli.incident``)."""

from __future__ import annotations

import datetime as dt
import pathlib
from typing import Any

import click

from kastell.cli._render import FORMAT_OPTION, emit_json, format_option, note

__all__ = [
    "NOW_OPTION",
    "STORE_OPTION",
    "accept_risk",
    "assess",
    "evidence",
    "now_from",
    "verify_report",
]

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
@click.option("--title", required=True, help="What the document is.")
@click.option("--control", "controls", multiple=True, required=True,
              help="Catalog control id the document is evidence for (repeat; capped).")
@click.option("--by", "--attester", "attester", envvar="KASTELL_ATTESTED_BY", required=True,
              help="Who attests the document (a person).")
@click.option("--attester-role", required=True, help="The attester's role (e.g. CISO).")
@click.option("--approver", required=True, help="Who approved it (another person).")
@click.option("--approver-role", required=True, help="The approver's role.")
@click.option("--valid-until", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Review date (YYYY-MM-DD); afterwards the document no longer counts.")
@NOW_OPTION
@FORMAT_OPTION
def evidence_add(kind: str, path: pathlib.Path, store: str, title: str,
                 controls: tuple[str, ...], attester: str, attester_role: str, approver: str,
                 approver_role: str, valid_until: dt.datetime, now_text: str | None,
                 output_format: str) -> int:  # fmt: skip
    """Record a document (policy, procedure, ...) as evidence of KIND for the named controls."""
    from kastell.comply.evidence_store import EvidenceStore
    from kastell.comply.interface import EvidenceInputError
    from kastell.comply.report_document import evidence_entry
    from kastell.comply.steps import ManualRecord, record_manual_evidence

    if not path.exists():
        raise EvidenceInputError(f"{path} does not exist")
    record_in = ManualRecord(_kind(kind), path, title, controls, attester, attester_role,
                             approver, approver_role, valid_until.date())  # fmt: skip
    result = record_manual_evidence([record_in], now_from(now_text))
    item = result.evidence[0]
    with EvidenceStore.open(store) as opened:
        record = opened.record(item, result.payloads[str(item.payload_digest)])
    if output_format == "json":
        emit_json(evidence_entry(record))
    else:
        click.echo(f"recorded evidence #{record.id}: {kind} {path.name} {item.payload_digest} "
                   f"for {', '.join(controls)}")  # fmt: skip
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
    from kastell.comply.report_document import assessment_document, link_evidence
    from kastell.comply.report_files import write_evidence_files, write_report

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
        payloads = _payloads(incidents.evidence, assessment) if d.output.include_payloads else {}
    out = output_dir or d.resolve(d.output.dir)
    included = write_evidence_files(out, payloads)
    doc = link_evidence(assessment_document(assessment), included)
    written = write_report(doc, out, d.output.formats, assessment.finished_at, manifest=True)
    if d.output.signing_key is not None:
        written.append(_sign_report(d, out, doc))
    else:
        note("report bundle not signed: set output.signing_key to sign it")
    _emit_assessment(doc, assessment, output_format, [str(p) for p in written])
    return int(assessment.exit_code)


def _payloads(store: Any, assessment: Any) -> dict[str, bytes]:
    """The payload bytes of every evidence record the store holds (digest re-checked)."""
    from kastell.comply.evidence_store import CAS_PREFIX
    from kastell.comply.report_files import MAX_PAYLOAD_BYTES

    payloads: dict[str, bytes] = {}
    for record in assessment.evidence:
        e = record.evidence
        if e.payload_ref.startswith(CAS_PREFIX) and str(e.payload_digest) not in payloads:
            data = store.payload(e.payload_digest)
            if len(data) <= MAX_PAYLOAD_BYTES:
                payloads[str(e.payload_digest)] = data
    return payloads


def _sign_report(d: Any, out: pathlib.Path, doc: dict[str, Any]) -> pathlib.Path:
    import os

    from kastell.comply.report_bundle import sign_report_dir
    from kastell.errors import UsageError
    from kastell.integrity.keys import read_private_key

    env = d.output.signing_key_passphrase_env
    passphrase = None
    if env:
        if env not in os.environ:
            raise UsageError(f"output.signing_key_passphrase_env names {env}, which is not set")
        passphrase = os.environ[env].encode("utf-8")
    key = read_private_key(d.resolve(d.output.signing_key), passphrase)
    predicate = {"deployment": doc["deployment"], "verdict": doc["verdict"],
                 "finished_at": doc["finished_at"], "exit_code": doc["exit_code"]}  # fmt: skip
    return sign_report_dir(out, key, predicate)


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


# ------------------------------------------------------------------- signed report, risk accept


@click.command("verify-report")
@click.argument("bundle", type=click.Path(path_type=pathlib.Path))
@click.option("--key", "keys", multiple=True, required=True,
              type=click.Path(dir_okay=False, path_type=pathlib.Path),
              help="Trusted public key (PEM); repeat for several.")  # fmt: skip
@FORMAT_OPTION
def verify_report(bundle: pathlib.Path, keys: tuple[pathlib.Path, ...], output_format: str) -> int:
    """Check a report bundle offline: signature, and exactly the signed files with their bytes.

    Exit codes: 0 verified, 1 a file changed, was added or removed, or the signature does not
    verify, 2 no such directory or key, 3 a file could not be read.
    """
    from kastell.comply.report_bundle import SIGNATURE_FILE, verify_report_dir
    from kastell.errors import CheckError, UsageError
    from kastell.integrity.interface import IntegrityError
    from kastell.integrity.keys import read_public_key

    if not bundle.is_dir():
        raise UsageError(f"{bundle} is not a report directory")
    trusted = [read_public_key(k) for k in keys]  # a bad key file is a usage error (exit 2)
    if not (bundle / SIGNATURE_FILE).is_file():
        note(f"{bundle} has no {SIGNATURE_FILE}: the report is not signed")
        return 1
    try:
        result = verify_report_dir(bundle, trusted)
    except IntegrityError as error:  # malformed, unsupported or not signed by a trusted key
        note(f"the report signature does not verify: {error.message}")
        return 1
    except OSError as error:
        raise CheckError(f"cannot read the report bundle: {error}") from None
    entry: dict[str, Any] = {
             "passed": result.passed, "key_id": result.key_id, "files": result.files,
             "changed": list(result.changed), "added": list(result.added),
             "removed": list(result.removed), "not_regular": list(result.not_regular),
             "predicate": dict(result.predicate)}  # fmt: skip
    if output_format == "json":
        emit_json(entry)
    else:
        state = "VERIFIED" if result.passed else "FAILED"
        click.echo(f"{state}: {result.files} signed file(s), key {result.key_id[:16]}...")
        for label in ("changed", "added", "removed", "not_regular"):
            for name in entry[label]:
                click.echo(f"  {label}: {name}")
    return 0 if result.passed else 1


@click.command("accept-risk")
@click.argument("acceptances", type=click.Path(dir_okay=False, path_type=pathlib.Path))
@click.option("--descriptor", required=True,
              type=click.Path(dir_okay=False, path_type=pathlib.Path),
              help="The deployment descriptor the acceptances bind (by SHA-256).")
@click.option("--key", "key_path", required=True,
              type=click.Path(dir_okay=False, path_type=pathlib.Path),
              help="Private key (PEM) of the person or role accepting.")
@click.option("--output", "-o", required=True, type=click.Path(path_type=pathlib.Path),
              help="Where to write the signed acceptances (name it in risk.acceptances).")
@click.option("--passphrase-env", help="Environment variable holding the key's passphrase.")
def accept_risk(acceptances: pathlib.Path, descriptor: pathlib.Path, key_path: pathlib.Path,
                output: pathlib.Path, passphrase_env: str | None) -> int:  # fmt: skip
    """Sign risk acceptances (YAML) for one descriptor, as a DSSE in-toto bundle.

    Each entry: finding (the verdict item id), accepted_by, role, reason, until (YYYY-MM-DD).
    """
    from kastell.cli.signing import read_passphrase
    from kastell.comply.acceptance import acceptance_statement
    from kastell.errors import UsageError
    from kastell.integrity.bundle import sign_statement
    from kastell.integrity.keys import read_private_key

    try:
        text = acceptances.read_text(encoding="utf-8")
        descriptor_bytes = descriptor.read_bytes()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read the acceptances or the descriptor: {error}") from None
    statement = acceptance_statement(text, descriptor.name, descriptor_bytes)
    key = read_private_key(key_path, read_passphrase(passphrase_env, None))
    output.write_bytes(sign_statement(statement, key).to_json())
    count = len(statement["predicate"]["acceptances"])
    note(f"{count} risk acceptance(s) signed for {descriptor.name} -> {output}")
    return 0
