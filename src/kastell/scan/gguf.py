"""GGUF (llama.cpp) files: bounds-checked header, metadata and tensor-info parse.

Every length is checked against the bytes left in the file before anything is read or
allocated. The chat templates found in the metadata (``tokenizer.chat_template`` and named
variants) are checked in full by ``chat_template.check_template``.
"""

from __future__ import annotations

import struct
import time
from typing import IO, Any, ClassVar

from kastell.scan.chat_template import check_template
from kastell.scan.interface import (
    Blob,
    ScanContext,
    ScannerMeta,
    ScanOutcome,
    UnscannableInputError,
)
from kastell.types import Finding

__all__ = ["GgufScanner", "parse_gguf"]

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_MAX_DIMS = 8
# ggml type -> (block size in elements, bytes per block) for the common types
_GGML_SIZES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24),
               8: (32, 34), 9: (32, 36), 10: (256, 84), 11: (256, 110), 12: (256, 144),
               13: (256, 176), 14: (256, 210), 15: (256, 292), 24: (1, 1), 25: (1, 2),
               26: (1, 4), 27: (1, 8), 28: (1, 8), 30: (1, 2)}


class _Cursor:
    """Sequential reads with a bound on every length."""

    def __init__(self, stream: IO[bytes], size: int) -> None:
        self._stream = stream
        self.size = size
        self.pos = 0
        self._buffer = b""
        self._start = 0

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > self.size:
            raise UnscannableInputError(
                f"GGUF field at byte {self.pos} claims {count} bytes past the end of the file")
        end = self.pos - self._start + count
        if end > len(self._buffer):
            keep = self._buffer[self.pos - self._start:]
            more = self._stream.read(max(count - len(keep), 1 << 20))
            self._buffer, self._start = keep + more, self.pos
            end = count
            if len(self._buffer) < count:
                raise UnscannableInputError(f"GGUF truncated at byte {self.pos}")
        data = self._buffer[end - count:end]
        self.pos += count
        return data

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self, limit: int) -> str:
        length = self.unpack("<Q")
        if length > self.size - self.pos:
            raise UnscannableInputError(
                f"GGUF string at byte {self.pos} claims {length} bytes past the end of the file")
        if length > limit:
            raise UnscannableInputError(f"GGUF string of {length} bytes over the limit")
        try:
            return self.take(length).decode("utf-8")
        except UnicodeDecodeError:
            raise UnscannableInputError(f"GGUF string at byte {self.pos} is not UTF-8") from None


def _value(cursor: _Cursor, kind: int, limit: int, depth: int = 0) -> Any:
    if kind in _SCALARS:
        return cursor.unpack(_SCALARS[kind])
    if kind == _STRING:
        return cursor.string(limit)
    if kind == _ARRAY and depth == 0:
        item_kind = cursor.unpack("<I")
        count = cursor.unpack("<Q")
        smallest = 8 if item_kind == _STRING else struct.calcsize(_SCALARS.get(item_kind, "<B"))
        if count * smallest > cursor.size - cursor.pos:
            raise UnscannableInputError(f"GGUF array of {count} items cannot fit in the file")
        if item_kind in _SCALARS:
            cursor.take(count * struct.calcsize(_SCALARS[item_kind]))
            return count
        return [_value(cursor, item_kind, limit, depth + 1) for _ in range(count)]
    raise UnscannableInputError(f"GGUF value type {kind} is not valid here")


def _check_deadline(index: int, deadline: float | None) -> None:
    if deadline is not None and not index & 0xFFF and time.process_time() > deadline:
        raise UnscannableInputError("CPU budget of the file used up (bound cpu_seconds)")


