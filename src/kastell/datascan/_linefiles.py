"""Line formats read as a stream: JSON Lines, CSV (with a header) and plain text.

Each reader takes a binary stream and yields ``(line, value)`` pairs, one per record, reading
in bounded memory (one line or one CSV row at a time). Anything malformed is an error that names
the line; nothing is skipped. Blank JSONL lines are not records (as ``kastell attest dataset``
counts them); every text line is a record.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import IO, Any

from kastell.datascan.interface import MalformedDatasetError

__all__ = ["MAX_LINE_BYTES", "read_csv", "read_jsonl", "read_text"]

MAX_LINE_BYTES = 64 << 20
"""Longest line (JSONL record, text line) read; a longer one is an error, not a cut."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedDatasetError(f"duplicate key {key[:80]!r} in one object")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise MalformedDatasetError(f"non-standard JSON constant {name}")


def _lines(stream: IO[bytes], source: str) -> Iterator[tuple[int, bytes]]:
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise MalformedDatasetError(f"{source}:{number}: line longer than 64 MiB")
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        yield number, raw


def _decode(raw: bytes, source: str, number: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedDatasetError(
            f"{source}:{number}: not UTF-8 at byte {error.start}"
        ) from None


def read_jsonl(stream: IO[bytes], source: str) -> Iterator[tuple[int, Any]]:
    """Records of a JSON Lines file: one JSON object per non-blank line."""
    for number, raw in _lines(stream, source):
        text = _decode(raw, source, number)
        if not text.strip():
            continue
        try:
            value = json.loads(text, object_pairs_hook=_no_duplicates,
                               parse_constant=_no_constant)
        except MalformedDatasetError as error:
            raise MalformedDatasetError(f"{source}:{number}: {error.message}") from None
        except (json.JSONDecodeError, RecursionError) as error:
            raise MalformedDatasetError(f"{source}:{number}: invalid JSON: {error}") from None
        if not isinstance(value, dict):
            raise MalformedDatasetError(
                f"{source}:{number}: a JSONL record must be an object, not "
                f"{type(value).__name__}"
            )
        yield number, value


def read_text(stream: IO[bytes], source: str) -> Iterator[tuple[int, Any]]:
    """Records of a plain text file: every line is a record ``{"text": line}``."""
    for number, raw in _lines(stream, source):
        text = _decode(raw, source, number)
        if "\x00" in text:
            raise MalformedDatasetError(f"{source}:{number}: NUL byte in a text file")
        yield number, {"text": text.rstrip("\n").removesuffix("\r")}


def _header(reader: Any, source: str) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise MalformedDatasetError(f"{source}: empty CSV file (no header row)") from None
    names = [name.strip() for name in header]
    if not names or any(not name for name in names):
        raise MalformedDatasetError(f"{source}:1: CSV header has an empty column name")
    if len(set(names)) != len(names):
        raise MalformedDatasetError(f"{source}:1: CSV header repeats a column name")
    return names


def read_csv(stream: IO[bytes], source: str) -> Iterator[tuple[int, Any]]:
    """Records of a CSV file with a header row: one object per row, every value a string.

    A field may be as long as a JSONL line (64 MiB): the csv module's process-wide field limit
    is raised to that if it is lower (never lowered).
    """
    if csv.field_size_limit() < MAX_LINE_BYTES:
        csv.field_size_limit(MAX_LINE_BYTES)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline="")
    reader = csv.reader(text, strict=True)
    try:
        names = _header(reader, source)
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            if len(row) != len(names):
                raise MalformedDatasetError(
                    f"{source}:{start}: row has {len(row)} fields, the header {len(names)}"
                )
            yield start, dict(zip(names, row, strict=True))
    except csv.Error as error:
        raise MalformedDatasetError(f"{source}:{reader.line_num}: {error}") from None
    except UnicodeDecodeError as error:
        raise MalformedDatasetError(
            f"{source}: not UTF-8 near line {reader.line_num + 1} ({error.reason})"
        ) from None
    finally:
        text.detach()
