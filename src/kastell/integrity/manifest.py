"""The manifest document (format ``kastell-manifest``, version 1): write it, parse it strictly.

A manifest is a JSON object::

    {
      "format": "kastell-manifest",
      "version": 1,
      "algorithm": "sha256",
      "chunk_size": 67108864,            # or null: whole-file digests only
      "ignore": [".git"],
      "follow_symlinks": false,
      "root": "sha256:<hex>",
      "files": [
        {"path": "weights/model.bin", "size": 134217728, "digest": "sha256:<hex>",
         "chunks": [{"offset": 0, "length": 67108864, "digest": "sha256:<hex>"}, ...]}
      ],
      "symlinks": [{"path": "latest", "target": "weights/model.bin"}],
      "producer": "kastell 0.1.0"
    }

``parse_manifest`` accepts exactly this: unknown keys, wrong types, unsorted or duplicate paths,
paths that are absolute or contain ``.``/``..``, chunks that do not tile the file, a file digest
that does not follow from its chunks, or a root that does not follow from the entries are all
rejected with ``ManifestFormatError``. A parsed manifest is self-consistent; whether it matches
the files on disk is a separate check.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import pydantic

from kastell import __version__
from kastell._untrusted import load_json
from kastell.errors import UsageError
from kastell.integrity.hashing import chunk_ranges
from kastell.integrity.interface import (
    ChunkDigest,
    FileDigest,
    ManifestFormatError,
    SymlinkRecord,
    TreeDigest,
)
from kastell.integrity.merkle import file_digest, tree_root
from kastell.types import Digest

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_VERSION",
    "manifest_document",
    "manifest_json",
    "parse_manifest",
]

MANIFEST_FORMAT = "kastell-manifest"
"""The ``format`` value of every manifest."""

MANIFEST_VERSION = 1
"""The manifest format version this module writes and reads."""

_MAX_SIZE = 2**63 - 1
_STRICT = pydantic.ConfigDict(extra="forbid", strict=True, frozen=True)

_Size = Annotated[int, pydantic.Field(ge=0, le=_MAX_SIZE)]
_ChunkSize = Annotated[int, pydantic.Field(ge=1, le=_MAX_SIZE)]
_Text = Annotated[str, pydantic.Field(min_length=1, max_length=4096)]
_Producer = Annotated[str, pydantic.Field(max_length=200)]


class _ChunkModel(pydantic.BaseModel):
    model_config = _STRICT
    offset: _Size
    length: _Size
    digest: _Text


class _FileModel(pydantic.BaseModel):
    model_config = _STRICT
    path: _Text
    size: _Size
    digest: _Text
    chunks: list[_ChunkModel]


class _SymlinkModel(pydantic.BaseModel):
    model_config = _STRICT
    path: _Text
    target: _Text


class _ManifestModel(pydantic.BaseModel):
    model_config = _STRICT
    format: Literal["kastell-manifest"]
    version: Literal[1]
    algorithm: Literal["sha256", "blake3"]
    chunk_size: _ChunkSize | None
    ignore: list[_Text]
    follow_symlinks: bool
    root: _Text
    files: list[_FileModel]
    symlinks: list[_SymlinkModel]
    producer: _Producer


def manifest_document(tree: TreeDigest) -> dict[str, Any]:
    """The manifest of ``tree`` as a JSON-ready dictionary (keys in the documented order)."""
    return {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "algorithm": tree.algorithm,
        "chunk_size": tree.chunk_size,
        "ignore": list(tree.ignore),
        "follow_symlinks": tree.follow_symlinks,
        "root": str(tree.root),
        "files": [
            {
                "path": entry.path,
                "size": entry.size,
                "digest": str(entry.digest),
                "chunks": [
                    {"offset": c.offset, "length": c.length, "digest": str(c.digest)}
                    for c in entry.chunks
                ],
            }
            for entry in tree.files
        ],
        "symlinks": [{"path": link.path, "target": link.target} for link in tree.symlinks],
        "producer": f"kastell {__version__}",
    }


def manifest_json(tree: TreeDigest) -> str:
    """The manifest of ``tree`` as JSON text (UTF-8, two-space indent, trailing newline)."""
    return json.dumps(manifest_document(tree), indent=2, ensure_ascii=False) + "\n"


def _reject(message: str, source: str) -> ManifestFormatError:
    return ManifestFormatError(f"{source}: {message}")


def _validation_summary(error: pydantic.ValidationError) -> str:
    problems = []
    for item in error.errors()[:3]:
        where = ".".join(str(part) for part in item["loc"]) or "(document)"
        problems.append(f"{where}: {item['msg']}")
    more = error.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def parse_manifest(data: bytes | str, *, source: str = "manifest") -> TreeDigest:
    """Parse and check a manifest document.

    Args:
        data: the document (UTF-8 bytes or text).
        source: a name for the document used in error messages (e.g. its file name).

    Raises:
        ManifestFormatError: the document is not JSON, not the schema, or not self-consistent.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        document = load_json(text)
    except UnicodeDecodeError:
        raise _reject("not UTF-8 text, so not a manifest", source) from None
    except json.JSONDecodeError as error:
        raise _reject(
            f"not JSON ({error.msg} at line {error.lineno} column {error.colno})", source
        ) from None
    except (ValueError, RecursionError) as error:
        raise _reject(f"not JSON ({error})", source) from None
    if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
        raise _reject(
            f'not a {MANIFEST_FORMAT} document (no "format": "{MANIFEST_FORMAT}")', source
        )
    version = document.get("version")
    if type(version) is not int or version != MANIFEST_VERSION:
        raise _reject(
            f"unsupported manifest version {version!r}; "
            f"this kastell reads version {MANIFEST_VERSION}",
            source,
        )
    try:
        model = _ManifestModel.model_validate(document)
    except pydantic.ValidationError as error:
        raise _reject(
            f"does not follow the manifest schema: {_validation_summary(error)}", source
        ) from None
    return _to_tree(model, source)


