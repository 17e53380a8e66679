"""Bridge from provenance to the integrity hashing engine.

Dataset manifests and model file digests come from ``kastell.integrity.hashing.hash_tree``;
this module maps its results to the shapes provenance records, and turns a file that changed
while it was hashed into :class:`DatasetChangedError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kastell.integrity.hashing import hash_tree
from kastell.integrity.interface import FileChangedError, HashOptions, TreeDigest
from kastell.integrity.merkle import new_hasher
from kastell.provenance.interface import DatasetChangedError, ProvenanceUsageError
from kastell.types import Digest

ALGORITHMS = ("blake3", "sha256")


def build_manifest(
    root: Path,
    algorithm: str = "blake3",
    chunk_size: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> TreeDigest:
    """Hash every file under the directory ``root`` (fails if it changes meanwhile).

    Raises:
        ProvenanceUsageError: ``root`` is not a directory.
        DatasetChangedError: a file changed while it was hashed.
    """
    if not root.is_dir():
        raise ProvenanceUsageError(f"{root} is not a directory", hint="Pass the dataset directory.")
    try:
        return hash_tree(
            root, HashOptions(algorithm=algorithm, chunk_size=chunk_size), on_bytes=on_bytes
        )
    except FileChangedError as error:
        raise DatasetChangedError(f"{root} changed while it was hashed: {error.message}") from error


def manifest_dict(tree: TreeDigest) -> dict[str, Any]:
    """The ``manifest`` object of a dataset predicate."""
    return {
        "algorithm": tree.algorithm,
        "chunkSize": tree.chunk_size,
        "root": tree.root.hex,
        "files": [{"path": f.path, "size": f.size, "digest": f.digest.hex} for f in tree.files],
        "symlinks": [{"path": link.path, "target": link.target} for link in tree.symlinks],
    }


def file_digests(path: Path, algorithm: str = "sha256") -> dict[str, Digest]:
    """Plain per-file digests of a model directory (or of one model file)."""
    try:
        tree = hash_tree(
            path, HashOptions(algorithm=algorithm, chunk_size=None), for_verification=True
        )
    except FileChangedError as error:
        raise DatasetChangedError(f"{path} changed while it was hashed: {error.message}") from error
    return {entry.path: entry.digest for entry in tree.files}


def snapshot(root: Path, paths: list[str]) -> dict[str, tuple[int, int]]:
    """``path -> (size, mtime_ns)`` of the given files, to spot changes."""
    result: dict[str, tuple[int, int]] = {}
    try:
        for relative in paths:
            info = (root / relative).stat()
            result[relative] = (info.st_size, info.st_mtime_ns)
    except FileNotFoundError as error:
        raise DatasetChangedError(f"{error.filename} disappeared while {root} was read") from error
    return result


def streaming_hasher(algorithm: str) -> Any:
    """A streaming hasher for verify-at-load (blake3 may use several threads)."""
    if algorithm not in ALGORITHMS:
        raise ProvenanceUsageError(f"unsupported digest algorithm {algorithm!r}")
    return new_hasher(algorithm, threads=os.cpu_count() or 1)
