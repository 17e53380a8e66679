"""ADAPTER: read (and, for tests and demos, write) OpenSSF Model Signing statements.

Clearly marked stop-gap: ``kastell sign`` / ``kastell verify`` (the integrity capability) own
model signatures. Provenance needs to read one: the per-file digests (``predicate.resources``)
and the model digest (the statement subject). The format followed is OpenSSF Model Signing v1.0:
predicate type ``https://model_signing/signature/v1.0``, ``resources`` = ``[{name, algorithm,
digest}]`` sorted by name, subject digest = SHA-256 over the concatenated raw resource digests in
that order.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kastell.integrity.interface import Signer
from kastell.provenance import _dsse, _manifest
from kastell.provenance.interface import SignedStatement, StatementFormatError
from kastell.provenance.statement import MODEL_SIGNATURE_PREDICATE_TYPE, build_statement
from kastell.types import Digest, Subject

_ALGORITHMS = {"sha256", "blake3"}


@dataclasses.dataclass(frozen=True)
class ModelResources:
    """The signed per-file digests of a model and the model digest over them."""

    model_name: str
    model_digest: Digest
    files: Mapping[str, Digest]


def model_digest_of(files: Mapping[str, Digest]) -> Digest:
    """The model digest: SHA-256 over the raw file digests, ordered by path."""
    hasher = hashlib.sha256()
    for name in sorted(files):
        hasher.update(bytes.fromhex(files[name].hex))
    return Digest("sha256", hasher.hexdigest())


def hash_model_dir(model_dir: Path, algorithm: str = "sha256") -> dict[str, Digest]:
    """Per-file digests of every file in a model directory (or of one model file)."""
    return _manifest.file_digests(model_dir, algorithm)


def resources_of(signed: SignedStatement) -> ModelResources:
    """Extract the per-file digests from a model signature statement, checking consistency."""
    raw = signed.predicate.get("resources")
    if not isinstance(raw, list) or not raw:
        raise StatementFormatError(f"{signed.source}: model signature lists no resources")
    files: dict[str, Digest] = {}
    for item in raw:
        if not isinstance(item, Mapping):
            raise StatementFormatError(f"{signed.source}: a resource entry is not an object")
        name, algorithm, value = item.get("name"), item.get("algorithm"), item.get("digest")
        if not (isinstance(name, str) and isinstance(value, str) and algorithm in _ALGORITHMS):
            raise StatementFormatError(
                f"{signed.source}: resource {name!r} has no usable name/algorithm/digest",
                hint="Kastell verifies sha256 and blake3 resource digests.",
            )
        files[name] = Digest(str(algorithm), value)
    name, subject = signed.subject_digests[0]
    expected = model_digest_of(files)
    if subject != expected:
        raise StatementFormatError(
            f"{signed.source}: subject digest {subject} does not match its resources ({expected})"
        )
    return ModelResources(name, subject, files)


def model_signature_statement(model_name: str, files: Mapping[str, Digest]) -> dict[str, Any]:
    """The Model Signing v1.0 statement for per-file digests (used by tests and demos)."""
    ordered = sorted(files)
    algorithms = {files[name].algorithm for name in ordered}
    predicate = {
        "serialization": {
            "method": "files",
            "hash_type": algorithms.pop() if len(algorithms) == 1 else "mixed",
            "allow_symlinks": False,
            "ignore_paths": [],
        },
        "resources": [
            {"name": name, "algorithm": files[name].algorithm, "digest": files[name].hex}
            for name in ordered
        ],
    }
    subject = Subject(model_name, model_digest_of(files))
    return build_statement([subject], MODEL_SIGNATURE_PREDICATE_TYPE, predicate)


def sign_model_dir(model_dir: Path, signer: Signer, algorithm: str = "sha256") -> bytes:
    """Sign a model directory in the Model Signing v1.0 layout; return the bundle bytes."""
    statement = model_signature_statement(model_dir.name, hash_model_dir(model_dir, algorithm))
    return _dsse.sign_bundle(statement, [signer])