def _digest(text: str, algorithm: str, where: str, source: str) -> Digest:
    try:
        digest = Digest.parse(text)
    except UsageError as error:
        raise _reject(f"{where}: {error.message}", source) from None
    if digest.algorithm != algorithm:
        raise _reject(f"{where}: a {digest.algorithm} digest in a {algorithm} manifest", source)
    return digest


def _check_path(path: str, where: str, source: str) -> None:
    parts = path.split("/")
    if path.startswith("/") or any(part in ("", ".", "..") for part in parts) or "\0" in path:
        raise _reject(
            f"{where}: path {path[:200]!r} is not a normalized relative POSIX path", source
        )


def _to_tree(model: _ManifestModel, source: str) -> TreeDigest:
    algorithm = model.algorithm
    files = tuple(_to_file(entry, model, i, source) for i, entry in enumerate(model.files))
    links = []
    for i, link in enumerate(model.symlinks):
        _check_path(link.path, f"symlinks[{i}]", source)
        if "\0" in link.target:
            raise _reject(f"symlinks[{i}]: target contains a NUL byte", source)
        links.append(SymlinkRecord(link.path, link.target))
    paths = [entry.path.encode("utf-8") for entry in files]
    paths += [link.path.encode("utf-8") for link in links]
    for name, seq in (("files", [f.path for f in files]), ("symlinks", [s.path for s in links])):
        encoded = [path.encode("utf-8") for path in seq]
        if encoded != sorted(encoded):
            raise _reject(f"{name} are not sorted by path", source)
    if len(set(paths)) != len(paths):
        raise _reject("a path is listed more than once", source)
    root = _digest(model.root, algorithm, "root", source)
    computed = tree_root(algorithm, files, links)
    if computed != root:
        raise _reject(
            f"root {root} does not match its entries (they give {computed}); "
            "the manifest was edited or damaged",
            source,
        )
    return TreeDigest(
        algorithm=algorithm,
        chunk_size=model.chunk_size,
        files=files,
        symlinks=tuple(links),
        root=root,
        ignore=tuple(model.ignore),
        follow_symlinks=model.follow_symlinks,
    )


def _to_file(entry: _FileModel, model: _ManifestModel, index: int, source: str) -> FileDigest:
    where = f"files[{index}] ({entry.path[:200]!r})"
    _check_path(entry.path, f"files[{index}]", source)
    algorithm = model.algorithm
    count = 0 if entry.size == 0 else -(-entry.size // (model.chunk_size or entry.size))
    got_ranges = [(chunk.offset, chunk.length) for chunk in entry.chunks]
    # count first: a forged size must not make us build a huge list of expected ranges
    if len(got_ranges) != count or got_ranges != chunk_ranges(entry.size, model.chunk_size):
        raise _reject(
            f"{where}: chunks do not cover the file's {entry.size} bytes in chunks of "
            f"{model.chunk_size or 'whole-file'} bytes",
            source,
        )
    chunks = tuple(
        ChunkDigest(
            chunk.offset,
            chunk.length,
            _digest(chunk.digest, algorithm, f"{where} chunk {i}", source),
        )
        for i, chunk in enumerate(entry.chunks)
    )
    digest = _digest(entry.digest, algorithm, where, source)
    raw = [bytes.fromhex(chunk.digest.hex) for chunk in chunks]
    if file_digest(algorithm, entry.size, model.chunk_size, raw) != digest:
        raise _reject(f"{where}: file digest does not follow from its chunk digests", source)
    return FileDigest(entry.path, entry.size, model.chunk_size, chunks, digest)
