"""Screening an attested dataset: trust the attestation, then prove the directory is its subject.

The dataset attestation (``kastell attest dataset``) must be trusted for ``dataset`` by the
given trust policy. The directory is then hashed the way the attestation's manifest was; its
root must equal the attested subject and every file must match, or nothing is screened
(``DatasetMismatchError``, exit 1, naming the changed, missing and extra files).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kastell.datascan.interface import (
    DatascanUsageError,
    DatasetMismatchError,
    MalformedDatasetError,
)
from kastell.datascan.readers import DatasetFiles, list_dataset
from kastell.provenance.interface import StatementKind, TrustPolicy
from kastell.provenance.statement import file_sha256, read_signed_statement
from kastell.types import Digest

__all__ = ["AttestedDataset", "open_attested"]


@dataclasses.dataclass(frozen=True)
class AttestedDataset:
    """A dataset directory proven to be the subject of a trusted attestation."""

    files: DatasetFiles
    name: str
    attestation: Path
    attestation_sha256: Digest
    signers: tuple[str, ...]
    manifest: dict[str, str]
    """path -> hex digest, as attested."""


def _manifest(predicate: Any, source: str) -> tuple[str, str, dict[str, str]]:
    manifest = predicate.get("manifest") if isinstance(predicate, dict) else None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise MalformedDatasetError(f"{source}: dataset predicate has no manifest")
    if manifest.get("chunkSize") is not None:
        raise DatascanUsageError(f"{source}: chunked manifests are not supported for screening",
                                 hint="Attest the dataset with whole-file digests (default).")
    algorithm, root = manifest.get("algorithm"), manifest.get("root")
    files: dict[str, str] = {}
    for entry in manifest["files"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or \
                not isinstance(entry.get("digest"), str) or entry["path"] in files:
            raise MalformedDatasetError(f"{source}: malformed or repeated manifest entry")
        files[entry["path"]] = entry["digest"]
    if algorithm not in ("blake3", "sha256") or not isinstance(root, str):
        raise MalformedDatasetError(f"{source}: manifest algorithm or root missing")
    if manifest.get("symlinks"):
        raise DatascanUsageError(f"{source}: the attested dataset records symbolic links",
                                 hint="Screening reads regular files only.")
    return algorithm, root, files


def open_attested(
    attestation: Path,
    directory: Path,
    policy: TrustPolicy,
    *,
    exclude: tuple[str, ...] = (),
    on_bytes: Callable[[int], None] | None = None,
) -> AttestedDataset:
    """Check the attestation and the directory against it.

    Raises:
        DatasetMismatchError: untrusted attestation, or the directory is not its subject.
        MalformedDatasetError: the attestation's predicate is malformed.
    """
    signed = read_signed_statement(attestation)
    if signed.kind is not StatementKind.DATASET:
        raise DatascanUsageError(f"{attestation} is a {signed.kind} statement, not a dataset "
                                 "attestation")
    decision = policy.check(signed)
    if not decision.trusted:
        raise DatasetMismatchError(f"{attestation}: {decision.reason}",
                                   hint="Screen only datasets attested by a trusted key.")
    algorithm, root, attested = _manifest(signed.predicate, str(attestation))
    subjects = signed.subject_digests
    if len(subjects) != 1 or subjects[0][1] != Digest(algorithm, root):
        raise MalformedDatasetError(f"{attestation}: subject is not the manifest root")
    files = list_dataset(directory, algorithm=algorithm, exclude=exclude, on_bytes=on_bytes)
    on_disk = {f.path: f.digest.hex for f in files.manifest.files}
    changed = sorted(p for p in attested.keys() & on_disk.keys() if attested[p] != on_disk[p])
    missing = sorted(attested.keys() - on_disk.keys())
    extra = sorted(on_disk.keys() - attested.keys())
    if changed or missing or extra or files.digest != subjects[0][1]:
        parts = [f"{label}: {', '.join(items[:5])}" for label, items in
                 (("changed", changed), ("missing", missing), ("not attested", extra)) if items]
        raise DatasetMismatchError(
            f"{directory} is not the dataset {attestation} attests"
            + (f" ({'; '.join(parts)})" if parts else " (manifest root differs)"))
    return AttestedDataset(files, subjects[0][0], attestation, file_sha256(attestation),
                           decision.signers, attested)
