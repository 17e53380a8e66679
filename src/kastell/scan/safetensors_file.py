"""safetensors files: header bound, JSON validity, offsets, overlaps, gaps, dtype vs size.

safetensors holds no code, but a header that lies about offsets or sizes is how parser bugs
are exploited and how data hides in gaps; every inconsistency is a finding.
"""

from __future__ import annotations

import json
import struct
from typing import Any, ClassVar

from kastell.scan.interface import (
    Blob,
    ScanContext,
    ScannerMeta,
    ScanOutcome,
    UnscannableInputError,
)

__all__ = ["SafetensorsScanner", "safetensors_problems"]

# bits per element of each safetensors dtype
_DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16,
    "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64,
    "F64": 64, "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}


def _entry_problems(name: str, entry: Any, data_len: int) -> tuple[list[str], tuple[int, int]]:
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        return [f"{name}: entry must have exactly dtype, shape, data_offsets"], (-1, -1)
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in _DTYPE_BITS:
        return [f"{name}: unknown dtype {dtype!r:.40}"], (-1, -1)
    if not isinstance(shape, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        return [f"{name}: shape must be a list of non-negative integers"], (-1, -1)
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(
            isinstance(n, int) and not isinstance(n, bool) for n in offsets)):
        return [f"{name}: data_offsets must be two integers"], (-1, -1)
    begin, end = offsets
    problems = []
    if not 0 <= begin <= end <= data_len:
        problems.append(f"{name}: data_offsets {offsets} outside the {data_len}-byte data area")
    count = 1
    for n in shape:
        count *= n
    bits = count * _DTYPE_BITS[dtype]
    if bits % 8 or bits // 8 != end - begin:
        problems.append(f"{name}: {dtype}{shape} needs {bits / 8:g} bytes, offsets give "
                        f"{end - begin}")
    return problems, (begin, end)


def safetensors_problems(header: Any, data_len: int) -> list[str]:
    """Every inconsistency of a parsed header against a data area of ``data_len`` bytes."""
    if not isinstance(header, dict):
        return ["header is not a JSON object"]
    problems: list[str] = []
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(
                    isinstance(v, str) for v in entry.values()):
                problems.append("__metadata__ must map strings to strings")
            continue
        entry_problems, span = _entry_problems(name, entry, data_len)
        problems.extend(entry_problems)
        if span[0] >= 0:
            spans.append((span[0], span[1], name))
    spans.sort()
    cursor = 0
    for begin, end, name in spans:
        if begin < cursor:
            problems.append(f"{name}: overlaps the previous tensor")
        elif begin > cursor:
            problems.append(f"{name}: {begin - cursor} unreferenced bytes before it")
        cursor = max(cursor, end)
    if cursor != data_len and not any("outside" in p for p in problems):
        problems.append(f"{data_len - cursor} unreferenced bytes after the last tensor")
    return problems


class SafetensorsScanner:
    """safetensors files (structure only; the format carries no code)."""

    meta: ClassVar[ScannerMeta] = ScannerMeta(
        name="safetensors",
        formats=("safetensors",),
        version="1.0.0",
        rules=("KS-SAFETENSORS-INVALID",),
        description="Validates the header against the file: bounds, overlaps, gaps, sizes.",
    )

    def scan(self, blob: Blob, fmt: str, ctx: ScanContext) -> ScanOutcome:
        """Scan a safetensors file."""
        if blob.size is None:
            raise UnscannableInputError("safetensors size unknown")
        with blob.opener() as stream:
            prefix = stream.read(8)
            if len(prefix) != 8:
                raise UnscannableInputError("safetensors header length truncated")
            (length,) = struct.unpack("<Q", prefix)
            if length > ctx.limits.max_header_bytes or 8 + length > blob.size:
                raise UnscannableInputError(f"safetensors header length {length} out of bounds")
            raw = stream.read(length)
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            return ScanOutcome((ctx.finding(
                "KS-SAFETENSORS-INVALID", f"header is not valid UTF-8 JSON: {error}", blob),),
                (), "safetensors")
        problems = safetensors_problems(header, blob.size - 8 - length)
        findings = tuple(
            ctx.finding("KS-SAFETENSORS-INVALID", problem, blob, offset=8)
            for problem in problems[:20]
        )
        return ScanOutcome(findings, (), "safetensors")
