"""``kastell bom``: write a CycloneDX 1.6 ML-BOM bound to the signed digests."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kastell.cli._render import FORMAT_OPTION, emit_json
from kastell.errors import ExitCode

__all__ = ["bom"]

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.command("bom")
@click.argument("model_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--signature", type=_FILE, required=True, help="Model signature bundle.")
@click.option(
    "--dataset-attestation",
    "datasets",
    type=_FILE,
    multiple=True,
    help="Dataset attestation (becomes a data component); repeatable.",
)
@click.option(
    "--attestation",
    "attestations",
    type=_FILE,
    multiple=True,
    help="Training or deployment statement of the model (external reference); repeatable.",
)
@click.option("--model-card", type=_FILE, help="Model card YAML (see docs/bom.md).")
@click.option(
    "--trust",
    type=_FILE,
    envvar="KASTELL_TRUST_POLICY",
    help="Trust policy: refuse signatures and attestations it does not trust.",
)
@click.option(
    "--no-environment",
    is_flag=True,
    help="Leave out the Python packages of the running environment.",
)
@click.option("--output", "-o", type=_FILE, required=True, help="Where to write bom.json.")
@FORMAT_OPTION
def bom(
    model_dir: Path,
    signature: Path,
    datasets: tuple[Path, ...],
    attestations: tuple[Path, ...],
    model_card: Path | None,
    trust: Path | None,
    no_environment: bool,
    output: Path,
    output_format: str,
) -> int:
    """Write a CycloneDX 1.6 ML-BOM: model (with model card), datasets, Python packages."""
    from kastell.bom.builder import BomInputs, build_bom
    from kastell.bom.environment import python_packages
    from kastell.bom.interface import BomUsageError
    from kastell.bom.modelcard import ModelCard, load_model_card
    from kastell.provenance.trust import load_trust_policy

    inputs = BomInputs(
        model_dir=model_dir,
        signature=signature,
        output=output,
        dataset_attestations=datasets,
        attestations=attestations,
        model_card=load_model_card(model_card) if model_card else ModelCard(),
        packages=() if no_environment else python_packages(),
        trust=load_trust_policy(trust) if trust else None,
    )
    document = build_bom(inputs)
    try:
        output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise BomUsageError(f"cannot write {output}: {error.strerror}") from error
    model = document["metadata"]["component"]
    summary = {
        "output": str(output),
        "model": model["name"],
        "model_sha256": model["hashes"][0]["content"],
        "components": len(document.get("components", [])),
        "signature_trusted": trust is not None,
    }
    if output_format == "json":
        emit_json(summary)
    else:
        click.echo(f"CycloneDX 1.6 BOM written to {output}: {summary['components']} components")
        if trust is None:
            click.echo("note: no --trust policy: signers were not checked", err=True)
    return ExitCode.OK
