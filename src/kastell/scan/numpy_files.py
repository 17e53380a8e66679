"""NumPy ``.npy`` and ``.npz`` files: safe header parse; object arrays carry pickles.

The header is a Python dict literal; it is parsed with ``ast.literal_eval`` after a length
bound (never ``eval``). An object array's payload is a pickle stream and is scanned as one.
"""

from __future__ import annotations

import re
import struct
from typing import Any, ClassVar

from kastell.scan._stream import BoundedReader
from kastell.scan.archive import open_zip, scan_zip_members, zip_member_findings
from kastell.scan.interface import (
    Blob,
    ScanContext,
    ScannerMeta,
    ScanOutcome,
    UnscannableInputError,
)
from kastell.scan.pickle_scan import scan_pickle_stream

__all__ = ["NumpyScanner", "parse_npy_header"]

_MAX_HEADER = 1 << 20
_TYPESTR = re.compile(r"^[<>|=]?([?bBhHiIlLqQpPefdgFDGuifcbSaUVmMO])(\d*)(?:\[\w+\])?$")


def _itemsize(descr: Any) -> int | None:
    """Bytes per element of a dtype description; None for object dtypes."""
    if isinstance(descr, str):
        match = _TYPESTR.match(descr)
        if match is None:
            raise UnscannableInputError(f"npy header has an unknown dtype {descr!r}")
        kind, digits = match.group(1), match.group(2)
        if kind == "O":
            return None
        size = int(digits) if digits else 1
        return size * 4 if kind == "U" else size
    if isinstance(descr, list):
        total = 0
        for field in descr:
            if not isinstance(field, tuple) or len(field) not in (2, 3):
                raise UnscannableInputError("npy header has a malformed structured dtype")
            inner = _itemsize(field[1])
            if inner is None:
                return None
            size = inner
            if len(field) == 3:
                count = 1
                for n in field[2] if isinstance(field[2], tuple) else (field[2],):
                    if not isinstance(n, int) or n < 0:
                        raise UnscannableInputError("npy header has a malformed sub-array shape")
                    count *= n
                size *= count
            total += size
        return total
    raise UnscannableInputError(f"npy header has an unsupported dtype {descr!r:.80}")


def parse_npy_header(reader: BoundedReader) -> tuple[dict[str, Any], int]:
    """Read and validate an npy header; return it and the header's total length in bytes.

    Raises:
        UnscannableInputError: bad magic, version, length or dict literal.
    """
    prefix = reader.read(8)
    if len(prefix) < 8 or prefix[:6] != b"\x93NUMPY":
        raise UnscannableInputError("npy magic missing or truncated")
    major = prefix[6]
    if major == 1:
        raw = reader.read(2)
        (length,) = struct.unpack("<H", raw) if len(raw) == 2 else (-1,)
    elif major in (2, 3):
        raw = reader.read(4)
        (length,) = struct.unpack("<I", raw) if len(raw) == 4 else (-1,)
    else:
        raise UnscannableInputError(f"npy version {major} is not supported")
    if length < 0 or length > _MAX_HEADER:
        raise UnscannableInputError(f"npy header length {length} out of bounds")
    text = reader.read(length)
    if len(text) != length:
        raise UnscannableInputError("npy header truncated")
    import ast

    try:
        header = ast.literal_eval(text.decode("utf-8" if major == 3 else "latin-1"))
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
        raise UnscannableInputError("npy header is not a Python literal") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise UnscannableInputError("npy header must have exactly descr, fortran_order, shape")
    shape = header["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise UnscannableInputError(f"npy header has an invalid shape {shape!r:.80}")
    return header, 8 + len(raw) + length


def _scan_npy(blob: Blob, ctx: ScanContext) -> ScanOutcome:
    with blob.opener() as stream:
        reader = BoundedReader(stream, blob.size)
        header, header_len = parse_npy_header(reader)
        itemsize = _itemsize(header["descr"])
        if itemsize is None:
            outcome = scan_pickle_stream(reader, blob, ctx, concatenated=False)
            return ScanOutcome(outcome.findings, outcome.unscannable, "numpy-object")
    count = 1
    for n in header["shape"]:
        count *= n
    expected = count * itemsize
    if blob.size is not None and blob.size - header_len != expected:
        return ScanOutcome((ctx.finding(
            "KS-NPY-SIZE-MISMATCH", f"header promises {expected} payload bytes, file has "
            f"{blob.size - header_len}", blob),), (), "numpy")
    return ScanOutcome(format="numpy")


class NumpyScanner:
    """``numpy.save`` / ``numpy.savez`` files, including object arrays (pickles)."""

    meta: ClassVar[ScannerMeta] = ScannerMeta(
        name="numpy",
        formats=("numpy", "npz"),
        version="1.0.0",
        rules=("KS-NPY-SIZE-MISMATCH", "KS-PICKLE-DANGEROUS-CALLABLE",
               "KS-PICKLE-UNLISTED-CALLABLE", "KS-ARCHIVE-PATH-TRAVERSAL", "KS-ARCHIVE-BOMB"),
        description="Parses npy headers safely; scans object-array pickles.",
    )

    def scan(self, blob: Blob, fmt: str, ctx: ScanContext) -> ScanOutcome:
        """Scan an npy or npz file."""
        if fmt == "numpy":
            return _scan_npy(blob, ctx)
        with blob.opener() as stream, open_zip(stream) as archive:
            findings = zip_member_findings(archive, blob, ctx)
            nested = scan_zip_members(archive, blob, ctx)
        return ScanOutcome(tuple(findings), (), "npz").merge(nested)


