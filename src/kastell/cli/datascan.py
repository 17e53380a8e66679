"""``kastell data scan``: screen a dataset (or an attested one) for poisoning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from kastell.cli._render import format_option, note, progress
from kastell.errors import ExitCode

__all__ = ["data", "diff", "scan"]

_FAMILIES = ["injection", "trigger", "flooding", "label_flip", "personal_data"]


@click.group("data")
def data() -> None:
    """Screen training, evaluation and retrieval datasets for poisoning."""


def _write(path: Path, text: str) -> None:
    from kastell.datascan.interface import DatascanUsageError

    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise DatascanUsageError(f"cannot write {path}: {error.strerror or error}") from None


def _text(document: dict[str, Any]) -> None:
    click.echo(f"dataset {document['dataset']['name']} {document['dataset']['digest']}: "
               f"{document['records']} records in {len(document['files'])} files")
    for name, family in document["families"].items():
        state = "skipped" if family["skipped"] else ("ran" if family["ran"] else "NOT RUN")
        click.echo(f"  {name:<14} {state:<8} {family['flagged_records']} flagged "
                   f"({family['flagged_share']:.4%}, limit {family['limit']:.4%})"
                   + (f" - {family['note']}" if family["note"] else ""))
        for hit in family["hits"][:5]:
            where = f" [{hit['field']}]" if hit["field"] else ""
            click.echo(f"      {hit['record']}{where}: {hit['message']}")
    verdict = "passed" if document["passed"] else (
        "INCOMPLETE" if not document["complete"] else "FAILED")
    click.echo(f"screening {verdict}" + "".join(f"\n  {f}" for f in document["failures"]))


def _open(path: Path, data_dir: Path | None, trust: Path | None, exclude: tuple[str, ...],
          advance: Any) -> tuple[Any, str, Any]:
    """The dataset files of a path or of an attestation checked against its directory."""
    from kastell.datascan.interface import DatascanUsageError
    from kastell.datascan.readers import list_dataset

    if path.is_file() and path.suffix.lower() == ".json":
        from kastell.datascan.attested import open_attested
        from kastell.provenance.trust import load_trust_policy

        if data_dir is None or trust is None:
            raise DatascanUsageError(
                f"{path} is an attestation: pass --data DIR and --trust POLICY",
                hint="The attestation names the dataset; --data says where it is on disk.")
        attested = open_attested(path, data_dir, load_trust_policy(trust), exclude=exclude,
                                 on_bytes=advance)
        return attested.files, attested.name, (str(path), attested.attestation_sha256)
    if data_dir is not None:
        raise DatascanUsageError("--data is only for an attestation argument")
    files = list_dataset(path, exclude=exclude, on_bytes=advance)
    return files, path.resolve().name, None


@data.command("scan")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Dataset directory when PATH is a dataset attestation.")
@click.option("--trust", type=click.Path(dir_okay=False, path_type=Path),
              envvar="KASTELL_TRUST_POLICY", help="Trust policy for the attestation.")
@format_option("text", "json", "sarif")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report here instead of stdout.")
@click.option("--label-field", envvar="KASTELL_DATA_LABEL_FIELD", help="Class label field.")
@click.option("--response-field", envvar="KASTELL_DATA_RESPONSE_FIELD",
              help="Answer field of instruction records.")
@click.option("--skip", multiple=True, type=click.Choice(_FAMILIES),
              help="Do not run this family (reported as skipped).")
@click.option("--exclude", multiple=True, help="Leave files matching GLOB out (listed).")
@click.option("--fail-on", multiple=True, envvar="KASTELL_DATA_FAIL_ON",
              help="FAMILY=SHARE: fail when more than SHARE of the records are flagged "
              "(default 0 for every family).")
@click.option("--embedding", type=click.Choice(["hashed-tfidf", "minilm"]),
              default="hashed-tfidf", show_default=True, help="Label-consistency vectors.")
@click.option("--triggers-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write trigger candidates as JSONL for the red-team backdoor probe.")
@click.option("--key", "keys", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              envvar="KASTELL_SIGNING_KEY", help="Sign a screening statement with this key.")
@click.option("--statement", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the signed statement (needs --key and --report).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the JSON report here (the statement pins its SHA-256).")
@click.option("--since", type=click.Path(path_type=Path),
              help="Earlier version (path or attestation): screen only added/changed records.")
@click.option("--since-data", type=click.Path(file_okay=False, path_type=Path),
              help="Dataset directory of --since when it is an attestation.")
def scan(path: Path, data_dir: Path | None, trust: Path | None, output_format: str,
         output: Path | None, label_field: str | None, response_field: str | None,
         skip: tuple[str, ...], exclude: tuple[str, ...], fail_on: tuple[str, ...],
         embedding: str, triggers_out: Path | None, keys: tuple[Path, ...],
         statement: Path | None, report_path: Path | None, since: Path | None,
         since_data: Path | None) -> int:
    """Screen PATH (file or directory) or a dataset ATTESTATION for poisoning.

    Exit codes: 0 every family ran and stayed within its limit, 1 a limit was exceeded or the
    data is not the attested data, 2 usage error, 3 a record or file could not be read or a
    family could not run (nothing is skipped silently).
    """
    from kastell.datascan.engine import screen
    from kastell.datascan.interface import DatascanUsageError, Family, ScreenOptions
    from kastell.datascan.report import findings, parse_fail_on, report_dict

    if statement is not None and (not keys or report_path is None):
        raise DatascanUsageError("--statement needs --key and --report")
    options = ScreenOptions(label_field=label_field, response_field=response_field,
                            skip=frozenset(Family(s) for s in skip), embedding=embedding)
    gate = parse_fail_on(fail_on)
    with progress("screening", None) as advance:
        files, name, attestation = _open(path, data_dir, trust, exclude, advance)
        only, delta_of = None, None
        if since is not None:
            from kastell.datascan.diff import diff_versions

            old, _, _ = _open(since, since_data, trust, exclude, advance)
            only, delta_of = diff_versions(old, files).delta, str(old.digest)
        report = screen(files, options, name=name, on_bytes=advance, only=only,
                        delta_of=delta_of)
    document = report_dict(report, gate)
    report_json = (json.dumps(document, indent=2) + "\n").encode("utf-8")
    if report_path is not None:
        _write(report_path, report_json.decode("utf-8"))
    if triggers_out is not None:
        from kastell.datascan.probe_export import trigger_lines

        _write(triggers_out, "".join(trigger_lines(report)))
    if statement is not None:
        _sign(report, gate, report_json, attestation, keys, statement)
    if output_format == "text" and output is None:
        _text(document)
    else:
        if output_format == "sarif":
            from kastell.report.interface import ToolInfo
            from kastell.report.sarif import render_sarif

            version = report.tool.split(" ")[-1]
            text = json.dumps(render_sarif(list(findings(report)),
                                           ToolInfo(name="kastell-datascan", version=version)),
                              indent=2) + "\n"
        else:
            text = report_json.decode("utf-8")
        if output is None:
            click.echo(text, nl=False)
        else:
            _write(output, text)
    note(f"screened {report.records} records; " + ("passed" if document["passed"] else
         "incomplete" if not document["complete"] else "failed"))
    if not document["complete"]:
        return ExitCode.INCOMPLETE
    return ExitCode.OK if document["passed"] else ExitCode.FAILED


def _sign(report: Any, gate: Any, report_json: bytes, attestation: Any,
          keys: tuple[Path, ...], output: Path) -> None:
    from kastell.datascan.statement import build_screening_statement, sign_screening_statement
    from kastell.integrity.keys import read_private_key

    signers = [read_private_key(key) for key in keys]
    document = build_screening_statement(report, gate, report_json, attestation=attestation)
    sign_screening_statement(document, signers, output)
    note(f"screening statement written to {output}")


@data.command("diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--old-data", type=click.Path(file_okay=False, path_type=Path),
              help="Dataset directory of OLD when it is an attestation.")
@click.option("--new-data", type=click.Path(file_okay=False, path_type=Path),
              help="Dataset directory of NEW when it is an attestation.")
@click.option("--trust", type=click.Path(dir_okay=False, path_type=Path),
              envvar="KASTELL_TRUST_POLICY", help="Trust policy for the attestations.")
@click.option("--key", "key_field", help="Record field that identifies a record across versions.")
@click.option("--exclude", multiple=True, help="Leave files matching GLOB out (listed).")
@format_option("text", "json")
def diff(old: Path, new: Path, old_data: Path | None, new_data: Path | None,
         trust: Path | None, key_field: str | None, exclude: tuple[str, ...],
         output_format: str) -> int:
    """Which records two versions of a dataset (paths or attestations) add, remove or change."""
    from kastell.datascan.diff import diff_versions

    with progress("comparing", None) as advance:
        old_files, _, _ = _open(old, old_data, trust, exclude, advance)
        new_files, _, _ = _open(new, new_data, trust, exclude, advance)
        result = diff_versions(old_files, new_files, key_field)
    if output_format == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(f"{result.old_digest} -> {result.new_digest}")
        click.echo(f"  files: {len(result.unchanged_files)} unchanged, "
                   f"{len(result.changed_files)} changed, {len(result.added_files)} added, "
                   f"{len(result.removed_files)} removed")
        click.echo(f"  records: {result.added} added, {result.removed} removed, "
                   f"{result.changed} changed" + ("" if key_field else " (no --key)"))
    return ExitCode.OK
