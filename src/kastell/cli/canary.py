"""``kastell canary``: canary records planted in fine-tuning data to detect memorisation."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kastell.cli._render import FORMAT_OPTION, emit_json, note
from kastell.errors import ExitCode

__all__ = ["canary"]


@click.group()
def canary() -> None:
    """Canary records: secrets planted in fine-tuning data to detect memorisation."""


@canary.command("generate")
@click.option("--n", "count", type=int, default=20, show_default=True, help="How many canaries.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Canary file (ids, prompts, SHA-256 digests; secrets only with --reveal).",
)
@click.option(
    "--records",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the JSONL records to insert into the fine-tuning data (hold the secrets).",
)
@click.option("--reveal", is_flag=True, help="Write the secrets in clear into the canary file.")
@FORMAT_OPTION
def canary_generate(
    count: int, output: Path, records: Path | None, reveal: bool, output_format: str
) -> int:
    """Generate unique random canary secrets and the records that plant them."""
    from kastell.provenance.canary import generate_canaries
    from kastell.provenance.interface import ProvenanceUsageError

    made = generate_canaries(count)
    try:
        output.write_text(json.dumps(made.to_document(reveal=reveal), indent=2) + "\n")
        if records is not None:
            lines = [json.dumps(record) for record in made.records()]
            records.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as error:
        raise ProvenanceUsageError(f"cannot write {error.filename}: {error.strerror}") from error
    if records is None and not reveal:
        note("warning: neither --records nor --reveal: the secrets are not kept anywhere")
    if output_format == "json":
        emit_json(
            {
                "output": str(output),
                "records": str(records) if records else None,
                "count": count,
                "digests": list(made.digests()),
            }
        )
    else:
        click.echo(
            f"{count} canaries written to {output}" + (f", records to {records}" if records else "")
        )
    return ExitCode.OK


@canary.command("export")
@click.argument("attestation", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--trust",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    envvar="KASTELL_TRUST_POLICY",
    help="Trust policy: the attestation must be trusted for `dataset`.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Canaries JSONL for the red-team extraction probes.",
)
@FORMAT_OPTION
def canary_export(attestation: Path, trust: Path, output: Path, output_format: str) -> int:
    """Export the canaries of a trusted dataset attestation for extraction probes."""
    from kastell.provenance.canary import load_attested_canaries
    from kastell.provenance.interface import ProvenanceUsageError
    from kastell.provenance.trust import load_trust_policy

    canaries = load_attested_canaries(attestation, load_trust_policy(trust))
    lines = [json.dumps(item) for item in canaries.probe_inputs()]
    try:
        output.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    except OSError as error:
        raise ProvenanceUsageError(f"cannot write {output}: {error.strerror}") from error
    if output_format == "json":
        emit_json({"output": str(output), "count": len(lines), "revealed": canaries.revealed})
    else:
        click.echo(f"{len(lines)} canaries exported to {output}")
    return ExitCode.OK
