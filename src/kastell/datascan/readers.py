"""Dataset files: find them, know their format, read their records once while hashing them.

The file set and each file's digest come from the integrity engine
(``kastell.integrity.hashing.hash_tree``, whole-file digests, git metadata left out), exactly as
``kastell attest dataset`` builds its manifest, so the manifest root is the dataset digest the
screening statement binds to. Each file is then parsed from a stream that is hashed again as it
is read; if that digest differs from the manifest's, the file changed while it was screened and
the run fails (exit 3): the records screened are the bytes the digest names. Parquet needs
random access, so it is hashed from the same open descriptor, parsed, and its size and
modification time checked again afterwards.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from kastell.datascan import _columnar, _linefiles
from kastell.datascan.interface import (
    DatascanUsageError,
    DatasetReadError,
    MalformedDatasetError,
    Record,
)
from kastell.datascan.records import make_record
from kastell.errors import KastellError
from kastell.integrity.hashing import hash_tree
from kastell.integrity.interface import HashOptions, TreeDigest
from kastell.integrity.merkle import new_hasher
from kastell.types import Digest

__all__ = [
    "FORMATS",
    "METADATA_NAMES",
    "DataFile",
    "DatasetFiles",
    "list_dataset",
    "read_records",
]

FORMATS: dict[str, str] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".txt": "text",
    ".arrow": "arrow",
}
"""File suffix -> record format (``.arrow``: an Arrow IPC stream, as ``datasets`` saves)."""

METADATA_NAMES = frozenset({"state.json", "dataset_info.json", "dataset_dict.json"})
"""Files of a ``datasets`` directory that describe it rather than hold records."""

_READ = 1 << 20


@dataclasses.dataclass(frozen=True)
class DataFile:
    """One file of the dataset: path relative to the root, format, manifest size and digest."""

    path: str
    format: str
    size: int
    digest: Digest


@dataclasses.dataclass(frozen=True)
class DatasetFiles:
    """Every file of a dataset, the manifest they come from, and what was left out by request."""

    root: Path
    manifest: TreeDigest
    files: tuple[DataFile, ...]
    excluded: tuple[str, ...]

    @property
    def digest(self) -> Digest:
        """The dataset digest: the manifest's Merkle root (the attestation subject)."""
        return self.manifest.root


def _format_of(path: str, exclude: tuple[str, ...]) -> str | None:
    name = path.rsplit("/", 1)[-1]
    if any(fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(name, pattern)
           for pattern in exclude):
        return None
    if name in METADATA_NAMES:
        return "metadata"
    fmt = FORMATS.get(os.path.splitext(name)[1].lower())
    if fmt is None:
        raise MalformedDatasetError(
            f"{path}: unsupported file type, cannot screen it",
            hint="Screen JSONL, CSV, Parquet, text or Arrow files; leave other files out "
            "explicitly with --exclude GLOB (they are listed as excluded in the report).",
        )
    return fmt


def _check_datasets_dirs(root: Path, files: tuple[DataFile, ...]) -> None:
    """Every Arrow file sits beside a ``state.json`` that lists it, and vice versa."""
    arrow_dirs: dict[str, set[str]] = {}
    for item in files:
        if item.format == "arrow" or item.path.endswith("state.json"):
            parent, _, name = item.path.rpartition("/")
            arrow_dirs.setdefault(parent, set())
            if item.format == "arrow":
                arrow_dirs[parent].add(name)
    for parent, present in sorted(arrow_dirs.items()):
        label = parent or "."
        if not (root / parent / "state.json").is_file():
            raise MalformedDatasetError(
                f"{label}: Arrow files without a datasets state.json",
                hint="Screen a directory written by Dataset.save_to_disk, or Parquet/JSONL.",
            )
        listed = set(_columnar.datasets_state_files(root / parent, label))
        if listed != present:
            raise MalformedDatasetError(
                f"{label}: state.json lists {sorted(listed)}, the directory holds "
                f"{sorted(present)}"
            )


