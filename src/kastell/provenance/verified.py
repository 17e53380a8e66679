"""Verify a model directory against its signature before anything loads it.

``open_verified(model_dir, signature, trust)`` checks the signature bundle against the trust
policy (rule ``model-signature``), that the directory holds exactly the signed files (the
signature's ignore paths, git metadata and the signature file itself excepted, as ``kastell
verify`` does), that every file's content matches its signed digest, and that no
pickle-bearing file is loaded without a clean scan. ``load_verified_safetensors`` and
``load_verified_gguf`` do the same while reading the weights file only once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kastell.provenance import _model_signature, _unsafe
from kastell.provenance.interface import (
    DigestMismatchError,
    ProvenanceUsageError,
    SignedModel,
    StatementKind,
    TrustPolicy,
    UntrustedSignatureError,
    VerifiedFile,
)
from kastell.provenance.loaders import GGUFFile, load_gguf, load_safetensors
from kastell.provenance.statement import read_signed_statement
from kastell.provenance.trust import load_trust_policy
from kastell.types import Digest

__all__ = [
    "load_verified_gguf",
    "load_verified_safetensors",
    "open_verified",
    "read_model_signature",
    "verify_model_files",
]


def _resources(signature: Path, trust: TrustPolicy | None) -> tuple[Any, tuple[str, ...]]:
    signed = read_signed_statement(signature)
    if signed.kind is not StatementKind.MODEL_SIGNATURE:
        raise ProvenanceUsageError(
            f"{signature} is a {signed.kind} statement, not a model signature",
            hint="Pass the signature written by `kastell sign`.",
        )
    signers: tuple[str, ...] = ()
    if trust is not None:
        decision = trust.check(signed)
        if not decision.trusted:
            raise UntrustedSignatureError(f"{signature}: {decision.reason}")
        signers = decision.signers
    return _model_signature.resources_of(signed), signers


def read_model_signature(signature: Path, trust: TrustPolicy | None) -> SignedModel:
    """Read a model signature; judge its signers when a trust policy is given.

    Without a policy only the signature's internal consistency is checked: use that only where
    the signer's identity is verified elsewhere.

    Raises:
        UntrustedSignatureError: the policy does not trust the signature's signers.
        StatementFormatError: the file is not a consistent model signature.
    """
    resources, signers = _resources(signature, trust)
    return SignedModel(
        resources.model_name, resources.model_digest, resources.files, signers, str(signature)
    )


def _file_path(model: Path, relative: str) -> Path:
    return model if relative == "." else model / relative


def verify_model_files(
    model: Path,
    signature: Path,
    trust: TrustPolicy | None,
    *,
    skip: frozenset[str] = frozenset(),
) -> tuple[VerifiedFile, ...]:
    """Check that ``model`` holds exactly the signed files, with matching content.

    Args:
        model: the model directory, or the model file when a single file was signed.
        signature: the model signature bundle.
        trust: the trust policy, or ``None`` to skip the signer check (see
            :func:`read_model_signature`).
        skip: files whose content the caller verifies itself while loading them.

    Raises:
        UntrustedSignatureError: the signature is not trusted.
        DigestMismatchError: a file is missing, unsigned, or differs from its digest.
        UnsafeFileError: a pickle-bearing file has no clean scan.
    """
    if not model.exists():
        raise ProvenanceUsageError(f"{model} does not exist", hint="Pass the model directory.")
    resources, _ = _resources(signature, trust)
    description = resources.description
    _model_signature.check_model(
        model, description, skip=tuple(sorted(skip)), signature_path=signature
    )
    paths = sorted({r.path for r in description.resources})
    for relative in paths:
        path = _file_path(model, relative)
        if _unsafe.is_pickle_bearing(path):
            _unsafe.require_scanned_clean(path)
    return tuple(
        VerifiedFile(
            relative, resources.files.get(relative), _file_path(model, relative).stat().st_size
        )
        for relative in paths
    )


def open_verified(
    model_dir: Path, signature: Path, trust: TrustPolicy | Path
) -> tuple[VerifiedFile, ...]:
    """Verify every file of ``model_dir`` against a trusted signature.

    Args:
        model_dir: the model directory (or single model file).
        signature: the model signature bundle.
        trust: the trust policy, or the path of a trust policy YAML file.

    Returns:
        The verified files (path, digest, size), sorted by path.

    Raises:
        UntrustedSignatureError: the signature is not trusted.
        DigestMismatchError: a file is missing, unsigned, or differs from its digest.
        UnsafeFileError: a pickle-bearing file has no clean scan.
    """
    policy = load_trust_policy(trust) if isinstance(trust, Path) else trust
    return verify_model_files(model_dir, signature, policy)


def _load(
    model_dir: Path, signature: Path, trust: TrustPolicy | Path, name: str
) -> tuple[Path, Digest]:
    policy = load_trust_policy(trust) if isinstance(trust, Path) else trust
    files = read_model_signature(signature, policy).files
    if not files:
        raise ProvenanceUsageError(
            f"{signature} signs shards, not whole files",
            hint="Verified loading needs a files signature: `kastell sign` without --shard-size.",
        )
    if name not in files:
        raise DigestMismatchError(f"{model_dir}: {name} is not among the signed files")
    verify_model_files(model_dir, signature, policy, skip=frozenset({name}))
    return _file_path(model_dir, name), files[name]


def load_verified_safetensors(
    model_dir: Path, signature: Path, trust: TrustPolicy | Path, name: str = "model.safetensors"
) -> dict[str, np.ndarray[Any, Any]]:
    """Verify the model directory, then load ``name`` hashing it while reading (read once)."""
    path, digest = _load(model_dir, signature, trust, name)
    return load_safetensors(path, digest)


def load_verified_gguf(
    model_dir: Path, signature: Path, trust: TrustPolicy | Path, name: str
) -> GGUFFile:
    """Verify the model directory, then load the GGUF ``name`` hashing it while reading."""
    path, digest = _load(model_dir, signature, trust, name)
    return load_gguf(path, digest)
