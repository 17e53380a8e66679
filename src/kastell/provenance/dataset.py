"""Dataset attestations: a signed statement about a dataset directory.

The subject is the Merkle root of the dataset's manifest; the predicate (type
``https://kastell.dev/attestation/dataset/v1``, JSON schema shipped as
``kastell/provenance/data/dataset-predicate.schema.json``) records the origin, the manifest, the
record counts and the digests of planted canary records.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from kastell import __version__
from kastell.provenance import _manifest
from kastell.provenance.canary import CanarySet
from kastell.provenance.interface import DatasetChangedError, ProvenanceUsageError
from kastell.provenance.records import RecordCount, count_records
from kastell.provenance.statement import DATASET_PREDICATE_TYPE, build_statement
from kastell.types import Subject

__all__ = ["DatasetOrigin", "build_dataset_statement", "dataset_predicate_schema"]


@dataclasses.dataclass(frozen=True)
class DatasetOrigin:
    """Where a dataset came from.

    Attributes:
        uri: source URI (a URL, a bucket, a ticket).
        license: SPDX id or licence name.
        collected_from: first day of collection.
        collected_to: last day of collection.
    """

    uri: str | None = None
    license: str | None = None
    collected_from: dt.date | None = None
    collected_to: dt.date | None = None

    def __post_init__(self) -> None:
        if self.collected_from and self.collected_to and self.collected_from > self.collected_to:
            raise ProvenanceUsageError(
                f"collection range ends ({self.collected_to}) before it starts "
                f"({self.collected_from})",
                hint="Swap --collected-from and --collected-to.",
            )

    def to_dict(self) -> dict[str, Any]:
        """The ``origin`` object of the predicate."""
        return {
            "uri": self.uri,
            "license": self.license,
            "collectedFrom": self.collected_from.isoformat() if self.collected_from else None,
            "collectedTo": self.collected_to.isoformat() if self.collected_to else None,
        }


def dataset_predicate_schema() -> dict[str, Any]:
    """The JSON schema of the dataset predicate (shipped as package data)."""
    text = (
        resources.files("kastell.provenance")
        .joinpath("data/dataset-predicate.schema.json")
        .read_text(encoding="utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


def _records_dict(counts: tuple[RecordCount, ...]) -> dict[str, Any]:
    by_format: dict[str, int] = {}
    files: list[dict[str, Any]] = []
    for count in counts:
        item: dict[str, Any] = {
            "path": count.path,
            "format": count.format,
            "records": count.records,
        }
        if count.note:
            item["note"] = count.note
        files.append(item)
        if count.records is not None:
            by_format[count.format] = by_format.get(count.format, 0) + count.records
    return {"total": sum(by_format.values()), "byFormat": by_format, "files": files}


def build_dataset_statement(
    directory: Path,
    *,
    name: str | None = None,
    origin: DatasetOrigin = DatasetOrigin(),
    canaries: CanarySet | None = None,
    reveal_canaries: bool = False,
    algorithm: str = "blake3",
    chunk_size: int | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    on_bytes: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Build the (unsigned) in-toto statement of a dataset directory.

    Args:
        directory: the dataset directory.
        name: the dataset (and subject) name; the directory name by default.
        origin: where the data came from.
        canaries: canaries planted in the data; their digests are recorded.
        reveal_canaries: also record the canary secrets in clear.
        algorithm: ``blake3`` or ``sha256`` for the manifest.
        chunk_size: chunk size of the manifest (``None``: whole files, one digest each).
        clock: returns the attestation time (UTC).
        on_bytes: progress callback, called with the bytes just hashed.

    Raises:
        DatasetChangedError: the directory changed while it was hashed or counted.
        ProvenanceUsageError: the directory cannot be read.
    """
    manifest = _manifest.build_manifest(directory, algorithm, chunk_size, on_bytes)
    paths = [entry.path for entry in manifest.files]
    before = _manifest.snapshot(directory, paths)
    if any(before[e.path][0] != e.size for e in manifest.files):
        raise DatasetChangedError(f"{directory} changed after it was hashed")
    counts = count_records(directory, paths)
    if _manifest.snapshot(directory, paths) != before:
        raise DatasetChangedError(f"{directory} changed while its records were counted")
    dataset_name = name or directory.resolve().name
    canary_items = (
        canaries.to_document(reveal=reveal_canaries and canaries.revealed)["canaries"]
        if canaries
        else []
    )
    predicate = {
        "name": dataset_name,
        "origin": origin.to_dict(),
        "manifest": _manifest.manifest_dict(manifest),
        "records": _records_dict(counts),
        "canaries": canary_items,
        "attestedAt": clock().isoformat().replace("+00:00", "Z"),
        "attestor": f"kastell {__version__}",
    }
    return build_statement(
        [Subject(dataset_name, manifest.root)], DATASET_PREDICATE_TYPE, predicate
    )
