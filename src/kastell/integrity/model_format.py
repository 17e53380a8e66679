"""The OpenSSF Model Signing predicate (``model_signing`` 1.x, v1.0): its types, read and written.

A model is described by one *resource* per file (``files`` serialization: the plain digest of the
whole file) or per shard (``shards`` serialization: ``path:start:end`` with the plain digest of
that byte range, shards of ``shard_size`` bytes, empty files have none). Resource names are POSIX
paths relative to the model; a model that is a single file has the one resource ``.``. Resources
are sorted by path components, then offsets. The subject digest is the SHA-256 of the
concatenated raw resource digests in resource order, whatever the resource algorithm.
``signing.py`` computes descriptions from files; ``verify.py`` reads them back from signatures.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from kastell.integrity.bundle import IN_TOTO_STATEMENT_TYPE
from kastell.integrity.interface import MalformedBundleError, UnsupportedBundleError
from kastell.types import Digest

__all__ = [
    "PREDICATE_TYPE",
    "SIGNING_ALGORITHMS",
    "ModelDescription",
    "ModelResource",
    "Serialization",
    "resource_sort_key",
]

PREDICATE_TYPE = "https://model_signing/signature/v1.0"
"""The model_signing predicate type (v1.0) of model signatures."""

SIGNING_ALGORITHMS: tuple[str, ...] = ("sha256", "blake3")
"""Resource digest algorithms kastell signs and verifies (model_signing also knows blake2b)."""

_HEX = re.compile(r"^[0-9a-fA-F]*$")
_METHODS = ("files", "shards")


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
        for entry in ignore:
            parts = entry.split("/")
            if not entry or entry.startswith("/") or ".." in parts or entry in (".", "./"):
                raise MalformedBundleError(
                    f"the serialization ignores {entry[:100]!r}, which is not a path inside "
                    "the model"
                )
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


def resource_sort_key(resource: ModelResource) -> tuple[tuple[str, ...], int, int]:
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
        digests = subjects[0]["digest"]
        if set(digests) != {"sha256"}:
            # the subject is defined as a sha256 over the resource digests: any other
            # algorithm named beside it could not be checked, so it is refused, not skipped
            raise MalformedBundleError(
                "a model signature's subject digest is exactly one sha256, not "
                f"{', '.join(sorted(str(a) for a in digests))[:100]}"
            )
        expected = digests.get("sha256")
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
