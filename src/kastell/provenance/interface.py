"""Interfaces, result types and errors of the provenance capability.

Provenance links a served model back to the datasets it was trained on with signed in-toto
statements (dataset attestation -> SLSA training provenance -> deployment statement), verifies
that chain against a trust policy, and verifies model files while they are loaded.

Error tree (each concrete error also inherits one outcome class from ``kastell.errors``)::

    ProvenanceError(KastellError)
     ├── ProvenanceUsageError(UsageError)          bad option, key, policy or input file
     ├── StatementFormatError(CheckError)          a statement or bundle cannot be parsed
     ├── DatasetChangedError(CheckError)           the dataset changed while it was attested
     ├── ChainBrokenError(VerificationError)       a link of the chain does not hold
     ├── UntrustedSignatureError(VerificationError) the trust policy rejects a signature
     ├── DigestMismatchError(VerificationError)    file content differs from the signed digest
     └── UnsafeFileError(VerificationError)        a file may run code when loaded
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any, Protocol

from kastell.errors import CheckError, KastellError, UsageError, VerificationError
from kastell.types import Digest

__all__ = [
    "ChainBrokenError",
    "ChainLink",
    "ChainReport",
    "DatasetChangedError",
    "DigestMismatchError",
    "ProvenanceError",
    "ProvenanceUsageError",
    "SignedModel",
    "SignedStatement",
    "StatementFormatError",
    "StatementKind",
    "StatementSigner",
    "TrustDecision",
    "TrustPolicy",
    "UnsafeFileError",
    "UntrustedSignatureError",
    "VerifiedFile",
]


class ProvenanceError(KastellError):
    """Base of every error the provenance capability raises."""


class ProvenanceUsageError(ProvenanceError, UsageError):
    """An option, key, trust policy or input file is wrong."""

    default_hint = "Check the option values and the input files named in the message."


class StatementFormatError(ProvenanceError, CheckError):
    """A statement, DSSE envelope or bundle cannot be parsed."""

    default_hint = (
        "The file is not a Kastell/in-toto attestation bundle; check that you passed the "
        "right file and that it was not truncated."
    )


class DatasetChangedError(ProvenanceError, CheckError):
    """The dataset directory changed while it was being attested."""

    default_hint = "Stop the process writing to the dataset, then attest it again."


class ChainBrokenError(ProvenanceError, VerificationError):
    """A link of the provenance chain does not hold (missing, cyclic or mismatched)."""

    default_hint = (
        "Do not deploy this model until the named link is explained; re-attest the stage "
        "that changed."
    )


class UntrustedSignatureError(ProvenanceError, VerificationError):
    """The trust policy does not accept the signatures on a statement."""

    default_hint = (
        "Check the trust policy: the statement must be signed by a key the policy trusts for "
        "this kind of statement."
    )


class DigestMismatchError(ProvenanceError, VerificationError):
    """A file's content differs from the digest that was signed."""

    default_hint = (
        "The file was modified or replaced after signing. Restore it from a trusted source; "
        "do not load it."
    )


class UnsafeFileError(ProvenanceError, VerificationError):
    """A file can run code when loaded and has not been scanned clean."""

    default_hint = (
        "Convert the model to safetensors or GGUF, or scan the file with `kastell scan` and "
        "fix its findings before loading it."
    )


class StatementKind(enum.StrEnum):
    """The kinds of signed statement a trust policy distinguishes."""

    DATASET = "dataset"
    TRAINING = "training"
    DEPLOYMENT = "deployment"
    MODEL_SIGNATURE = "model-signature"


@dataclasses.dataclass(frozen=True)
class SignedStatement:
    """A parsed DSSE-signed in-toto statement, signatures not yet judged.

    Attributes:
        kind: which kind of statement this is (from its predicate type).
        statement: the decoded in-toto Statement v1 document.
        payload_type: the DSSE payload type.
        payload: the exact signed payload bytes.
        signatures: ``(keyid, raw signature bytes)`` pairs from the envelope.
        source: where the statement was read from (a path), for messages.
    """

    kind: StatementKind
    statement: Mapping[str, Any]
    payload_type: str
    payload: bytes
    signatures: tuple[tuple[str, bytes], ...]
    source: str

    @property
    def predicate(self) -> Mapping[str, Any]:
        """The statement's predicate object."""
        predicate = self.statement.get("predicate", {})
        return predicate if isinstance(predicate, Mapping) else {}

    @property
    def subject_digests(self) -> tuple[tuple[str, Digest], ...]:
        """``(name, digest)`` for every subject digest the statement names."""
        result: list[tuple[str, Digest]] = []
        for subject in self.statement.get("subject", []):
            for algorithm, value in subject.get("digest", {}).items():
                result.append((str(subject.get("name", "")), Digest(algorithm, value)))
        return tuple(result)


