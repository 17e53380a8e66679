"""An opt-in digest cache kept in one JSON file, for re-hashing large unchanged files quickly.

An entry is reused only when the file's absolute path, device, inode, size, mtime_ns and
ctime_ns, and the algorithm and chunk size, are all unchanged. That is a promise made by file
metadata, not by content: whoever can write the files or the cache can make it lie. So the
cache is only ever used to *record* digests (``kastell manifest``, ``kastell sign``); every
verification path passes ``for_verification=True`` to ``hash_tree``, which refuses a cache.

File format (version 1)::

    {"format": "kastell-digest-cache", "version": 1,
     "entries": [{"path": "/abs/path", "device": 2049, "inode": 1234, "size": 10,
                  "mtime_ns": 1, "ctime_ns": 1, "algorithm": "sha256", "chunk_size": 67108864,
                  "digest": "<hex>", "chunks": ["<hex>", ...]}]}
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Literal

import pydantic

from kastell._untrusted import load_json, open_regular
from kastell.errors import KastellError
from kastell.integrity.hashing import chunk_ranges
from kastell.integrity.interface import (
    CacheFormatError,
    CacheKey,
    ChunkDigest,
    FileDigest,
    WriteError,
)
from kastell.integrity.merkle import file_digest
from kastell.types import Digest

__all__ = ["CACHE_FORMAT", "JsonDigestCache"]

CACHE_FORMAT = "kastell-digest-cache"
"""The ``format`` value of a digest cache file."""

_STRICT = pydantic.ConfigDict(extra="forbid", strict=True)
_Int = Annotated[int, pydantic.Field(ge=0, le=2**63 - 1)]
_ChunkSize = Annotated[int, pydantic.Field(ge=1, le=2**63 - 1)]


class _EntryModel(pydantic.BaseModel):
    model_config = _STRICT
    path: str
    device: _Int
    inode: _Int
    size: _Int
    mtime_ns: int
    ctime_ns: int
    algorithm: Literal["sha256", "blake3"]
    chunk_size: _ChunkSize | None
    digest: str
    chunks: list[str]


class _CacheModel(pydantic.BaseModel):
    model_config = _STRICT
    format: Literal["kastell-digest-cache"]
    version: Literal[1]
    entries: list[_EntryModel]


_Slot = tuple[str, str, int | None]


class JsonDigestCache:
    """A ``DigestCache`` held in memory and loaded from / saved to one JSON file."""

    def __init__(self) -> None:
        self._entries: dict[_Slot, tuple[CacheKey, FileDigest]] = {}
        self.hits = 0
        """How many ``get`` calls found a usable entry."""

    def __len__(self) -> int:
        return len(self._entries)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> JsonDigestCache:
        """Read a cache file; a missing file gives an empty cache.

        Raises:
            CacheFormatError: the file cannot be read or is not a valid cache.
        """
        cache = cls()
        try:
            with open_regular(Path(path)) as handle:  # a FIFO must not block signing
                data = handle.read()
        except FileNotFoundError:
            return cache
        except OSError as error:
            raise CacheFormatError(
                f"cannot read digest cache {os.fspath(path)}: {error.strerror}"
            ) from None
        try:
            model = _CacheModel.model_validate(load_json(data))
            for entry in model.entries:
                key, digest = _from_model(entry)
                cache._entries[(key.path, key.algorithm, key.chunk_size)] = (key, digest)
        except (ValueError, KastellError, RecursionError) as error:
            # json and pydantic errors are ValueErrors; Digest raises a KastellError
            summary = str(error).splitlines()[0][:200]
            raise CacheFormatError(
                f"digest cache {os.fspath(path)} is corrupt: {summary}"
            ) from None
        return cache

    def get(self, key: CacheKey) -> FileDigest | None:
        """Return the digest recorded under exactly ``key``, or ``None``."""
        found = self._entries.get((key.path, key.algorithm, key.chunk_size))
        if found is None or found[0] != key:
            return None
        self.hits += 1
        return found[1]

    def put(self, key: CacheKey, digest: FileDigest) -> None:
        """Record ``digest`` under ``key``, replacing any entry for the same path."""
        self._entries[(key.path, key.algorithm, key.chunk_size)] = (key, digest)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the cache atomically (a temporary file renamed over ``path``), mode 0600."""
        document = {
            "format": CACHE_FORMAT,
            "version": 1,
            "entries": [_to_json(key, digest) for key, digest in self._entries.values()],
        }
        target = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(target))
        try:
            handle, temporary = tempfile.mkstemp(prefix=".kastell-cache-", dir=directory)
        except OSError as error:
            raise WriteError(f"cannot write digest cache {target}: {error.strerror}") from None
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(document, out, separators=(",", ":"))
            os.replace(temporary, target)
        except OSError as error:
            os.unlink(temporary)
            raise WriteError(f"cannot write digest cache {target}: {error.strerror}") from None


def _to_json(key: CacheKey, digest: FileDigest) -> dict[str, object]:
    return {
        "path": key.path,
        "device": key.device,
        "inode": key.inode,
        "size": key.size,
        "mtime_ns": key.mtime_ns,
        "ctime_ns": key.ctime_ns,
        "algorithm": key.algorithm,
        "chunk_size": key.chunk_size,
        "digest": digest.digest.hex,
        "chunks": [chunk.digest.hex for chunk in digest.chunks],
    }


def _from_model(entry: _EntryModel) -> tuple[CacheKey, FileDigest]:
    key = CacheKey(
        path=entry.path,
        device=entry.device,
        inode=entry.inode,
        size=entry.size,
        mtime_ns=entry.mtime_ns,
        ctime_ns=entry.ctime_ns,
        algorithm=entry.algorithm,
        chunk_size=entry.chunk_size,
    )
    expected = 0 if entry.size == 0 else -(-entry.size // (entry.chunk_size or entry.size))
    if len(entry.chunks) != expected:
        raise ValueError(f"entry for {entry.path} has the wrong number of chunks")
    ranges = chunk_ranges(entry.size, entry.chunk_size)
    chunks = tuple(
        ChunkDigest(offset, length, Digest(entry.algorithm, value))
        for (offset, length), value in zip(ranges, entry.chunks, strict=True)
    )
    digest = Digest(entry.algorithm, entry.digest)
    raw = [bytes.fromhex(chunk.digest.hex) for chunk in chunks]
    if file_digest(entry.algorithm, entry.size, entry.chunk_size, raw) != digest:
        raise ValueError(f"entry for {entry.path} is inconsistent")
    return key, FileDigest(entry.path, entry.size, entry.chunk_size, chunks, digest)
