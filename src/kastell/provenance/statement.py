"""In-toto Statement v1: build statements, write signed bundles, read them back.

Every Kastell attestation is an in-toto Statement v1 in a DSSE envelope inside a Sigstore bundle
v0.3 JSON document. The predicate type decides the statement's kind.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kastell._untrusted import load_json, read_regular
from kastell.errors import UsageError
from kastell.integrity.interface import Signer
from kastell.provenance import _dsse
from kastell.provenance.interface import (
    ProvenanceUsageError,
    SignedStatement,
    StatementFormatError,
    StatementKind,
)
from kastell.types import Digest, Subject

__all__ = [
    "DATASET_PREDICATE_TYPE",
    "DEPLOYMENT_PREDICATE_TYPE",
    "MODEL_SIGNATURE_PREDICATE_TYPE",
    "PREDICATE_KINDS",
    "SLSA_PROVENANCE_TYPE",
    "STATEMENT_TYPE",
    "build_statement",
    "digest_set",
    "file_sha256",
    "parse_signed_statement",
    "read_signed_statement",
    "read_statement_bytes",
    "relative_reference",
    "write_signed_statement",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
DATASET_PREDICATE_TYPE = "https://kastell.dev/attestation/dataset/v1"
DEPLOYMENT_PREDICATE_TYPE = "https://kastell.dev/attestation/deployment/v1"
SLSA_PROVENANCE_TYPE = "https://slsa.dev/provenance/v1"
MODEL_SIGNATURE_PREDICATE_TYPE = "https://model_signing/signature/v1.0"

PREDICATE_KINDS: Mapping[str, StatementKind] = {
    DATASET_PREDICATE_TYPE: StatementKind.DATASET,
    SLSA_PROVENANCE_TYPE: StatementKind.TRAINING,
    DEPLOYMENT_PREDICATE_TYPE: StatementKind.DEPLOYMENT,
    MODEL_SIGNATURE_PREDICATE_TYPE: StatementKind.MODEL_SIGNATURE,
}
"""Predicate type URI -> statement kind, for every statement the chain walks."""

_MAX_BUNDLE_BYTES = 64 * 1024 * 1024


def digest_set(digest: Digest) -> dict[str, str]:
    """The in-toto DigestSet of one digest."""
    return {digest.algorithm: digest.hex}


def build_statement(
    subjects: Sequence[Subject], predicate_type: str, predicate: Mapping[str, Any]
) -> dict[str, Any]:
    """An in-toto Statement v1 document."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": s.name, "digest": digest_set(s.digest)} for s in subjects],
        "predicateType": predicate_type,
        "predicate": dict(predicate),
    }


def write_signed_statement(
    statement: Mapping[str, Any], signers: Sequence[Signer], output: Path
) -> Digest:
    """Sign ``statement``, write the bundle to ``output``; return the bundle file's SHA-256."""
    data = _dsse.sign_bundle(statement, signers)
    try:
        output.write_bytes(data)
    except OSError as error:
        raise ProvenanceUsageError(
            f"cannot write {output}: {error.strerror}", hint="Choose a writable --output path."
        ) from error
    return Digest("sha256", hashlib.sha256(data).hexdigest())


def file_sha256(path: Path) -> Digest:
    """SHA-256 of a (small) regular file such as a bundle or a policy."""
    return Digest("sha256", hashlib.sha256(read_statement_bytes(path)).hexdigest())


def read_statement_bytes(path: Path) -> bytes:
    """The bytes of an attestation file, read once (regular files of at most 64 MiB only).

    Raises:
        ProvenanceUsageError: the file cannot be read or is not a regular file.
        StatementFormatError: larger than 64 MiB.
    """
    try:
        return read_regular(path, limit=_MAX_BUNDLE_BYTES)
    except OSError as error:
        if error.errno == errno.EFBIG:
            raise StatementFormatError(
                f"{path}: larger than 64 MiB, not an attestation bundle"
            ) from error
        raise ProvenanceUsageError(
            f"cannot read attestation {path}: {error.strerror}",
            hint="Check the path; attestations referenced by another are relative to it.",
        ) from error


def read_signed_statement(path: Path) -> SignedStatement:
    """Read a bundle (or bare DSSE envelope) and decode its in-toto statement.

    Raises:
        ProvenanceUsageError: the file cannot be read.
        StatementFormatError: the file is not a well-formed in-toto Statement v1 bundle of a
            kind Kastell knows.
    """
    return parse_signed_statement(read_statement_bytes(path), str(path))


def parse_signed_statement(raw: bytes, source: str) -> SignedStatement:
    """Decode bundle bytes into a :class:`SignedStatement` (signatures are not checked)."""
    payload_type, payload, signatures = _dsse.open_envelope(raw, source)
    if payload_type != _dsse.INTOTO_PAYLOAD_TYPE:
        raise StatementFormatError(f"{source}: DSSE payload type {payload_type!r} is not in-toto")
    try:
        statement = load_json(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise StatementFormatError(f"{source}: DSSE payload is not strict JSON: {error}") from error
    kind = _statement_kind(statement, source)
    signed = SignedStatement(kind, statement, payload_type, payload, signatures, source)
    try:
        if not signed.subject_digests:
            raise StatementFormatError(f"{source}: statement has no subject digest")
    except UsageError as error:
        raise StatementFormatError(
            f"{source}: subject digest: {error.message}", hint=error.diagnostics()
        ) from error
    except (AttributeError, TypeError) as error:
        raise StatementFormatError(f"{source}: malformed subject list") from error
    return signed


def _statement_kind(statement: Any, source: str) -> StatementKind:
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise StatementFormatError(f"{source}: payload is not an in-toto Statement v1")
    if not isinstance(statement.get("subject"), list) or not isinstance(
        statement.get("predicate", {}), dict
    ):
        raise StatementFormatError(f"{source}: statement subject or predicate has a wrong type")
    predicate_type = statement.get("predicateType")
    kind = PREDICATE_KINDS.get(str(predicate_type))
    if kind is None:
        raise StatementFormatError(
            f"{source}: unknown predicate type {predicate_type!r}",
            hint=f"Kastell walks these predicate types: {', '.join(PREDICATE_KINDS)}.",
        )
    return kind


def relative_reference(target: Path, statement_file: Path) -> str:
    """``target`` as a POSIX path relative to the directory of ``statement_file``."""
    return Path(os.path.relpath(target.resolve(), statement_file.resolve().parent)).as_posix()
