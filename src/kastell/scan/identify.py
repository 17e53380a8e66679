"""Identify a model file's format from its content (magic bytes and structure), never its name.

``identify(head, size)`` looks at the first bytes only; containers (zip, tar) are told apart
later by their member lists (``identify_zip``/``identify_tar``).
"""

from __future__ import annotations

import json
import pickletools
import struct
from collections.abc import Sequence

__all__ = ["HEAD_BYTES", "identify", "identify_tar", "identify_zip", "looks_like_pickle"]

HEAD_BYTES = 4096
"""How many leading bytes ``identify`` needs."""

# protocol 0/1 pickles have no PROTO opcode: any opcode may come first
_PICKLE_STARTS = frozenset(ord(op.code) for op in pickletools.opcodes)
_HDF5 = b"\x89HDF\r\n\x1a\n"


_TRUNCATION = ("exhausted", "but only", "no newline found")


def _looks_like_text_pickle(head: bytes) -> bool:
    """A pickle without PROTO: the head parses to STOP, or only runs out of bytes."""
    if not head or head[0] not in _PICKLE_STARTS:
        return False
    import io

    try:
        for opcode, _arg, _pos in pickletools.genops(io.BytesIO(head)):
            if opcode.name == "STOP":
                return True
    except ValueError as error:
        cut = len(head) >= HEAD_BYTES
        return cut and any(text in str(error) for text in _TRUNCATION)
    return False


def _is_tar(head: bytes) -> bool:
    """Whether ``tarfile.open(mode="r:")`` accepts the file, as ``torch.load`` tries it.

    A valid header checksum is enough (V7 headers have no "ustar" magic).
    """
    if len(head) < 512 or head[:512].count(0) == 512:
        return False
    import io
    import tarfile

    try:
        with tarfile.open(fileobj=io.BytesIO(head), mode="r:"):
            return True
    except (tarfile.TarError, EOFError, ValueError, OSError):
        return False


def looks_like_pickle(head: bytes) -> bool:
    """Whether ``pickle.load`` would start reading ``head`` as a pickle."""
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return True
    return _looks_like_text_pickle(head)


def _is_safetensors(head: bytes, size: int | None) -> bool:
    if len(head) < 10:
        return False
    (length,) = struct.unpack_from("<Q", head)
    if length < 2 or (size is not None and 8 + length > size):
        return False
    return head[8:9] == b"{"


def _is_onnx(head: bytes) -> bool:
    # ModelProto starts with ir_version (field 1, varint: tag 0x08), a small version number,
    # then usually producer_name (0x12), opset_import (0x42) or graph (0x3a).
    return len(head) >= 4 and head[0] == 0x08 and 1 <= head[1] <= 30 and head[2] in (
        0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42)


def _is_json(head: bytes, size: int | None) -> bool:
    stripped = head.lstrip()
    if stripped[:1] not in (b"{", b"["):
        return False
    if size is not None and size <= len(head):
        try:
            json.loads(head)
        except (ValueError, UnicodeDecodeError):
            return False
    return True


def identify(head: bytes, size: int | None) -> str:  # noqa: C901 - one table of magic bytes
    """Return the format name for a file starting with ``head`` (``unknown`` if none).

    Names: ``zip``, ``tar``, ``pickle``, ``numpy``, ``gguf``, ``hdf5``, ``safetensors``,
    ``onnx``, ``json``, ``joblib-zlib``/``-gzip``/``-bz2``/``-xz``/``-lzma``, ``empty``,
    ``unknown``.
    """
    if not head:
        return "empty"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if _is_tar(head):
        return "tar"
    if head[:6] == b"\x93NUMPY":
        return "numpy"
    if head[:4] == b"GGUF":
        return "gguf"
    if head[:8] == _HDF5:
        return "hdf5"
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return "pickle"
    if head[:2] == b"\x1f\x8b":
        return "joblib-gzip"
    if head[:3] == b"BZh":
        return "joblib-bz2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "joblib-xz"
    if head[:3] == b"\x5d\x00\x00":
        return "joblib-lzma"
    if head[:1] == b"\x78" and len(head) > 1 and (head[0] * 256 + head[1]) % 31 == 0:
        return "joblib-zlib"
    if _is_safetensors(head, size):
        return "safetensors"
    if _is_onnx(head):
        return "onnx"
    if _is_json(head, size):
        return "json"
    if _looks_like_text_pickle(head):
        return "pickle"
    return "unknown"


def identify_zip(names: Sequence[str]) -> str:
    """Tell PyTorch, Keras v3 and NumPy ``.npz`` zips from other zips by their members."""
    if any(n.endswith("data.pkl") for n in names) and any(
        n == "data.pkl" or n.endswith("/data.pkl") for n in names
    ):
        return "pytorch-zip"
    if "config.json" in names and ("metadata.json" in names or "model.weights.h5" in names):
        return "keras"
    if names and all(n.endswith(".npy") for n in names):
        return "npz"
    return "zip"


def identify_tar(names: Sequence[str]) -> str:
    """Tell a legacy PyTorch tar (``pickle``, ``storages``, ``tensors``) from other tars."""
    if {"pickle", "storages", "tensors"} <= set(names):
        return "pytorch-tar"
    return "tar"
