"""``kastell attest`` and ``kastell verify-chain``: provenance commands."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import click

from kastell.cli._render import FORMAT_OPTION, emit_json, format_option, note, progress
from kastell.errors import ExitCode

__all__ = ["attest", "verify_chain"]

_KEY_OPTION = click.option(
    "--key",
    "keys",
    type=click.Path(dir_okay=False, path_type=Path),
    multiple=True,
    required=True,
    envvar="KASTELL_SIGNING_KEY",
    help="PEM private key (ECDSA P-256 or Ed25519); repeat to co-sign.",
)
_OUTPUT_OPTION = click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the signed statement (Sigstore bundle JSON).",
)


def _signers(keys: tuple[Path, ...]) -> list[Any]:
    from kastell.provenance import _dsse

    return [_dsse.load_private_key(path) for path in keys]


def _written(output_format: str, kind: str, output: Path, subject: str, bundle: str) -> int:
    if output_format == "json":
        emit_json(
            {"kind": kind, "output": str(output), "subject": subject, "bundle_sha256": bundle}
        )
    else:
        click.echo(f"{kind} statement written to {output}\n  subject {subject}")
    return ExitCode.OK


@click.group()
def attest() -> None:
    """Write signed dataset, training or deployment statements (in-toto v1, DSSE)."""


@attest.command("dataset")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@_KEY_OPTION
@_OUTPUT_OPTION
@click.option("--name", help="Dataset name (default: the directory name).")
@click.option("--origin-uri", help="Where the data came from.")
@click.option("--license", "license_", help="SPDX id or licence name of the data.")
@click.option("--collected-from", type=click.DateTime(["%Y-%m-%d"]), help="First collection day.")
@click.option("--collected-to", type=click.DateTime(["%Y-%m-%d"]), help="Last collection day.")
@click.option(
    "--canaries",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Canary file from `kastell canary generate`; their digests are recorded.",
)
@click.option("--reveal-canaries", is_flag=True, help="Also record canary secrets in clear.")
@click.option(
    "--algorithm",
    type=click.Choice(["blake3", "sha256"]),
    default="blake3",
    show_default=True,
    help="Digest of the dataset manifest (and so of the subject).",
)
@FORMAT_OPTION
def attest_dataset(
    directory: Path,
    keys: tuple[Path, ...],
    output: Path,
    name: str | None,
    origin_uri: str | None,
    license_: str | None,
    collected_from: dt.datetime | None,
    collected_to: dt.datetime | None,
    canaries: Path | None,
    reveal_canaries: bool,
    algorithm: str,
    output_format: str,
) -> int:
    """Attest a dataset directory: manifest root, origin, record counts, canary digests."""
    from kastell.provenance.canary import read_canary_file
    from kastell.provenance.dataset import DatasetOrigin, build_dataset_statement
    from kastell.provenance.statement import write_signed_statement

    signers = _signers(keys)
    origin = DatasetOrigin(
        origin_uri,
        license_,
        collected_from.date() if collected_from else None,
        collected_to.date() if collected_to else None,
    )
    canary_set = read_canary_file(canaries) if canaries else None
    with progress("hashing dataset", None) as advance:
        statement = build_dataset_statement(
            directory,
            name=name,
            origin=origin,
            canaries=canary_set,
            reveal_canaries=reveal_canaries,
            algorithm=algorithm,
            on_bytes=advance,
        )
    bundle = write_signed_statement(statement, signers, output)
    subject = statement["subject"][0]
    records = statement["predicate"]["records"]["total"]
    note(f"{records} records counted in {len(statement['predicate']['manifest']['files'])} files")
    digest = f"{algorithm}:{subject['digest'][algorithm]}"
    return _written(output_format, "dataset", output, digest, bundle.hex)


_MODEL_OPTIONS = [
    click.option("--model-dir", type=click.Path(exists=True, path_type=Path), help="Model files."),
    click.option("--model-digest", help="Model digest ALGORITHM:HEX (model signature subject)."),
    click.option("--model-name", help="Model name (default: from the signature or directory)."),
]


def _model_options(function: Any) -> Any:
    for option in reversed(_MODEL_OPTIONS):
        function = option(function)
    return function


@attest.command("training")
@_model_options
@click.option(
    "--signature", type=click.Path(dir_okay=False, path_type=Path), help="Model signature bundle."
)
@click.option(
    "--dataset-attestation",
    "datasets",
    type=click.Path(dir_okay=False, path_type=Path),
    multiple=True,
    required=True,
    help="Dataset attestation used for training; repeat for each dataset.",
)
@click.option("--base-model-digest", help="Base model digest ALGORITHM:HEX when fine-tuning.")
@click.option("--base-model-name", default="base", show_default=True, help="Base model name.")
@click.option("--builder-id", required=True, envvar="KASTELL_BUILDER_ID", help="Builder URI.")
@click.option("--param", "params", multiple=True, help="Invocation parameter KEY=VALUE.")
@click.option("--params-file", type=click.Path(dir_okay=False, path_type=Path), help="JSON object.")
@click.option("--started", required=True, help="Training start time (RFC 3339).")
@click.option("--finished", required=True, help="Training end time (RFC 3339).")
@click.option("--invocation-id", help="Job or run identifier.")
@_KEY_OPTION
@_OUTPUT_OPTION
@FORMAT_OPTION
def attest_training(
    model_dir: Path | None,
    model_digest: str | None,
    model_name: str | None,
    signature: Path | None,
    datasets: tuple[Path, ...],
    base_model_digest: str | None,
    base_model_name: str,
    builder_id: str,
    params: tuple[str, ...],
    params_file: Path | None,
    started: str,
    finished: str,
    invocation_id: str | None,
    keys: tuple[Path, ...],
    output: Path,
    output_format: str,
) -> int:
    """Write SLSA Provenance v1 for a training run: model <- datasets (+ base model)."""
    from kastell.provenance.statement import (
        parse_signed_statement,
        read_statement_bytes,
        relative_reference,
        write_signed_statement,
    )
    from kastell.provenance.subjects import (
        parse_parameters,
        parse_timestamp,
        resolve_model_subject,
    )
    from kastell.provenance.training import (
        TrainingRun,
        build_training_statement,
        dataset_dependency,
    )
    from kastell.types import Digest, Subject

    signers = _signers(keys)
    model = resolve_model_subject(model_dir, model_digest, signature, model_name)
    run = TrainingRun(
        builder_id,
        parse_parameters(params, params_file),
        parse_timestamp(started, "--started"),
        parse_timestamp(finished, "--finished"),
        invocation_id,
    )
    deps = []
    for path in datasets:
        raw = read_statement_bytes(path)  # one read: the bytes pinned are the bytes parsed
        pin = Digest("sha256", hashlib.sha256(raw).hexdigest())
        signed = parse_signed_statement(raw, str(path))
        deps.append(dataset_dependency(signed, relative_reference(path, output), pin))
    base = Subject(base_model_name, Digest.parse(base_model_digest)) if base_model_digest else None
    statement = build_training_statement(model, run, deps, base)
    bundle = write_signed_statement(statement, signers, output)
    return _written(output_format, "training", output, str(model.digest), bundle.hex)


@attest.command("deployment")
@_model_options
@click.option(
    "--signature",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Model signature bundle (referenced for verify-chain).",
)
@click.option(
    "--training",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Training provenance statement (referenced for verify-chain).",
)
@click.option("--endpoint", required=True, envvar="KASTELL_ENDPOINT", help="Served endpoint URL.")
@click.option(
    "--guard-policy", type=click.Path(dir_okay=False, path_type=Path), help="Guard policy file."
)
@click.option(
    "--residency",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="YAML: weights/data/keys -> country, provider, jurisdiction.",
)
@_KEY_OPTION
@_OUTPUT_OPTION
@FORMAT_OPTION
def attest_deployment(
    model_dir: Path | None,
    model_digest: str | None,
    model_name: str | None,
    signature: Path | None,
    training: Path | None,
    endpoint: str,
    guard_policy: Path | None,
    residency: Path,
    keys: tuple[Path, ...],
    output: Path,
    output_format: str,
) -> int:
    """Bind a served model digest to an endpoint, a guard policy and a residency declaration."""
    import yaml

    from kastell._untrusted import load_yaml, read_regular
    from kastell.provenance.deployment import Reference, Residency, build_deployment_statement
    from kastell.provenance.interface import ProvenanceUsageError
    from kastell.provenance.statement import file_sha256, relative_reference, write_signed_statement
    from kastell.provenance.subjects import resolve_model_subject

    signers = _signers(keys)
    model = resolve_model_subject(model_dir, model_digest, signature, model_name)
    try:
        residency_doc = load_yaml(read_regular(residency, limit=1024 * 1024).decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ProvenanceUsageError(f"cannot read --residency {residency}: {error}") from error

    def reference(path: Path | None) -> Reference | None:
        if path is None:
            return None
        return Reference(relative_reference(path, output), file_sha256(path))

    statement = build_deployment_statement(
        model,
        endpoint=endpoint,
        guard_policy=file_sha256(guard_policy) if guard_policy else None,
        residency=Residency.parse(residency_doc, str(residency)),
        model_signature=reference(signature),
        training=reference(training),
    )
    bundle = write_signed_statement(statement, signers, output)
    return _written(output_format, "deployment", output, str(model.digest), bundle.hex)


@click.command("verify-chain")
@click.argument("deployment", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--trust",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    envvar="KASTELL_TRUST_POLICY",
    help="Trust policy YAML: which keys may sign which kind of statement.",
)
@click.option(
    "--signature",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Model signature bundle (default: the one the deployment references).",
)
@click.option(
    "--model-dir",
    type=click.Path(exists=True, path_type=Path),
    help="Also check the model files on disk against the signature.",
)
@click.option(
    "--dataset-dir",
    "dataset_dirs",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    multiple=True,
    help="Also check a dataset directory against the attestations; repeatable.",
)
@format_option(
    "text", "json", "sarif",
    help="Output format on stdout (sarif: a finding when the chain is broken).",
)
def verify_chain(
    deployment: Path,
    trust: Path,
    signature: Path | None,
    model_dir: Path | None,
    dataset_dirs: tuple[Path, ...],
    output_format: str,
) -> int:
    """Verify deployment -> model signature -> training provenance -> dataset attestations.

    Without --model-dir only the statements are checked, and the output says so; a trust
    policy with `require_model_files: true` then fails. Exit codes: 0 the chain holds, 1 a link
    is broken (the first one is named), 2 usage error, 3 could not check.
    """
    from kastell.provenance.chain import verify_chain as walk
    from kastell.provenance.trust import load_trust_policy

    policy = load_trust_policy(trust)
    report = walk(
        deployment, policy, signature=signature, model_dir=model_dir, dataset_dirs=dataset_dirs
    )
    unchecked = None
    if report.ok and not report.model_files_checked:
        unchecked = (
            "the model files on disk were NOT checked: this proves the statements, not the "
            "deployed files (pass --model-dir; `require_model_files: true` in the trust policy "
            "makes it mandatory)"
        )
    if output_format == "json":
        emit_json(
            {
                "ok": report.ok,
                "broken": report.broken,
                "model_files_checked": report.model_files_checked,
                "chain": report.root.to_dict(),
            }
        )
    elif output_format == "sarif":
        from kastell import __version__
        from kastell.provenance.chain import chain_findings
        from kastell.report.interface import ToolInfo
        from kastell.report.sarif import render_sarif

        tool = ToolInfo(name="kastell-provenance", version=__version__)
        emit_json(render_sarif(chain_findings(report, deployment), tool))
    else:
        click.echo("\n".join(report.root.tree_lines()))
        if report.ok:
            click.echo(
                "chain verified" + ("" if report.model_files_checked else " (statements only)")
            )
        else:
            click.echo(f"chain broken: {report.broken}")
    if unchecked:
        note(f"warning: {unchecked}")
    return ExitCode.OK if report.ok else ExitCode.FAILED
