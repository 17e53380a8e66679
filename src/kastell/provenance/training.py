"""Training provenance: a SLSA Provenance v1 statement about a trained model.

The subject is the trained model's digest (the model signature's subject digest). The
``resolvedDependencies`` are the datasets (their attestation subjects, with a pointer to the
attestation in ``annotations.kastellAttestation``) and, when fine-tuning, the base model.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from kastell.provenance.interface import ProvenanceUsageError, SignedStatement, StatementKind
from kastell.provenance.statement import SLSA_PROVENANCE_TYPE, build_statement, digest_set
from kastell.types import Digest, Subject

__all__ = [
    "ATTESTATION_ANNOTATION",
    "TRAINING_BUILD_TYPE",
    "TrainingRun",
    "build_training_statement",
    "dataset_dependency",
]

TRAINING_BUILD_TYPE = "https://kastell.dev/training/v1"
ATTESTATION_ANNOTATION = "kastellAttestation"
"""Annotation key of a resolved dependency pointing at the attestation that proves it."""


@dataclasses.dataclass(frozen=True)
class TrainingRun:
    """What ran: builder, parameters and times.

    Attributes:
        builder_id: URI of the training platform (SLSA ``runDetails.builder.id``).
        parameters: invocation parameters (SLSA ``externalParameters``).
        started: when training started (UTC).
        finished: when training finished (UTC).
        invocation_id: an identifier of the run (job id), optional.
    """

    builder_id: str
    parameters: Mapping[str, Any]
    started: dt.datetime
    finished: dt.datetime
    invocation_id: str | None = None

    def __post_init__(self) -> None:
        if not self.builder_id:
            raise ProvenanceUsageError("a builder id is required", hint="Pass --builder-id URI.")
        if self.started.tzinfo is None or self.finished.tzinfo is None:
            raise ProvenanceUsageError(
                "training start and end times need a time zone",
                hint="Write times as RFC 3339, e.g. 2026-01-31T12:00:00Z.",
            )
        if self.finished < self.started:
            raise ProvenanceUsageError(
                f"training finished ({self.finished}) before it started ({self.started})",
                hint="Swap --started and --finished.",
            )


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def dataset_dependency(
    attestation: SignedStatement, reference: str, bundle: Digest
) -> dict[str, Any]:
    """A SLSA ResourceDescriptor for a dataset, pointing at its attestation.

    Args:
        attestation: the dataset attestation (parsed).
        reference: where the attestation lives, relative to the training statement's file.
        bundle: SHA-256 of the attestation bundle file.
    """
    if attestation.kind is not StatementKind.DATASET:
        raise ProvenanceUsageError(
            f"{attestation.source} is a {attestation.kind} statement, not a dataset attestation",
            hint="Pass files written by `kastell attest dataset` to --dataset-attestation.",
        )
    name, digest = attestation.subject_digests[0]
    return {
        "name": f"dataset:{name}",
        "digest": digest_set(digest),
        "annotations": {ATTESTATION_ANNOTATION: {"uri": reference, "digest": digest_set(bundle)}},
    }


def build_training_statement(
    model: Subject,
    run: TrainingRun,
    datasets: Sequence[Mapping[str, Any]],
    base_model: Subject | None = None,
) -> dict[str, Any]:
    """The (unsigned) SLSA Provenance v1 statement of a training run."""
    if not datasets:
        raise ProvenanceUsageError(
            "a training statement needs at least one dataset attestation",
            hint="Pass --dataset-attestation FILE for each dataset used.",
        )
    dependencies = [dict(d) for d in datasets]
    if base_model is not None:
        dependencies.append(
            {"name": f"base-model:{base_model.name}", "digest": digest_set(base_model.digest)}
        )
    metadata: dict[str, Any] = {
        "startedOn": _rfc3339(run.started),
        "finishedOn": _rfc3339(run.finished),
    }
    if run.invocation_id:
        metadata["invocationId"] = run.invocation_id
    predicate = {
        "buildDefinition": {
            "buildType": TRAINING_BUILD_TYPE,
            "externalParameters": dict(run.parameters),
            "internalParameters": {},
            "resolvedDependencies": dependencies,
        },
        "runDetails": {"builder": {"id": run.builder_id}, "metadata": metadata},
    }
    return build_statement([model], SLSA_PROVENANCE_TYPE, predicate)
