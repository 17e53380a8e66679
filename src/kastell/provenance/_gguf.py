"""A bounded parser of GGUF (v2/v3) headers over bytes already in memory.

Everything in the header is untrusted: every length and count is checked against the bytes
that remain before anything is allocated, and tensor data ranges must lie inside the file.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import numpy as np

from kastell.provenance.interface import ProvenanceUsageError, StatementFormatError

_MAGIC = b"GGUF"
_SCALARS: dict[int, tuple[str, int]] = {
    0: ("<B", 1), 1: ("<b", 1), 2: ("<H", 2), 3: ("<h", 2), 4: ("<I", 4), 5: ("<i", 4),
    6: ("<f", 4), 7: ("<?", 1), 10: ("<Q", 8), 11: ("<q", 8), 12: ("<d", 8),
}  # fmt: skip
_STRING, _ARRAY = 8, 9
_MAX_DIMS = 8
# ggml type -> (block size in elements, bytes per block); enough to bound tensor sizes
_GGML_BLOCKS: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    9: (32, 36), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210),
    15: (256, 292), 16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18),
    21: (256, 110), 22: (256, 82), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4),
    27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66),
    39: (32, 17),
}  # fmt: skip


_NUMPY_TYPES = {0: "<f4", 1: "<f2", 24: "i1", 25: "<i2", 26: "<i4", 27: "<i8", 28: "<f8", 30: "<u2"}
_BF16 = 30


@dataclasses.dataclass(frozen=True)
class GGUFTensor:
    """One tensor of a GGUF file: its shape, ggml type and raw data (a view, no copy).

    ``shape`` is in GGUF order (fastest-varying dimension first).
    """

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    data: memoryview

    def array(self) -> np.ndarray[Any, Any]:
        """The tensor as a numpy array (numpy order: GGUF shape reversed).

        Plain types only (F32, F16, BF16 widened to float32, F64, integers); quantized blocks
        are left to llama.cpp.

        Raises:
            ProvenanceUsageError: the tensor is quantized.
        """
        kind = _NUMPY_TYPES.get(self.ggml_type)
        if kind is None:
            raise ProvenanceUsageError(
                f"tensor {self.name!r} is quantized (ggml type {self.ggml_type})",
                hint="Use the raw `data` with a GGML runtime such as llama.cpp.",
            )
        values = np.frombuffer(self.data, dtype=kind).reshape(tuple(reversed(self.shape)))
        if self.ggml_type == _BF16:
            return (values.astype(np.uint32) << 16).view(np.float32)
        return values


@dataclasses.dataclass(frozen=True)
class GGUFFile:
    """A parsed GGUF file: version, metadata key/values and tensors."""

    version: int
    metadata: dict[str, Any]
    tensors: dict[str, GGUFTensor]


class _Cursor:
    def __init__(self, data: memoryview, source: str) -> None:
        self.data, self.pos, self.source = data, 0, source

    def fail(self, what: str) -> StatementFormatError:
        return StatementFormatError(
            f"{self.source}: malformed GGUF at byte {self.pos}: {what}",
            hint="The file is not a valid GGUF model (truncated or corrupted).",
        )

    def take(self, size: int) -> memoryview:
        if size < 0 or self.pos + size > len(self.data):
            raise self.fail(f"needs {size} bytes, {len(self.data) - self.pos} remain")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def scalar(self, fmt: str, size: int) -> Any:
        return struct.unpack(fmt, self.take(size))[0]

    def string(self) -> str:
        size = self.scalar("<Q", 8)
        try:
            return bytes(self.take(size)).decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("string is not UTF-8") from None

    def value(self, kind: int, depth: int = 0) -> Any:
        if kind in _SCALARS:
            return self.scalar(*_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY and depth < 2:
            item_kind, count = self.scalar("<I", 4), self.scalar("<Q", 8)
            if count > len(self.data) - self.pos:  # every item takes at least one byte
                raise self.fail(f"array of {count} items does not fit")
            if item_kind in _SCALARS and item_kind != 7:
                fmt, size = _SCALARS[item_kind]
                raw = self.take(size * count)
                return list(struct.unpack(f"<{count}{fmt[1]}", raw))
            return [self.value(item_kind, depth + 1) for _ in range(count)]
        raise self.fail(f"unknown value type {kind}")


def _tensor_bytes(shape: tuple[int, ...], ggml_type: int, cursor: _Cursor) -> int:
    block = _GGML_BLOCKS.get(ggml_type)
    if block is None:
        raise cursor.fail(f"unknown ggml tensor type {ggml_type}")
    elements = 1
    for dim in shape:
        elements *= dim
    if elements % block[0]:
        raise cursor.fail("tensor size is not a whole number of blocks")
    return elements // block[0] * block[1]


def parse_gguf(data: memoryview, source: str) -> GGUFFile:
    """Parse a whole GGUF file held in memory."""
    cursor = _Cursor(data, source)
    if bytes(cursor.take(4)) != _MAGIC:
        raise cursor.fail("no GGUF magic")
    version = cursor.scalar("<I", 4)
    if version not in (2, 3):
        raise cursor.fail(f"unsupported GGUF version {version}")
    tensor_count, kv_count = cursor.scalar("<Q", 8), cursor.scalar("<Q", 8)
    if tensor_count > len(data) // 24 or kv_count > len(data) // 12:
        raise cursor.fail("tensor or key counts exceed the file size")
    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = cursor.string()
        metadata[key] = cursor.value(cursor.scalar("<I", 4))
    infos: list[tuple[str, tuple[int, ...], int, int]] = []
    for _ in range(tensor_count):
        name = cursor.string()
        n_dims = cursor.scalar("<I", 4)
        if n_dims > _MAX_DIMS:
            raise cursor.fail(f"tensor {name!r} has {n_dims} dimensions")
        shape = tuple(cursor.scalar("<Q", 8) for _ in range(n_dims))
        infos.append((name, shape, cursor.scalar("<I", 4), cursor.scalar("<Q", 8)))
    alignment = metadata.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment < 1 or alignment & (alignment - 1):
        raise cursor.fail(f"bad general.alignment {alignment!r}")
    start = -(-cursor.pos // alignment) * alignment
    tensors: dict[str, GGUFTensor] = {}
    for name, shape, ggml_type, offset in infos:
        size = _tensor_bytes(shape, ggml_type, cursor)
        begin = start + offset
        if begin + size > len(data):
            raise cursor.fail(f"tensor {name!r} data lies beyond the end of the file")
        tensors[name] = GGUFTensor(name, shape, ggml_type, data[begin : begin + size])
    return GGUFFile(version, metadata, tensors)
