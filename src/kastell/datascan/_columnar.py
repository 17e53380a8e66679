"""Columnar formats read in record batches with pyarrow: Parquet and Arrow IPC streams.

A ``datasets`` directory saved with ``save_to_disk`` holds Arrow IPC *stream* files
(``data-00000-of-00001.arrow``) beside ``state.json`` and ``dataset_info.json``; they are read
with pyarrow alone (the ``datasets`` package is not needed). Memory stays bounded by one batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from kastell.datascan.interface import (
    DetectorUnavailableError,
    MalformedDatasetError,
)

__all__ = ["BATCH_ROWS", "datasets_state_files", "read_arrow_stream", "read_parquet"]

BATCH_ROWS = 1024
"""Rows per record batch read from a columnar file."""


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.ipc
        import pyarrow.parquet
    except ImportError:
        raise DetectorUnavailableError(
            "reading Parquet or Arrow files needs pyarrow",
            hint="pip install 'kastell[parquet]'",
        ) from None
    return pyarrow


def read_parquet(stream: IO[bytes], source: str) -> Iterator[tuple[None, Any]]:
    """Records of a Parquet file (``stream`` must be seekable), one dict per row."""
    pa = _pyarrow()
    try:
        parquet = pa.parquet.ParquetFile(stream)
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
            for row in batch.to_pylist():
                yield None, row
    except (pa.lib.ArrowException, OSError) as error:
        raise MalformedDatasetError(f"{source}: unreadable Parquet: {error}") from None


def read_arrow_stream(stream: IO[bytes], source: str) -> Iterator[tuple[None, Any]]:
    """Records of an Arrow IPC stream file (what ``datasets`` saves), one dict per row."""
    pa = _pyarrow()
    try:
        reader = pa.ipc.open_stream(stream)
        for batch in reader:
            for row in batch.to_pylist():
                yield None, row
    except (pa.lib.ArrowException, OSError) as error:
        raise MalformedDatasetError(f"{source}: unreadable Arrow stream: {error}") from None


def _json_object(path: Path, label: str) -> dict[str, Any]:
    try:
        document = json.loads(path.read_bytes())
    except OSError as error:
        raise MalformedDatasetError(f"{label}: cannot read: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise MalformedDatasetError(f"{label}: invalid JSON: {error}") from None
    if not isinstance(document, dict):
        raise MalformedDatasetError(f"{label}: not a JSON object")
    return document


def datasets_state_files(directory: Path, label: str) -> tuple[str, ...]:
    """The Arrow files a ``datasets`` split directory's ``state.json`` lists (names only).

    Raises:
        MalformedDatasetError: ``state.json`` is malformed, or lists a file that is missing or
            escapes the directory.
    """
    state = _json_object(directory / "state.json", f"{label}/state.json")
    files = state.get("_data_files")
    if not isinstance(files, list) or not files:
        raise MalformedDatasetError(f"{label}/state.json: no _data_files list")
    names: list[str] = []
    for item in files:
        name = item.get("filename") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or \
                name in (".", ".."):
            raise MalformedDatasetError(f"{label}/state.json: bad data file entry {item!r:.80}")
        if not (directory / name).is_file():
            raise MalformedDatasetError(f"{label}/state.json lists {name}, which is missing")
        names.append(name)
    if len(set(names)) != len(names):
        raise MalformedDatasetError(f"{label}/state.json lists a data file twice")
    return tuple(names)
