"""Merkle trees (RFC 6962 shape) over chunk digests and over the entries of a tree.

Leaves are ``H(0x00 || data)``, inner nodes ``H(0x01 || left || right)``; a tree of ``n > 1``
leaves splits at the largest power of two below ``n``. Inclusion proofs let a reader check one
chunk of a file against the file digest without reading the rest of the file.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import Any

from kastell.integrity.interface import (
    FileDigest,
    InvalidOptionError,
    SymlinkRecord,
)
from kastell.types import Digest

__all__ = [
    "chunk_inclusion_proof",
    "entry_leaf",
    "file_digest",
    "inclusion_proof",
    "leaf_hash",
    "merkle_root",
    "new_hasher",
    "node_hash",
    "tree_root",
    "verify_chunk",
    "verify_inclusion",
]

_LEAF = b"\x00"
_NODE = b"\x01"
_FILE_ROOT = b"\x02"


def new_hasher(algorithm: str, *, threads: int = 1) -> Any:
    """A fresh streaming hasher (``update``/``digest``) for ``algorithm``.

    Args:
        algorithm: ``sha256`` or ``blake3``.
        threads: threads blake3 may use inside one ``update`` (sha256 ignores it).
    """
    if algorithm == "sha256":
        return hashlib.sha256()
    if algorithm == "blake3":
        from blake3 import blake3

        return blake3(max_threads=threads)
    raise InvalidOptionError(f"unsupported hashing algorithm {algorithm!r}")


def _digest(algorithm: str, *parts: bytes) -> bytes:
    hasher = new_hasher(algorithm)
    for part in parts:
        hasher.update(part)
    result: bytes = hasher.digest()
    return result


def leaf_hash(algorithm: str, data: bytes) -> bytes:
    """The leaf node ``H(0x00 || data)``."""
    return _digest(algorithm, _LEAF, data)


def node_hash(algorithm: str, left: bytes, right: bytes) -> bytes:
    """The inner node ``H(0x01 || left || right)``."""
    return _digest(algorithm, _NODE, left, right)


def _split(size: int) -> int:
    """The largest power of two strictly below ``size`` (``size > 1``)."""
    return 1 << ((size - 1).bit_length() - 1)


def merkle_root(algorithm: str, leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash over already-hashed leaves; ``H("")`` when there are none."""
    if not leaves:
        return _digest(algorithm)
    level = list(leaves)
    return _subtree(algorithm, level, 0, len(level))


def _subtree(algorithm: str, leaves: Sequence[bytes], start: int, end: int) -> bytes:
    if end - start == 1:
        return leaves[start]
    middle = start + _split(end - start)
    return node_hash(
        algorithm,
        _subtree(algorithm, leaves, start, middle),
        _subtree(algorithm, leaves, middle, end),
    )


def inclusion_proof(algorithm: str, leaves: Sequence[bytes], index: int) -> tuple[bytes, ...]:
    """The audit path of leaf ``index``: sibling hashes from the leaf up to the root."""
    if not 0 <= index < len(leaves):
        raise InvalidOptionError(f"leaf index {index} is outside a tree of {len(leaves)} leaves")
    path: list[bytes] = []
    start, end = 0, len(leaves)
    while end - start > 1:
        middle = start + _split(end - start)
        if index < middle:
            path.append(_subtree(algorithm, leaves, middle, end))
            end = middle
        else:
            path.append(_subtree(algorithm, leaves, start, middle))
            start = middle
    return tuple(reversed(path))


