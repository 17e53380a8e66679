"""Count the records of dataset files: JSONL, CSV, Parquet (with pyarrow) and plain text.

Counting streams each file once in bounded memory. A file whose format Kastell cannot count is
reported as uncounted, never as zero records.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import io
from collections.abc import Iterable
from pathlib import Path

from kastell._untrusted import open_regular
from kastell.provenance.interface import ProvenanceUsageError, StatementFormatError

__all__ = ["FORMATS", "RecordCount", "count_records", "detect_format"]

FORMATS: dict[str, str] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".txt": "text",
}
"""File suffix -> record format Kastell counts."""

_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class RecordCount:
    """How many records one dataset file holds.

    Attributes:
        path: the file's path relative to the dataset root (POSIX separators).
        format: ``jsonl``, ``csv``, ``parquet`` or ``text``.
        records: the number of records, or ``None`` when it could not be counted.
        note: why the file was not counted (empty when it was).
    """

    path: str
    format: str
    records: int | None
    note: str = ""


def detect_format(path: Path) -> str | None:
    """The record format of ``path`` from its suffix, or ``None`` when not countable."""
    return FORMATS.get(path.suffix.lower())


def count_records(root: Path, relative_paths: Iterable[str]) -> tuple[RecordCount, ...]:
    """Count records in every countable file under ``root``.

    Args:
        root: the dataset directory.
        relative_paths: POSIX paths of the files to consider, relative to ``root``.

    Returns:
        One :class:`RecordCount` per file with a known format, in the order given.
    """
    counts: list[RecordCount] = []
    for relative in relative_paths:
        path = root / relative
        fmt = detect_format(path)
        if fmt is None:
            continue
        counts.append(_count_one(path, relative, fmt))
    return tuple(counts)


def _count_one(path: Path, relative: str, fmt: str) -> RecordCount:
    try:
        if fmt == "jsonl":
            return RecordCount(relative, fmt, _count_nonblank_lines(path))
        if fmt == "text":
            return RecordCount(relative, fmt, _count_lines(path))
        if fmt == "csv":
            return RecordCount(relative, fmt, _count_csv_rows(path))
        return _count_parquet(path, relative)
    except OSError as error:
        raise ProvenanceUsageError(f"cannot read dataset file {path}: {error.strerror}") from error


def _count_lines(path: Path) -> int:
    lines = 0
    last = b"\n"
    with open_regular(path) as handle:
        while chunk := handle.read(_CHUNK):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (0 if last == b"\n" else 1)


def _count_nonblank_lines(path: Path) -> int:
    records = 0
    with open_regular(path) as handle:
        for line in handle:
            if line.strip():
                records += 1
    return records


def _count_csv_rows(path: Path) -> int:
    with io.TextIOWrapper(
        open_regular(path), encoding="utf-8", errors="strict", newline=""
    ) as handle:
        try:
            rows = sum(1 for row in csv.reader(handle) if row)
        except (csv.Error, UnicodeDecodeError) as error:
            raise StatementFormatError(
                f"{path}: cannot parse CSV ({error})",
                hint="Fix the CSV (UTF-8, balanced quotes) or move it out of the dataset.",
            ) from error
    return max(rows - 1, 0)  # the first row is the header


def _pyarrow_available() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


def _count_parquet(path: Path, relative: str) -> RecordCount:
    if not _pyarrow_available():
        return RecordCount(relative, "parquet", None, "pyarrow not installed (kastell[parquet])")
    import pyarrow.lib
    import pyarrow.parquet

    try:
        rows = pyarrow.parquet.ParquetFile(str(path)).metadata.num_rows
    except pyarrow.lib.ArrowException as error:
        raise StatementFormatError(f"{path}: cannot read Parquet metadata ({error})") from error
    return RecordCount(relative, "parquet", int(rows))
