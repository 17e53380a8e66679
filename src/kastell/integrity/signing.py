"""Model signatures in the OpenSSF Model Signing format (``model_signing`` 1.x, predicate v1.0).

A model (a file or a directory) is described by one *resource* per file (``files``
serialization: the plain digest of the whole file) or per shard (``shards`` serialization:
``path:start:end`` with the plain digest of that byte range, shards of ``shard_size`` bytes,
empty files have none). Resource names are POSIX paths relative to the model; a model that is a
single file has the one resource ``.``. Resources are sorted by path components, then offsets.

The signed in-toto Statement v1::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": MODEL_NAME, "digest": {"sha256": ROOT}}],
     "predicateType": "https://model_signing/signature/v1.0",
     "predicate": {"serialization": {"method": "files", "hash_type": "sha256",
                                     "allow_symlinks": false, "ignore_paths": [...]},
                   "resources": [{"name": ..., "algorithm": ..., "digest": HEX}, ...]}}

``ROOT`` is the SHA-256 of the concatenated raw resource digests in resource order, whatever the
resource algorithm. ``ignore_paths`` are relative to the model and recorded, so a verifier skips
the same paths (git metadata by default, and the signature file when it lies inside the model).
The shard serialization is the format's own chunk-level data: every shard of a large file is
hashed in parallel and can be checked on its own.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from kastell.errors import UsageError
from kastell.integrity.bundle import Bundle, sign_statement
from kastell.integrity.hashing import hash_tree
from kastell.integrity.interface import BytesDone, DigestCache, HashOptions, IntegrityError, Signer
from kastell.integrity.model_format import (
    PREDICATE_TYPE,
    SIGNING_ALGORITHMS,
    ModelDescription,
    ModelResource,
    Serialization,
    resource_sort_key,
)

__all__ = [
    "GIT_PATHS",
    "PREDICATE_TYPE",
    "SIGNING_ALGORITHMS",
    "ModelDescription",
    "ModelResource",
    "Serialization",
    "SignedModel",
    "SymlinkNotAllowedError",
    "describe_model",
    "hash_resources",
    "inside_model",
    "model_name",
    "sign_model",
]

GIT_PATHS: tuple[str, ...] = (".git", ".gitattributes", ".github", ".gitignore")
"""Paths at the model root that model_signing ignores by default (and so does kastell)."""


class SymlinkNotAllowedError(IntegrityError, UsageError):
    """The model contains a symbolic link and links were not allowed."""

    default_hint = "Pass --allow-symlinks to sign what the links point to (inside the model)."


def model_name(path: Path) -> str:
    """The name model_signing gives a model: the last path component (resolved if needed)."""
    name = path.name
    if not name or name == "..":
        name = path.resolve().name
    return name


def inside_model(model: Path, other: Path) -> str | None:
    """``other`` as a POSIX path relative to the model directory, or ``None`` if outside."""
    try:
        relative = other.resolve().relative_to(model.resolve())
    except ValueError:
        return None
    text = relative.as_posix()
    return None if text == "." else text


def _pattern(path: str) -> str:
    """A hashing-engine ignore pattern that matches exactly this root-relative path."""
    return "/" + re.sub(r"([*?\[])", r"[\1]", path)


def _clean_ignore(paths: Iterable[str]) -> tuple[str, ...]:
    cleaned = set()
    for raw in paths:
        text = posixpath.normpath(raw.replace(os.sep, "/"))
        if text.startswith("/") or text == ".." or text.startswith("../") or text == ".":
            raise UsageError(
                f"ignore path {raw!r} is not inside the model",
                hint="Give ignore paths relative to the model directory.",
            )
        cleaned.add(text)
    return tuple(sorted(cleaned))


def hash_resources(
    path: Path,
    serialization: Serialization,
    *,
    extra_ignore: Sequence[str] = (),
    on_bytes: BytesDone | None = None,
    cache: DigestCache | None = None,
    for_verification: bool = False,
) -> tuple[tuple[ModelResource, ...], tuple[str, ...]]:
    """Hash a model as ``serialization`` says; return its resources and unfollowed links."""
    ignore = tuple(_pattern(p) for p in (*serialization.ignore_paths, *extra_ignore))
    options = HashOptions(
        algorithm=serialization.hash_type,
        chunk_size=serialization.shard_size if serialization.method == "shards" else None,
        ignore=ignore,
        follow_symlinks=serialization.allow_symlinks,
    )
    tree = hash_tree(
        path, options, cache=cache, on_bytes=on_bytes, for_verification=for_verification
    )
    single = path.is_file()
    algorithm = serialization.resource_algorithm
    resources = []
    for entry in tree.files:
        name = "." if single else entry.path
        if serialization.method == "files":
            resources.append(ModelResource(name, algorithm, entry.digest.hex))
            continue
        for chunk in entry.chunks:
            shard = f"{name}:{chunk.offset}:{chunk.end}"
            resources.append(ModelResource(shard, algorithm, chunk.digest.hex))
    resources.sort(key=resource_sort_key)
    return tuple(resources), tuple(link.path for link in tree.symlinks)


def describe_model(
    path: Path,
    serialization: Serialization | None = None,
    *,
    on_bytes: BytesDone | None = None,
    cache: DigestCache | None = None,
) -> ModelDescription:
    """Hash a model into the description that gets signed.

    Raises:
        SymlinkNotAllowedError: the model contains a link and links are not allowed.
        IntegrityError: any hashing error (missing path, unreadable or special file, ...).
    """
    serialization = serialization or Serialization()
    resources, links = hash_resources(path, serialization, on_bytes=on_bytes, cache=cache)
    if links:
        raise SymlinkNotAllowedError(f"the model contains a symbolic link: {links[0]}")
    return ModelDescription(model_name(path), serialization, resources)


@dataclasses.dataclass(frozen=True)
class SignedModel:
    """The result of signing a model: the bundle to write and what it describes."""

    bundle: Bundle
    description: ModelDescription


def sign_model(
    path: Path,
    signer: Signer,
    *,
    algorithm: str = "sha256",
    shard_size: int | None = None,
    ignore_paths: Sequence[str] = (),
    ignore_git_paths: bool = True,
    allow_symlinks: bool = False,
    signature_path: Path | None = None,
    on_bytes: BytesDone | None = None,
    cache: DigestCache | None = None,
) -> SignedModel:
    """Hash and sign a model; ``result.bundle.to_json()`` is the signature file.

    Args:
        path: the model file or directory.
        signer: the private key (or any ``Signer``).
        algorithm: ``sha256`` (default) or ``blake3`` resource digests.
        shard_size: use the ``shards`` serialization with shards of this many bytes.
        ignore_paths: paths relative to the model to leave out (recorded in the signature).
        ignore_git_paths: also leave out ``.git``, ``.gitattributes``, ``.github``, ``.gitignore``.
        allow_symlinks: follow links inside the model instead of refusing them.
        signature_path: where the signature will be written; ignored if inside the model.
        on_bytes: progress callback (bytes hashed).
        cache: digest cache of unchanged files (signing only; never used by verification).
    """
    if algorithm not in SIGNING_ALGORITHMS:
        raise UsageError(
            f"unsupported algorithm {algorithm!r}",
            hint=f"Use one of: {', '.join(SIGNING_ALGORITHMS)}.",
        )
    if shard_size is not None and shard_size < 1:
        raise UsageError(
            f"shard size must be a positive number of bytes, got {shard_size}",
            hint="Give a size such as 1000000000 (model_signing's default) or 256M.",
        )
    if shard_size is not None and algorithm != "sha256":
        raise UsageError(
            f"shards are hashed with sha256 only, not {algorithm}",
            hint="model_signing does not shard blake3: drop --shard-size or use sha256.",
        )
    ignore = list(ignore_paths)
    if ignore_git_paths:
        ignore.extend(GIT_PATHS)
    if signature_path is not None and path.is_dir():
        relative = inside_model(path, signature_path)
        if relative is not None:
            ignore.append(relative)
    serialization = Serialization(
        method="shards" if shard_size is not None else "files",
        hash_type=algorithm,
        allow_symlinks=allow_symlinks,
        ignore_paths=_clean_ignore(ignore),
        shard_size=shard_size,
    )
    description = describe_model(path, serialization, on_bytes=on_bytes, cache=cache)
    return SignedModel(sign_statement(description.statement(), signer), description)
