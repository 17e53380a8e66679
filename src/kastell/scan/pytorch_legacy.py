"""The ``storages`` and ``tensors`` members of legacy (tar) PyTorch checkpoints.

Both interleave pickles with raw bytes. ``storages``: a pickle of the count, then per storage
a pickle ``(key, location, storage_type)``, an int64 element count and that many elements of
the storage type's size, then one pickle of storage views. ``tensors``: a pickle of the count,
then per tensor a pickle ``(key, storage_id, tensor_type)``, an int32 ``ndim``, 4 padding
bytes, ``ndim`` int64 sizes, ``ndim`` int64 strides and an int64 offset. Every pickle is
scanned and every raw record is skipped by exactly the size the loader reads; anything that
does not fit is unscannable.
"""

from __future__ import annotations

import struct

from kastell.scan._pickle_values import GlobalValue, ListValue
from kastell.scan._stream import BoundedReader, MemoryReader
from kastell.scan.interface import Blob, ScanContext, ScanOutcome, UnscannableInputError
from kastell.scan.pickle_emulator import PickleAnalysis, analyse_pickle
from kastell.scan.pickle_scan import findings_of_analysis, pickle_bounds
from kastell.types import Finding

__all__ = ["ELEMENT_SIZES", "scan_legacy_records", "walk_legacy_storages"]

ELEMENT_SIZES = {
    "FloatStorage": 4, "DoubleStorage": 8, "HalfStorage": 2, "BFloat16Storage": 2,
    "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1,
    "BoolStorage": 1, "ComplexFloatStorage": 8, "ComplexDoubleStorage": 16, "QInt8Storage": 1,
    "QUInt8Storage": 1, "QInt32Storage": 4, "QUInt4x2Storage": 1, "QUInt2x4Storage": 1,
}
"""Bytes per element of each legacy ``torch.*Storage`` type."""

_MAX_RECORDS = 10_000_000


class _Records:
    """Scans the pickles of one member and collects their findings."""

    def __init__(self, reader: BoundedReader, blob: Blob, ctx: ScanContext) -> None:
        self.reader, self.blob, self.ctx = reader, blob, ctx
        self.findings: list[Finding] = []
        self.reasons: list[str] = []

    def pickle(self) -> PickleAnalysis:
        start = self.reader.tell()
        analysis = analyse_pickle(self.reader, size=None, bounds=pickle_bounds(self.ctx))
        found, reasons = findings_of_analysis(analysis, self.blob, self.ctx, base=start)
        self.findings.extend(found)
        self.reasons.extend(reasons)
        return analysis

    def unpack(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        raw = self.reader.read(size)
        if len(raw) != size:
            raise UnscannableInputError(f"{self.blob.member}: raw record truncated")
        value: int = struct.unpack(fmt, raw)[0]
        return value

    def skip(self, count: int) -> None:
        if count < 0 or self.reader.skip(count) != count:
            raise UnscannableInputError(f"{self.blob.member}: raw data truncated or negative")

    def count(self) -> int:
        value = self.pickle().first_value
        if not isinstance(value, int) or isinstance(value, bool) or not (
                0 <= value <= _MAX_RECORDS):
            raise UnscannableInputError(f"{self.blob.member}: record count {value!r} invalid")
        return value


def _element_size(value: object, member: str | None) -> int:
    storage_type = value[2] if isinstance(value, tuple) and len(value) == 3 else None
    if not (isinstance(storage_type, GlobalValue) and storage_type.module == "torch"
            and storage_type.name in ELEMENT_SIZES):
        raise UnscannableInputError(f"{member}: storage record without a known storage type")
    return ELEMENT_SIZES[storage_type.name]


def scan_legacy_records(reader: BoundedReader, blob: Blob, ctx: ScanContext,
                        kind: str) -> ScanOutcome:
    """Scan a legacy ``storages`` or ``tensors`` member (``kind``)."""
    records = _Records(reader, blob, ctx)
    for _ in range(records.count()):
        value = records.pickle().first_value
        if kind == "storages":
            element = _element_size(value, blob.member)
            records.skip(records.unpack("<q") * element)
        else:
            ndim = records.unpack("<i")
            if not 0 <= ndim <= 64:
                raise UnscannableInputError(f"{blob.member}: tensor with {ndim} dimensions")
            records.skip(4 + 16 * ndim + 8)
    if kind == "storages":
        records.pickle()  # the storage views
    return ScanOutcome(tuple(records.findings), tuple(records.reasons), "pytorch-tar")


def _storages(objects: PickleAnalysis) -> dict[str, tuple[int, int]]:
    """Root key -> (element size, element count) from the object pickle's persistent ids."""
    found: dict[str, tuple[int, int]] = {}
    for pid in objects.persistent_ids:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            continue
        kind, key, numel = pid[1], pid[2], pid[4]
        if (isinstance(kind, GlobalValue) and kind.module == "torch"
                and kind.name in ELEMENT_SIZES and isinstance(key, str)
                and isinstance(numel, int) and numel >= 0):
            found[key] = (ELEMENT_SIZES[kind.name], numel)
    return found


def walk_legacy_storages(
    reader: BoundedReader | MemoryReader, objects: PickleAnalysis, keys: PickleAnalysis,
    blob: Blob, ctx: ScanContext,
) -> tuple[list[Finding], list[str]]:
    """Walk the raw storages after a legacy ``torch.save`` file's five pickles, to the end.

    ``torch.load`` reads, for each key of the fifth pickle, an int64 element count and that
    many elements of the storage's type (declared in the object pickle's persistent ids).
    Returns (findings, unscannable reasons): bytes after the last storage are trailing data.
    """
    layout = _storages(objects)
    names = keys.first_value
    if not isinstance(names, ListValue) or names.count != len(names.items):
        return [], ["legacy PyTorch storage keys are not a plain list"]
    for key in names.items:
        if not isinstance(key, str) or key not in layout:
            return [], [f"legacy PyTorch storage key {key!r} has no storage record"]
        element, numel = layout[key]
        raw = reader.read(8)
        if len(raw) != 8 or struct.unpack("<q", raw)[0] != numel:
            return [], [f"legacy PyTorch storage {key!r}: size record does not match"]
        if reader.skip(numel * element) != numel * element:
            return [], [f"legacy PyTorch storage {key!r}: data truncated"]
    if not reader.at_end():
        return [ctx.finding("KS-PICKLE-TRAILING-DATA", "bytes after the last legacy PyTorch "
                            "storage", blob, offset=reader.tell())], []
    return [], []