@dataclasses.dataclass(frozen=True)
class TrustDecision:
    """The outcome of a trust policy check.

    Attributes:
        trusted: whether the policy accepts the statement's signatures.
        reason: why (names the keys that signed, or what was missing).
        signers: names of the trusted keys whose signatures verified.
    """

    trusted: bool
    reason: str
    signers: tuple[str, ...] = ()


class TrustPolicy(Protocol):
    """Decides whether a signed statement carries acceptable signatures."""

    def check(self, signed: SignedStatement) -> TrustDecision:
        """Judge the signatures on ``signed``; never raises for an untrusted signature."""


class StatementSigner(Protocol):
    """Signs DSSE payloads (the private half of a key pair)."""

    @property
    def keyid(self) -> str:
        """A stable identifier of the public key (hex SHA-256 of its DER encoding)."""

    def sign(self, data: bytes) -> bytes:
        """Return the raw signature over ``data`` (the DSSE pre-authentication encoding)."""


@dataclasses.dataclass(frozen=True)
class ChainLink:
    """One verified (or failed) link of the provenance chain.

    Attributes:
        kind: the kind of statement at this link.
        source: the file the statement came from.
        subject: the digest the statement is about.
        signers: the trusted keys that signed it.
        ok: whether every check of this link passed.
        detail: what was checked, or what failed.
        children: the upstream links (model -> training -> datasets).
    """

    kind: StatementKind
    source: str
    subject: Digest | None
    signers: tuple[str, ...]
    ok: bool
    detail: str
    children: tuple[ChainLink, ...] = ()

    def tree_lines(self, prefix: str = "", last: bool = True, top: bool = True) -> list[str]:
        """This link and its children as an indented text tree, one line per link."""
        mark = "ok" if self.ok else "BROKEN"
        signers = f" [{', '.join(self.signers)}]" if self.signers else ""
        subject = f" {self.subject}" if self.subject else ""
        branch = "" if top else ("`-- " if last else "|-- ")
        lines = [
            f"{prefix}{branch}{mark} {self.kind}: {self.source}{subject}{signers} - {self.detail}"
        ]
        inner = prefix if top else prefix + ("    " if last else "|   ")
        for index, child in enumerate(self.children):
            lines += child.tree_lines(inner, index == len(self.children) - 1, False)
        return lines

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of this link and its children."""
        return {
            "kind": self.kind.value,
            "source": self.source,
            "subject": str(self.subject) if self.subject else None,
            "signers": list(self.signers),
            "ok": self.ok,
            "detail": self.detail,
            "children": [child.to_dict() for child in self.children],
        }


@dataclasses.dataclass(frozen=True)
class ChainReport:
    """The result of walking a provenance chain.

    Attributes:
        root: the deployment link and everything upstream of it; when the chain is broken, a
            failed node (``ok=False``, ``detail`` = the break) whose children are the links
            that held before the break, in the order they were verified.
        broken: a description of the first broken link, or ``None`` when the chain holds.
        model_files_checked: whether the model files on disk were re-hashed against the
            signature (false when no model directory was given, or the chain broke first).
    """

    root: ChainLink
    broken: str | None
    model_files_checked: bool = False

    @property
    def ok(self) -> bool:
        """Whether the whole chain holds."""
        return self.broken is None


@dataclasses.dataclass(frozen=True)
class VerifiedFile:
    """A model file whose content matched its signed digest.

    Attributes:
        path: the file's path relative to the model directory (POSIX separators; ``.`` when
            the model is a single file).
        digest: the signed digest the content matched (``None`` for a shard-serialized
            signature, where each shard has its own digest).
        size: the file size in bytes.
    """

    path: str
    digest: Digest | None
    size: int


@dataclasses.dataclass(frozen=True)
class SignedModel:
    """What a model signature says: the model's name, digest and per-file digests.

    Attributes:
        name: the model name recorded in the signature.
        digest: the model digest (the signature's subject).
        files: POSIX relative path -> signed digest.
        signers: the trusted keys that signed it (empty when no trust policy was applied).
        source: the signature file.
    """

    name: str
    digest: Digest
    files: Mapping[str, Digest]
    signers: tuple[str, ...]
    source: str
