"""Inputs of the training-data extraction probes: records and planted canaries.

Records: one JSON object per line, ``{"prefix": ..., "suffix": ...}`` or ``{"text": ...}``
(split in the middle). Canaries: the file ``kastell canary generate`` writes, or JSONL lines
``{"prefix": ..., "canary": ...}`` or, when only a digest of the secret is known,
``{"prefix": ..., "canary_sha256": HEX, "pattern": REGEX}``.
"""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any

from kastell._untrusted import load_json
from kastell.redteam.interface import RedteamUsageError

__all__ = [
    "load_canaries",
    "read_json_lines",
    "load_records",
    "load_system_prompt",
    "parse_canaries",
    "parse_records",
]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_MAX_LINES = 10_000


def _objects(text: str, what: str) -> list[tuple[int, dict[str, Any]]]:
    """Numbered JSON objects of JSONL ``text``, parsed strictly (duplicate keys, NaN refused)."""
    rows: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(rows) >= _MAX_LINES:
            raise RedteamUsageError(f"{what}: more than {_MAX_LINES} lines")
        try:
            value = load_json(line)
        except (json.JSONDecodeError, RecursionError) as error:
            why = error.msg if isinstance(error, json.JSONDecodeError) else "nested too deeply"
            raise RedteamUsageError(f"{what} line {number}: not JSON ({why})") from None
        if not isinstance(value, dict):
            raise RedteamUsageError(f"{what} line {number}: expected a JSON object")
        rows.append((number, value))
    return rows


def _string(value: dict[str, Any], key: str, where: str) -> str:
    item = value.get(key)
    if not isinstance(item, str) or not item.strip():
        raise RedteamUsageError(f"{where}: {key!r} must be a non-empty string")
    return item


def read_json_lines(path: pathlib.Path, what: str) -> list[tuple[int, dict[str, Any]]]:
    """The numbered JSON objects of a JSONL file (blank lines skipped), parsed strictly.

    Raises:
        RedteamUsageError: unreadable or not UTF-8, a line that is not a JSON object, a
            duplicate key, a non-finite number, or more than 10,000 lines.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RedteamUsageError(f"cannot read {what} {path}: {error}") from error
    return _objects(text, f"{what} {path}")


def parse_records(text: str, what: str = "records") -> tuple[dict[str, str], ...]:
    """Parse records JSONL into ``{"prefix", "suffix"}`` dicts."""
    records = []
    for number, value in _objects(text, what):
        where = f"{what} line {number}"
        if "text" in value:
            body = _string(value, "text", where)
            middle = len(body) // 2
            records.append({"prefix": body[:middle], "suffix": body[middle:]})
        else:
            records.append({"prefix": _string(value, "prefix", where),
                            "suffix": _string(value, "suffix", where)})
    return tuple(records)


def parse_canaries(text: str, what: str = "canaries") -> tuple[dict[str, str], ...]:
    """Parse canaries JSONL."""
    canaries = []
    for number, value in _objects(text, what):
        where = f"{what} line {number}"
        prefix = _string(value, "prefix", where)
        if "canary" in value:
            canaries.append({"prefix": prefix, "canary": _string(value, "canary", where)})
            continue
        digest = _string(value, "canary_sha256", where).lower()
        pattern = _string(value, "pattern", where)
        if not _HEX64.match(digest):
            raise RedteamUsageError(f"{where}: canary_sha256 must be 64 hex characters")
        try:
            re.compile(pattern)
        except re.error as error:
            raise RedteamUsageError(f"{where}: bad pattern ({error})") from None
        canaries.append({"prefix": prefix, "canary_sha256": digest, "pattern": pattern})
    return tuple(canaries)


def _read(path: pathlib.Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RedteamUsageError(f"cannot read {path}: {error}") from None


_MAX_SYSTEM_PROMPT = 32_000


def load_system_prompt(path: pathlib.Path) -> str:
    """Read a deployment's system prompt (UTF-8 text, at most 32,000 characters)."""
    text = _read(path).strip()
    if not text:
        raise RedteamUsageError(f"{path}: the system prompt is empty")
    if len(text) > _MAX_SYSTEM_PROMPT:
        raise RedteamUsageError(
            f"{path}: the system prompt has {len(text)} characters (at most {_MAX_SYSTEM_PROMPT})"
        )
    if text.count("{CANARY}") > 1:
        raise RedteamUsageError(
            f"{path}: {{CANARY}} appears more than once", hint="Mark one place for the canary."
        )
    return text


def load_records(path: pathlib.Path) -> tuple[dict[str, str], ...]:
    """Read a records JSONL file."""
    return parse_records(_read(path), str(path))


def load_canaries(path: pathlib.Path) -> tuple[dict[str, str], ...]:
    """Read canaries: a file written by ``kastell canary generate`` or a canaries JSONL file.

    A canary file without the secrets in clear yields digest-only canaries (the probe hashes
    every ``KASTELL-CANARY-<hex>`` token in the reply).
    """
    text = _read(path)
    if text.lstrip().startswith("{") and '"kastellCanaries"' in text[:4096]:
        from kastell.provenance.canary import read_canary_file
        from kastell.provenance.interface import ProvenanceError

        try:
            return tuple(read_canary_file(path).probe_inputs())
        except ProvenanceError as error:
            raise RedteamUsageError(error.message, hint=error.diagnostics()) from None
    return parse_canaries(text, str(path))
