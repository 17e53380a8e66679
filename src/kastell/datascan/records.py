"""Records: the canonical digest, the text fields, the label and the answer of a record.

A record digest is the SHA-256 of the record's canonical JSON (keys sorted, no insignificant
white space, UTF-8, non-ASCII kept as is), so the same record has the same digest whether it
was read from JSONL, CSV, Parquet or Arrow. Values that JSON cannot hold (bytes, dates, decimals
from columnar files) are written as tagged strings (``{"$bytes": hex}``, ``{"$str": text}``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from typing import Any

from kastell.datascan.interface import (
    DatascanUsageError,
    MalformedDatasetError,
    Record,
    TextField,
)

__all__ = [
    "RESPONSE_FIELDS",
    "canonical_json",
    "label_of",
    "make_record",
    "record_digest",
    "response_of",
    "text_fields",
]

RESPONSE_FIELDS = ("output", "response", "completion", "answer", "chosen")
"""Fields searched, in order, for the answer of an instruction record."""

_MAX_DEPTH = 64


def _plain(value: Any, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        raise MalformedDatasetError(f"record nested deeper than {_MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return {"$float": repr(value)}
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": bytes(value).hex()}
    return {"$str": str(value)}


def canonical_json(value: Any) -> str:
    """The canonical JSON text of a record value."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def record_digest(value: Any) -> str:
    """Hex SHA-256 of the canonical JSON of ``value``."""
    text = canonical_json(value)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as error:  # lone surrogates from a \\ud800 escape
        raise MalformedDatasetError("record holds an unpaired surrogate code point") from error
    return hashlib.sha256(data).hexdigest()


def text_fields(value: Any, prefix: str = "", depth: int = 0) -> Iterator[TextField]:
    """Every string in ``value`` with its path, in document order (keys, then list items)."""
    if depth > _MAX_DEPTH:
        raise MalformedDatasetError(f"record nested deeper than {_MAX_DEPTH} levels")
    if isinstance(value, str):
        yield TextField(prefix or "value", value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from text_fields(item, f"{prefix}.{key}" if prefix else str(key), depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from text_fields(item, f"{prefix}[{index}]", depth + 1)


def make_record(file: str, index: int, line: int | None, value: Any) -> Record:
    """A :class:`Record` from a decoded value (digest and text fields computed here)."""
    return Record(file, index, line, tuple(text_fields(value)), record_digest(value), value)


def _scalar_label(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def label_of(record: Record, field: str | None) -> str | None:
    """The record's class label (``field``, else ``label``), or None when it has none."""
    if not isinstance(record.value, dict):
        return None
    name = field or "label"
    if name not in record.value:
        if field is not None:
            raise DatascanUsageError(
                f"record {record.id} has no label field {field!r}",
                hint="Every record needs the --label-field; check the field name.",
            )
        return None
    return _scalar_label(record.value[name])


def _last_assistant(messages: Any) -> str | None:
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "assistant":
            content = message.get("content")
            return content if isinstance(content, str) else None
    return None


def response_of(record: Record, field: str | None) -> str | None:
    """The record's answer (``field``, a known answer field, or the last assistant turn)."""
    value = record.value
    if not isinstance(value, dict):
        return None
    if field is not None:
        if field not in value:
            raise DatascanUsageError(
                f"record {record.id} has no response field {field!r}",
                hint="Every record needs the --response-field; check the field name.",
            )
        item = value[field]
        return item if isinstance(item, str) else canonical_json(item)
    for name in RESPONSE_FIELDS:
        if isinstance(value.get(name), str):
            return str(value[name])
    return _last_assistant(value.get("messages"))