def _root_from_proof(
    algorithm: str, leaf: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes | None:
    """The root that ``proof`` leads to from leaf ``index``, or ``None`` if its shape is wrong."""
    if not 0 <= index < size:
        return None
    sides: list[bool] = []  # from the root down: True when the leaf is in the right subtree
    start, end = 0, size
    while end - start > 1:
        middle = start + _split(end - start)
        sides.append(index >= middle)
        start, end = (middle, end) if index >= middle else (start, middle)
    if len(sides) != len(proof):
        return None
    node = leaf
    for sibling, right in zip(proof, reversed(sides), strict=True):
        node = node_hash(algorithm, sibling, node) if right else node_hash(algorithm, node, sibling)
    return node


def verify_inclusion(
    algorithm: str, leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows leaf ``index`` of a ``size``-leaf tree hashes up to ``root``."""
    return _root_from_proof(algorithm, leaf, index, size, proof) == root


def _chunk_leaves(algorithm: str, chunks: Sequence[bytes]) -> list[bytes]:
    return [leaf_hash(algorithm, chunk) for chunk in chunks]


def file_digest(
    algorithm: str, size: int, chunk_size: int | None, chunks: Sequence[bytes]
) -> Digest:
    """The file digest from its raw chunk digests (see ``kastell.integrity.interface``).

    Args:
        algorithm: ``sha256`` or ``blake3``.
        size: file size in bytes.
        chunk_size: the chunk size used, ``None`` for whole-file hashing.
        chunks: raw chunk digests in offset order.
    """
    if not chunks:
        return Digest(algorithm, _digest(algorithm).hex())
    if len(chunks) == 1:
        return Digest(algorithm, chunks[0].hex())
    tree = merkle_root(algorithm, _chunk_leaves(algorithm, chunks))
    header = _FILE_ROOT + struct.pack(">QQ", size, chunk_size or 0)
    return Digest(algorithm, _digest(algorithm, header, tree).hex())


def chunk_inclusion_proof(entry: FileDigest, index: int) -> tuple[bytes, ...]:
    """The Merkle audit path proving chunk ``index`` of a multi-chunk file."""
    raw = [bytes.fromhex(chunk.digest.hex) for chunk in entry.chunks]
    return inclusion_proof(
        entry.digest.algorithm, _chunk_leaves(entry.digest.algorithm, raw), index
    )


def verify_chunk(
    *,
    digest: Digest,
    size: int,
    chunk_size: int,
    index: int,
    data: bytes,
    proof: Sequence[bytes],
) -> bool:
    """Check one chunk's bytes against a multi-chunk file digest, without the other chunks.

    Args:
        digest: the file digest from a manifest.
        size: the file size from the manifest.
        chunk_size: the manifest's chunk size.
        index: which chunk ``data`` is (offset ``index * chunk_size``).
        data: the chunk's bytes.
        proof: its audit path (``chunk_inclusion_proof``).
    """
    algorithm = digest.algorithm
    count = -(-size // chunk_size)
    expected_length = min(chunk_size, size - index * chunk_size) if 0 <= index < count else -1
    if len(data) != expected_length or count < 2:
        return False
    leaf = leaf_hash(algorithm, _digest(algorithm, data))
    node = _root_from_proof(algorithm, leaf, index, count, proof)
    if node is None:
        return False
    header = _FILE_ROOT + struct.pack(">QQ", size, chunk_size)
    return _digest(algorithm, header, node).hex() == digest.hex


def entry_leaf(algorithm: str, entry: FileDigest | SymlinkRecord) -> bytes:
    """The root-tree leaf of one entry (see ``kastell.integrity.interface``)."""
    path = entry.path.encode("utf-8")
    if isinstance(entry, FileDigest):
        data = (
            b"F"
            + struct.pack(">I", len(path))
            + path
            + struct.pack(">Q", entry.size)
            + bytes.fromhex(entry.digest.hex)
        )
    else:
        target = entry.target.encode("utf-8")
        data = b"L" + struct.pack(">I", len(path)) + path + struct.pack(">I", len(target)) + target
    return leaf_hash(algorithm, data)


def tree_root(
    algorithm: str, files: Sequence[FileDigest], symlinks: Sequence[SymlinkRecord] = ()
) -> Digest:
    """The root over every entry, in sorted path order."""
    entries: list[FileDigest | SymlinkRecord] = [*files, *symlinks]
    entries.sort(key=lambda entry: entry.path.encode("utf-8"))
    leaves = [entry_leaf(algorithm, entry) for entry in entries]
    return Digest(algorithm, merkle_root(algorithm, leaves).hex())
