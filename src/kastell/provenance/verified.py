"""Verify a model directory against its signature before anything loads it.

``open_verified(model_dir, signature, trust)`` checks the signature bundle against the trust
policy (rule ``model-signature``), that the directory holds exactly the signed files (the
signature's ignore paths, git metadata and the signature file itself excepted, as ``kastell
verify`` does), that every file's content matches its signed digest, and that no
pickle-bearing file is loaded without a clean scan. ``load_verified_safetensors`` and
``load_verified_gguf`` do the same while reading the weights file only once.

Each call reads the signature file once and checks everything against those bytes (a
signature swapped between two reads could otherwise vouch for the weights with one version
and for the other files with another). Weights are opened as regular files only, and not
through a symbolic link unless the signature allows links (then only inside the model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kastell.integrity.signing import inside_model
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


def _resources(
    signature: Path, trust: TrustPolicy | None
) -> tuple[_model_signature.ModelResources, tuple[str, ...]]:
    """Read the signature file once; judge it; return what it signs and who signed it."""
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


def _check_files(
    model: Path,
    signature: Path,
    resources: _model_signature.ModelResources,
    skip: frozenset[str],
) -> tuple[VerifiedFile, ...]:
    """Check the model against one already-read signature (never re-read here)."""
    if not model.exists():
        raise ProvenanceUsageError(f"{model} does not exist", hint="Pass the model directory.")
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


def verify_model_files(
    model: Path,
    signature: Path,
    trust: TrustPolicy | None,
    *,
    skip: frozenset[str] = frozenset(),
) -> tuple[VerifiedFile, ...]:
    """Check that ``model`` holds exactly the signed files, with matching content.

    The signature file is read once; every check uses those bytes.

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
    resources, _ = _resources(signature, trust)
    return _check_files(model, signature, resources, skip)


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
) -> tuple[Path, Digest, bool]:
    """Verify everything but ``name`` against one read of the signature; say how to read it."""
    policy = load_trust_policy(trust) if isinstance(trust, Path) else trust
    resources, _ = _resources(signature, policy)
    if not resources.files:
        raise ProvenanceUsageError(
            f"{signature} signs shards, not whole files",
            hint="Verified loading needs a files signature: `kastell sign` without --shard-size.",
        )
    if name not in resources.files:
        raise DigestMismatchError(f"{model_dir}: {name} is not among the signed files")
    _check_files(model_dir, signature, resources, frozenset({name}))
    path = _file_path(model_dir, name)
    allow_symlinks = resources.description.serialization.allow_symlinks
    if allow_symlinks and path.is_symlink() and inside_model(model_dir, path) is None:
        raise DigestMismatchError(f"{path} links outside the model {model_dir}")
    return path, resources.files[name], allow_symlinks


def load_verified_safetensors(
    model_dir: Path, signature: Path, trust: TrustPolicy | Path, name: str = "model.safetensors"
) -> dict[str, np.ndarray[Any, Any]]:
    """Verify the model directory, then load ``name`` hashing it while reading (read once)."""
    path, digest, follow = _load(model_dir, signature, trust, name)
    return load_safetensors(path, digest, follow_symlinks=follow)


def load_verified_gguf(
    model_dir: Path, signature: Path, trust: TrustPolicy | Path, name: str
) -> GGUFFile:
    """Verify the model directory, then load the GGUF ``name`` hashing it while reading."""
    path, digest, follow = _load(model_dir, signature, trust, name)
    return load_gguf(path, digest, follow_symlinks=follow)
