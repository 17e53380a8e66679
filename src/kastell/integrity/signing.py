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
import hashlib
import os
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kastell.errors import UsageError
from kastell.integrity.bundle import IN_TOTO_STATEMENT_TYPE, Bundle, sign_statement
from kastell.integrity.hashing import hash_tree
from kastell.integrity.interface import (
    BytesDone,
    DigestCache,
    HashOptions,
    IntegrityError,
    MalformedBundleError,
    Signer,
    UnsupportedBundleError,
)
from kastell.types import Digest

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

PREDICATE_TYPE = "https://model_signing/signature/v1.0"
"""The model_signing predicate type (v1.0) of model signatures."""

GIT_PATHS: tuple[str, ...] = (".git", ".gitattributes", ".github", ".gitignore")
"""Paths at the model root that model_signing ignores by default (and so does kastell)."""

SIGNING_ALGORITHMS: tuple[str, ...] = ("sha256", "blake3")
"""Resource digest algorithms kastell signs and verifies (model_signing also knows blake2b)."""

_HEX = re.compile(r"^[0-9a-fA-F]*$")
_METHODS = ("files", "shards")


class SymlinkNotAllowedError(IntegrityError, UsageError):
    """The model contains a symbolic link and links were not allowed."""

    default_hint = "Pass --allow-symlinks to sign what the links point to (inside the model)."


@dataclasses.dataclass(frozen=True)
class Serialization:
    """How a model was cut into resources; recorded in the predicate so verifiers repeat it.

    Attributes:
        method: ``files`` or ``shards``.
        hash_type: digest algorithm of the resources.
        allow_symlinks: whether links were followed (otherwise a link is an error).
        ignore_paths: POSIX paths relative to the model that are not part of it.
        shard_size: bytes per shard (``shards`` only).
    """

    method: str = "files"
    hash_type: str = "sha256"
    allow_symlinks: bool = False
    ignore_paths: tuple[str, ...] = ()
    shard_size: int | None = None

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise UnsupportedBundleError(f"unknown model serialization method {self.method!r}")
        if self.hash_type not in SIGNING_ALGORITHMS:
            raise UnsupportedBundleError(
                f"resources hashed with {self.hash_type!r}, which kastell does not compute",
                hint=f"Kastell handles {', '.join(SIGNING_ALGORITHMS)}; verify this one with "
                "model_signing, or re-sign with sha256.",
            )
        if self.method == "shards" and (
            self.shard_size is None or self.shard_size < 1 or self.hash_type == "blake3"
        ):
            raise UnsupportedBundleError(
                "a shards serialization needs a positive shard_size and sha256",
                hint="model_signing does not shard blake3; sign blake3 with the files method.",
            )

    @property
    def resource_algorithm(self) -> str:
        """The ``algorithm`` of each resource (model_signing names shard digests by size)."""
        if self.method == "shards":
            return f"{self.hash_type}-sharded-{self.shard_size}"
        return self.hash_type

    def to_dict(self) -> dict[str, Any]:
        """The predicate's ``serialization`` object."""
        document: dict[str, Any] = {"method": self.method, "hash_type": self.hash_type}
        if self.method == "shards":
            document["shard_size"] = self.shard_size
        document["allow_symlinks"] = self.allow_symlinks
        if self.ignore_paths:
            document["ignore_paths"] = list(self.ignore_paths)
        return document

    @classmethod
    def from_dict(cls, document: object) -> Serialization:
        """Read a predicate's ``serialization`` object.

        Raises:
            MalformedBundleError: a field is missing or has the wrong type.
            UnsupportedBundleError: a method or algorithm kastell cannot repeat.
        """
        if not isinstance(document, Mapping):
            raise MalformedBundleError("the predicate's serialization is not an object")
        method, hash_type = document.get("method"), document.get("hash_type")
        allow_symlinks = document.get("allow_symlinks", False)
        ignore = document.get("ignore_paths", [])
        shard_size = document.get("shard_size")
        if not isinstance(method, str) or not isinstance(hash_type, str):
            raise MalformedBundleError("the serialization has no method or hash_type")
        if not isinstance(allow_symlinks, bool):
            raise MalformedBundleError("the serialization's allow_symlinks is not a boolean")
        if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
            raise MalformedBundleError("the serialization's ignore_paths is not a list of paths")
        # model_signing writes the predicate through a protobuf Struct: numbers become floats
        if isinstance(shard_size, float) and shard_size.is_integer():
            shard_size = int(shard_size)
        if isinstance(shard_size, bool) or not isinstance(shard_size, int | None):
            raise MalformedBundleError("the serialization's shard_size is not an integer")
        return cls(method, hash_type, allow_symlinks, tuple(ignore), shard_size)