def list_dataset(
    path: Path,
    *,
    algorithm: str = "blake3",
    exclude: tuple[str, ...] = (),
    on_bytes: Callable[[int], None] | None = None,
) -> DatasetFiles:
    """Hash a dataset file or directory and name the format of every file in it.

    Raises:
        DatascanUsageError: the path does not exist.
        MalformedDatasetError: a file has no supported format, or a ``datasets`` directory is
            inconsistent; a symbolic link is found (links are not screened).
        DatasetReadError: the integrity engine could not hash the dataset.
    """
    if not path.exists():
        raise DatascanUsageError(f"{path} does not exist")
    try:
        manifest = hash_tree(path, HashOptions(algorithm=algorithm, chunk_size=None),
                             on_bytes=on_bytes, for_verification=True)
    except KastellError as error:
        raise DatasetReadError(f"cannot hash {path}: {error.message}",
                               hint=error.diagnostics()) from error
    if manifest.symlinks:
        raise MalformedDatasetError(
            f"{path}: symbolic link {manifest.symlinks[0].path} is not screened",
            hint="Replace links by the files they point to, or screen the target directly.",
        )
    root = path if path.is_dir() else path.parent
    files: list[DataFile] = []
    excluded: list[str] = []
    for entry in manifest.files:
        fmt = _format_of(entry.path, exclude)
        if fmt is None:
            excluded.append(entry.path)
        else:
            files.append(DataFile(entry.path, fmt, entry.size, entry.digest))
    result = tuple(files)
    _check_datasets_dirs(root, result)
    return DatasetFiles(root, manifest, result, tuple(excluded))


class _HashingReader:
    """A binary stream that hashes what is read through it."""

    def __init__(self, raw: IO[bytes], algorithm: str, on_bytes: Callable[[int], None]) -> None:
        self._raw = raw
        self.algorithm = algorithm
        self.hasher = new_hasher(algorithm)
        self.size = 0
        self._on_bytes = on_bytes

    def _seen(self, data: bytes) -> bytes:
        self.hasher.update(data)
        self.size += len(data)
        self._on_bytes(len(data))
        return data

    def read(self, size: int = -1) -> bytes:
        return self._seen(self._raw.read(size))

    def read1(self, size: int = -1) -> bytes:
        return self._seen(self._raw.read(size if size > 0 else _READ))

    def readline(self, size: int = -1) -> bytes:
        return self._seen(self._raw.readline(size))

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return self._raw.closed

    def close(self) -> None:
        """The underlying file is closed by its owner."""

    def flush(self) -> None:
        """Nothing to flush: read only."""

    def finish(self) -> Digest:
        """Read to the end (trailing bytes count too) and return the digest."""
        while self.read(_READ):
            pass
        return Digest(self.algorithm, self.hasher.hexdigest())


_LINE_READERS = {"jsonl": _linefiles.read_jsonl, "csv": _linefiles.read_csv,
                 "text": _linefiles.read_text, "arrow": _columnar.read_arrow_stream}


def _changed(item: DataFile, detail: str) -> DatasetReadError:
    return DatasetReadError(
        f"{item.path} changed while it was screened ({detail}); the screening is void",
        hint="Stop the process writing to the dataset, then screen it again.",
    )


def _stream_records(handle: IO[bytes], item: DataFile,
                    on_bytes: Callable[[int], None]) -> Iterator[tuple[int | None, Any]]:
    reader = _HashingReader(handle, item.digest.algorithm, on_bytes)
    yield from _LINE_READERS[item.format](reader, item.path)  # type: ignore[arg-type]
    digest = reader.finish()
    if digest != item.digest or reader.size != item.size:
        raise _changed(item, "digest differs from the manifest")


def _parquet_records(handle: IO[bytes], item: DataFile,
                     on_bytes: Callable[[int], None]) -> Iterator[tuple[int | None, Any]]:
    before = os.fstat(handle.fileno())
    reader = _HashingReader(handle, item.digest.algorithm, on_bytes)
    if reader.finish() != item.digest or reader.size != item.size:
        raise _changed(item, "digest differs from the manifest")
    handle.seek(0)
    yield from _columnar.read_parquet(handle, item.path)
    after = os.fstat(handle.fileno())
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise _changed(item, "size or modification time changed")


def read_records(
    dataset: DatasetFiles, item: DataFile, on_bytes: Callable[[int], None] = lambda n: None
) -> Iterator[Record]:
    """Every record of one dataset file, in file order (metadata files yield none).

    Raises:
        MalformedDatasetError: a record cannot be parsed (file and line named).
        DatasetReadError: the file cannot be read, or its bytes differ from the manifest.
    """
    if item.format == "metadata":
        return
    reader = _parquet_records if item.format == "parquet" else _stream_records
    try:
        with open(dataset.root / item.path, "rb") as handle:
            for index, (line, value) in enumerate(reader(handle, item, on_bytes)):
                try:
                    yield make_record(item.path, index, line, value)
                except MalformedDatasetError as error:
                    where = f"{item.path}:{line}" if line else f"{item.path}#{index}"
                    raise MalformedDatasetError(f"{where}: {error.message}") from None
    except OSError as error:
        raise DatasetReadError(f"cannot read {item.path}: {error.strerror or error}") from None
