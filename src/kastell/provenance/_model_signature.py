"""Bridge to the integrity capability's OpenSSF Model Signing support.

``kastell.integrity.signing`` owns the format (``ModelDescription``, serializations, resource
order, ignore paths); this module reads a model signature that provenance has parsed, and
checks a model on disk against it while leaving out files a loader will verify itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

from kastell.errors import KastellError
from kastell.integrity.interface import Signer
from kastell.integrity.signing import (
    ModelDescription,
    hash_resources,
    inside_model,
    sign_model,
)
from kastell.integrity.verify import compare_resources
from kastell.provenance.interface import (
    DigestMismatchError,
    SignedStatement,
    StatementFormatError,
)
from kastell.types import Digest


@dataclasses.dataclass(frozen=True)
class ModelResources:
    """A model signature's description, and per-file digests when it signs whole files."""

    model_name: str
    model_digest: Digest
    files: Mapping[str, Digest]
    description: ModelDescription


def resources_of(signed: SignedStatement) -> ModelResources:
    """Read the model description from a parsed model signature statement."""
    try:
        description = ModelDescription.from_statement(signed.statement)
    except KastellError as error:
        raise StatementFormatError(
            f"{signed.source}: {error.message}", hint=error.diagnostics()
        ) from error
    files: dict[str, Digest] = {}
    if description.serialization.method == "files":
        files = {r.name: Digest(r.algorithm, r.digest) for r in description.resources}
    return ModelResources(description.name, description.digest, files, description)


def check_model(
    path: Path,
    description: ModelDescription,
    *,
    skip: Sequence[str] = (),
    signature_path: Path | None = None,
) -> None:
    """Re-hash the model at ``path`` as signed; raise unless every file matches.

    Args:
        path: the model directory (or single model file).
        description: what the signature says.
        skip: relative paths not hashed here (a loader verifies them while reading).
        signature_path: the signature file, skipped when it lies inside the model.

    Raises:
        DigestMismatchError: a file differs, is missing, or was not signed.
    """
    # exactly the signature's own ignore rules (serialization.ignore_paths, applied by
    # hash_resources): git metadata is skipped only when the signer recorded it as ignored
    ignore = list(skip)
    if signature_path is not None and path.is_dir():
        inside = inside_model(path, signature_path)
        if inside is not None and inside not in {r.path for r in description.resources}:
            ignore.append(inside)
    actual, links = hash_resources(
        path, description.serialization, extra_ignore=ignore, for_verification=True
    )
    expected = [r for r in description.resources if r.path not in skip]
    changed, missing, extra = compare_resources(expected, actual)
    problems = [
        f"{label} {', '.join(paths[:5])}"
        for label, paths in (
            ("changed:", changed),
            ("missing:", missing),
            ("unsigned:", tuple(sorted({*extra, *links}))),
        )
        if paths
    ]
    if problems:
        raise DigestMismatchError(f"{path} does not match its signature; {'; '.join(problems)}")


def sign_model_dir(model_dir: Path, signer: Signer, algorithm: str = "sha256") -> bytes:
    """Sign a model as ``kastell sign`` does; return the bundle bytes (tests and demos)."""
    return sign_model(model_dir, signer, algorithm=algorithm).bundle.to_json()