@dataclasses.dataclass(frozen=True, order=True)
class ModelResource:
    """One signed part of a model: a file or a shard, its digest algorithm and hex digest."""

    name: str
    algorithm: str
    digest: str

    @property
    def path(self) -> str:
        """The file the resource belongs to (the name without ``:start:end`` for a shard)."""
        if "-sharded-" in self.algorithm:
            return self.name.rsplit(":", 2)[0]
        return self.name


def _sort_key(resource: ModelResource) -> tuple[tuple[str, ...], int, int]:
    """model_signing's order: by path components, then shard offsets."""
    if resource.path != resource.name:
        _, start, end = resource.name.rsplit(":", 2)
        return (tuple(resource.path.split("/")), int(start), int(end))
    return (tuple(resource.name.split("/")), 0, 0)


@dataclasses.dataclass(frozen=True)
class ModelDescription:
    """A model as signed: its name, serialization and resources (in canonical order)."""

    name: str
    serialization: Serialization
    resources: tuple[ModelResource, ...]

    @property
    def digest(self) -> Digest:
        """The subject digest: SHA-256 over the raw resource digests, in resource order."""
        hasher = hashlib.sha256()
        for resource in self.resources:
            hasher.update(bytes.fromhex(resource.digest))
        return Digest("sha256", hasher.hexdigest())

    def statement(self) -> dict[str, Any]:
        """The in-toto Statement v1 that ``kastell sign`` and ``model_signing`` sign."""
        return {
            "_type": IN_TOTO_STATEMENT_TYPE,
            "subject": [{"name": self.name, "digest": {"sha256": self.digest.hex}}],
            "predicateType": PREDICATE_TYPE,
            "predicate": {
                "serialization": self.serialization.to_dict(),
                "resources": [
                    {"name": r.name, "algorithm": r.algorithm, "digest": r.digest}
                    for r in self.resources
                ],
            },
        }

    @classmethod
    def from_statement(cls, statement: Mapping[str, Any]) -> ModelDescription:
        """Read a verified statement back, checking that its subject digest is consistent.

        Raises:
            UnsupportedBundleError: another predicate type, method or algorithm.
            MalformedBundleError: a field is missing, or the subject digest does not match
                the resources.
        """
        predicate_type = statement.get("predicateType")
        if predicate_type != PREDICATE_TYPE:
            raise UnsupportedBundleError(
                f"the signature's predicate is {str(predicate_type)[:100]!r}, "
                "not an OpenSSF model signature",
                hint=f"Kastell verifies model signatures with predicate {PREDICATE_TYPE}.",
            )
        subjects = statement["subject"]
        if len(subjects) != 1:
            raise MalformedBundleError(f"a model signature has one subject, not {len(subjects)}")
        name = subjects[0].get("name")
        expected = subjects[0]["digest"].get("sha256")
        predicate = statement.get("predicate")
        if not isinstance(name, str) or not isinstance(expected, str) or not isinstance(
            predicate, Mapping
        ):
            raise MalformedBundleError("the model signature lacks a subject, digest or predicate")
        description = cls(
            name=name,
            serialization=Serialization.from_dict(predicate.get("serialization")),
            resources=_read_resources(predicate.get("resources")),
        )
        if description.digest.hex != expected.lower():
            raise MalformedBundleError(
                "the signed statement is inconsistent: its resources do not hash to its subject",
                hint="The signer is faulty or the statement was forged; do not trust the model.",
            )
        return description


def _read_resources(raw: object) -> tuple[ModelResource, ...]:
    if not isinstance(raw, list):
        raise MalformedBundleError("the predicate has no resources list")
    resources = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise MalformedBundleError("a resource is not an object")
        name, algorithm, digest = item.get("name"), item.get("algorithm"), item.get("digest")
        if not (isinstance(name, str) and isinstance(algorithm, str) and isinstance(digest, str)):
            raise MalformedBundleError("a resource lacks a name, algorithm or digest string")
        if len(digest) % 2 or not _HEX.match(digest):
            raise MalformedBundleError(f"resource {name[:100]!r} has a malformed digest")
        resource = ModelResource(name, algorithm, digest.lower())
        sharded = "-sharded-" in algorithm
        if sharded and not re.fullmatch(r".*:\d+:\d+", name, re.DOTALL):
            raise MalformedBundleError(f"shard resource {name[:100]!r} is not PATH:START:END")
        resources.append(resource)
    if len({r.name for r in resources}) != len(resources):
        raise MalformedBundleError("the predicate lists a resource twice")
    return tuple(resources)


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
    resources.sort(key=_sort_key)
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
    if shard_size is not None and (shard_size < 1 or algorithm != "sha256"):
        raise UsageError(
            "shards need a positive --shard-size and sha256",
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