def parse_gguf(stream: IO[bytes], size: int, *, max_string: int = 100 << 20,
               deadline: float | None = None) -> dict[str, Any]:
    """Parse the header, metadata and tensor infos; return metadata plus ``__tensors__``.

    Raises:
        UnscannableInputError: bad magic or version, any length out of bounds, or the CPU
            deadline (``time.process_time()``) passed.
    """
    cursor = _Cursor(stream, size)
    if cursor.take(4) != b"GGUF":
        raise UnscannableInputError("GGUF magic missing")
    version = cursor.unpack("<I")
    if version not in (2, 3):
        raise UnscannableInputError(f"GGUF version {version} is not supported (2 and 3 are)")
    n_tensors, n_kv = cursor.unpack("<Q"), cursor.unpack("<Q")
    if n_kv * 13 > size or n_tensors * 24 > size:
        raise UnscannableInputError("GGUF counts cannot fit in the file")
    metadata: dict[str, Any] = {}
    duplicates: list[tuple[str, Any]] = []
    for index in range(n_kv):
        _check_deadline(index, deadline)
        key = cursor.string(1 << 16)
        value = _value(cursor, cursor.unpack("<I"), max_string)
        if key in metadata:
            duplicates.append((key, metadata[key]))
        metadata[key] = value
    tensors = []
    for index in range(n_tensors):
        _check_deadline(index, deadline)
        name = cursor.string(1 << 16)
        n_dims = cursor.unpack("<I")
        if n_dims > _MAX_DIMS:
            raise UnscannableInputError(f"GGUF tensor {name!r} has {n_dims} dimensions")
        dims = [cursor.unpack("<Q") for _ in range(n_dims)]
        tensors.append((name, dims, cursor.unpack("<I"), cursor.unpack("<Q")))
    metadata["__tensors__"] = tensors
    metadata["__duplicates__"] = duplicates
    metadata["__data_start__"] = cursor.pos
    return metadata


def _tensor_findings(meta: dict[str, Any], size: int, blob: Blob,
                     ctx: ScanContext) -> list[Finding]:
    alignment = meta.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        return [ctx.finding("KS-GGUF-INVALID", f"general.alignment {alignment!r} is invalid",
                            blob)]
    start = -(-int(meta["__data_start__"]) // alignment) * alignment
    problems = []
    for name, dims, kind, offset in meta["__tensors__"]:
        count = 1
        for n in dims:
            count *= n
        block = _GGML_SIZES.get(kind)
        length = (count // block[0]) * block[1] if block else 0
        if offset % alignment or start + offset + length > size:
            problems.append(f"{name} (type {kind}, offset {offset}, {length} bytes)")
    if problems:
        return [ctx.finding("KS-GGUF-INVALID", f"{len(problems)} tensor(s) misaligned or out of "
                            f"bounds, e.g. {problems[0]}", blob)]
    return []


class GgufScanner:
    """GGUF files: structure and chat templates."""

    meta: ClassVar[ScannerMeta] = ScannerMeta(
        name="gguf",
        formats=("gguf",),
        version="1.0.0",
        rules=("KS-GGUF-INVALID", "KS-SCAN-AMBIGUOUS", "KS-TEMPLATE-SANDBOX-ESCAPE",
               "KS-TEMPLATE-UNLISTED", "KS-TEMPLATE-HIDDEN-INSTRUCTION",
               "KS-TEMPLATE-UNPARSABLE"),
        description="Bounds-checked GGUF parse; checks every chat template in full.",
    )

    def scan(self, blob: Blob, fmt: str, ctx: ScanContext) -> ScanOutcome:
        """Scan a GGUF file."""
        if blob.size is None:
            raise UnscannableInputError("GGUF size unknown")
        with blob.opener() as stream:
            meta = parse_gguf(stream, blob.size, max_string=ctx.limits.max_header_bytes,
                              deadline=ctx.deadline)
        findings = _tensor_findings(meta, blob.size, blob, ctx)
        duplicates: list[tuple[str, Any]] = meta["__duplicates__"]
        for key in dict.fromkeys(key for key, _ in duplicates):
            findings.append(ctx.finding(
                "KS-SCAN-AMBIGUOUS", f"metadata key {key!r} appears more than once (readers "
                "keep the first or the last)", blob))
        # every value of a duplicated key is checked: a reader may keep any of them
        entries = [*duplicates, *((k, v) for k, v in meta.items() if not k.startswith("__"))]
        for key, value in entries:
            if key.startswith("tokenizer.chat_template") and isinstance(value, str):
                for issue in check_template(value):
                    findings.append(ctx.finding(issue.rule_id, f"{key}: {issue.detail}", blob))
        return ScanOutcome(tuple(findings), (), "gguf")
