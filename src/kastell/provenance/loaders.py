"""Model loaders that hash while they read, and refuse to return data that does not match.

Each file is read once into private memory; every chunk is handed to the hasher (blake3 or
sha256, in a helper thread so reading and hashing overlap) as it arrives. Only when the whole
file has been read and its digest equals the expected one is the content parsed and returned:
a mismatch raises :class:`DigestMismatchError` before any tensor or metadata reaches the caller.
"""

from __future__ import annotations

import concurrent.futures
import json
import mmap
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from kastell._untrusted import open_regular
from kastell.provenance import _manifest
from kastell.provenance._gguf import GGUFFile, GGUFTensor, parse_gguf
from kastell.provenance.interface import (
    DigestMismatchError,
    ProvenanceUsageError,
    StatementFormatError,
)
from kastell.types import Digest

__all__ = ["GGUFFile", "GGUFTensor", "load_gguf", "load_safetensors", "read_verified"]

_CHUNK = 16 * 1024 * 1024
_MAX_HEADER = 100 * 1024 * 1024
_SAFETENSORS_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
    "I16": np.int16, "I8": np.int8, "U64": np.uint64, "U32": np.uint32, "U16": np.uint16,
    "U8": np.uint8, "BOOL": np.bool_, "BF16": np.uint16,
}  # fmt: skip


def read_verified(
    path: Path, expected: Digest | None, *, follow_symlinks: bool = True
) -> memoryview:
    """Read ``path`` whole; when ``expected`` is given, hash while reading and compare.

    Args:
        path: the file to read.
        expected: the signed digest, or ``None`` to read without verifying (benchmarks only).
        follow_symlinks: when false, a symbolic link at ``path`` is refused.

    Raises:
        DigestMismatchError: the content differs from ``expected``.
        ProvenanceUsageError: the file cannot be read, or is not a regular file (a FIFO,
            device or socket is refused without blocking).
    """
    try:
        # O_NONBLOCK + fstat: a FIFO in place of the weights is refused, never waited on
        with open_regular(path, follow_symlinks=follow_symlinks, buffering=0) as handle:
            size = os.fstat(handle.fileno()).st_size
            # private anonymous memory: zero pages come lazily from the kernel (no memset pass),
            # and unlike a file mapping it cannot change under the caller after the check
            buffer: bytearray | mmap.mmap = mmap.mmap(-1, size) if size else bytearray()
            view = memoryview(buffer)
            if expected is None:
                _read_into(handle, path, view, size, None)
                return view
            hasher = _manifest.streaming_hasher(expected.algorithm)
            _read_into(handle, path, view, size, hasher)
    except OSError as error:
        raise ProvenanceUsageError(f"cannot read {path}: {error.strerror}") from error
    found = Digest(expected.algorithm, hasher.hexdigest())
    if found != expected:
        raise DigestMismatchError(
            f"{path}: content digest {found} differs from the signed {expected}"
        )
    return view


def _read_into(handle: Any, path: Path, view: memoryview, size: int, hasher: Any) -> None:
    offset = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pending: concurrent.futures.Future[Any] | None = None
        while offset < size:
            got = handle.readinto(view[offset : offset + _CHUNK])
            if not got:
                raise DigestMismatchError(f"{path}: file shrank while it was read")
            if hasher is not None:
                if pending is not None:
                    pending.result()
                pending = pool.submit(hasher.update, view[offset : offset + got])
            offset += got
        if pending is not None:
            pending.result()
    if handle.read(1):
        raise DigestMismatchError(f"{path}: file grew while it was read")


def load_safetensors(
    path: Path, expected: Digest | None, *, follow_symlinks: bool = True
) -> dict[str, np.ndarray[Any, Any]]:
    """Load a safetensors file as numpy arrays, verifying it against ``expected`` first.

    The arrays are read-only views into one buffer (no copy), except BF16 tensors, which numpy
    cannot represent: they are widened to float32 copies (exact).

    Raises:
        DigestMismatchError: the file differs from its signed digest (nothing is returned).
        StatementFormatError: the verified file is not valid safetensors.
    """
    data = read_verified(path, expected, follow_symlinks=follow_symlinks)
    return _parse_safetensors(data, str(path))


def _parse_safetensors(data: memoryview, source: str) -> dict[str, np.ndarray[Any, Any]]:
    if len(data) < 8:
        raise StatementFormatError(f"{source}: too short for safetensors")
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > min(_MAX_HEADER, len(data) - 8):
        raise StatementFormatError(f"{source}: safetensors header size {header_size} is invalid")
    try:
        header = json.loads(bytes(data[8 : 8 + header_size]))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise StatementFormatError(f"{source}: safetensors header is not JSON") from error
    if not isinstance(header, dict):
        raise StatementFormatError(f"{source}: safetensors header is not an object")
    base = 8 + header_size
    body = len(data) - base
    frozen = np.frombuffer(data, dtype=np.uint8)
    frozen.flags.writeable = False
    tensors: dict[str, np.ndarray[Any, Any]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        tensors[name] = _tensor(frozen, base, body, name, info, source)
    return tensors


def _tensor(
    frozen: np.ndarray[Any, Any], base: int, body: int, name: str, info: Any, source: str
) -> np.ndarray[Any, Any]:
    try:
        dtype = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]])
        shape = tuple(int(d) for d in info["shape"])
        begin, end = (int(x) for x in info["data_offsets"])
    except (KeyError, TypeError, ValueError, OverflowError):
        raise StatementFormatError(
            f"{source}: tensor {name!r} has an unsupported dtype or malformed entry",
            hint=f"Supported dtypes: {', '.join(_SAFETENSORS_DTYPES)}.",
        ) from None
    count = 1
    for dim in shape:
        if dim < 0:
            raise StatementFormatError(f"{source}: tensor {name!r} has a negative dimension")
        count *= dim
    if not 0 <= begin <= end <= body or end - begin != count * dtype.itemsize:
        raise StatementFormatError(f"{source}: tensor {name!r} data offsets are inconsistent")
    raw = frozen[base + begin : base + end].view(dtype).reshape(shape)
    if info["dtype"] == "BF16":  # numpy has no bfloat16: widen to float32 (a copy)
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return raw


def load_gguf(path: Path, expected: Digest | None, *, follow_symlinks: bool = True) -> GGUFFile:
    """Load a GGUF file (metadata and raw tensor views), verifying it against ``expected``.

    Raises:
        DigestMismatchError: the file differs from its signed digest (nothing is returned).
        StatementFormatError: the verified file is not valid GGUF.
    """
    data = read_verified(path, expected, follow_symlinks=follow_symlinks)
    return parse_gguf(data, str(path))
