"""Verify a model directory against its signature before anything loads it.

``open_verified(model_dir, signature, trust)`` checks the signature bundle against the trust
policy (rule ``model-signature``), that the directory holds exactly the signed files, that every
file's content matches its signed digest, and that no pickle-bearing file is loaded without a
clean scan. ``load_verified_safetensors`` and ``load_verified_gguf`` do the same while reading
the weights file only once.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kastell.provenance import _manifest, _model_signature, _unsafe
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
from kastell.types import Digest

__all__ = [
    "load_verified_gguf",
    "load_verified_safetensors",
    "open_verified",
    "read_model_signature",
    "signed_files",
    "verify_model_files",
]


def read_model_signature(signature: Path, trust: TrustPolicy | None) -> SignedModel:
    """Read a model signature; judge its signers when a trust policy is given.

    Without a policy only the signature's internal consistency is checked: use that only where
    the signer's identity is verified elsewhere.

    Raises:
        UntrustedSignatureError: the policy does not trust the signature's signers.
        StatementFormatError: the file is not a model signature.
    """
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
    resources = _model_signature.resources_of(signed)
    return SignedModel(
        resources.model_name, resources.model_digest, resources.files, signers, str(signature)
    )


def signed_files(signature: Path, trust: TrustPolicy) -> dict[str, Digest]:
    """The per-file digests of a model signature the trust policy accepts."""
    return dict(read_model_signature(signature, trust).files)


def _check_listing(model_dir: Path, files: Mapping[str, Digest]) -> dict[str, Path]:
    if not model_dir.is_dir():
        raise ProvenanceUsageError(f"{model_dir} is not a directory", hint="Pass the model dir.")
    on_disk = {
        p.relative_to(model_dir).as_posix(): p
        for p in sorted(model_dir.rglob("*"))
        if p.is_file() or p.is_symlink()
    }
    missing = sorted(set(files) - set(on_disk))
    extra = sorted(set(on_disk) - set(files))
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unsigned {', '.join(extra)}"] if extra else []
        )
        raise DigestMismatchError(f"{model_dir}: {'; '.join(parts)}")
    for relative, path in on_disk.items():
        if path.is_symlink():
            raise DigestMismatchError(f"{model_dir}: {relative} is a symbolic link")
        if _unsafe.is_pickle_bearing(path):
            _unsafe.require_scanned_clean(path)
    return on_disk


def open_verified(
    model_dir: Path, signature: Path, trust: TrustPolicy, *, skip: frozenset[str] = frozenset()
) -> tuple[VerifiedFile, ...]:
    """Verify every file of ``model_dir`` against a trusted signature.

    Args:
        model_dir: the model directory.
        signature: the model signature bundle.
        trust: the trust policy (rule ``model-signature``).
        skip: files whose content the caller verifies itself while loading them.

    Returns:
        The verified files (path, digest, size), sorted by path.

    Raises:
        UntrustedSignatureError: the signature is not trusted.
        DigestMismatchError: a file is missing, unsigned, or differs from its digest.
        UnsafeFileError: a pickle-bearing file has no clean scan.
    """
    return verify_model_files(model_dir, signed_files(signature, trust), skip=skip)


def verify_model_files(
    model_dir: Path, files: Mapping[str, Digest], *, skip: frozenset[str] = frozenset()
) -> tuple[VerifiedFile, ...]:
    """Check that ``model_dir`` holds exactly ``files`` with matching content.

    Raises:
        DigestMismatchError: a file is missing, unsigned, or differs from its digest.
        UnsafeFileError: a pickle-bearing file has no clean scan.
    """
    on_disk = _check_listing(model_dir, files)
    verified: list[VerifiedFile] = []
    for relative, path in sorted(on_disk.items()):
        expected = files[relative]
        size = path.stat().st_size
        if relative not in skip:
            found = _manifest.file_digests(path, expected.algorithm)[path.name]
            if found != expected:
                raise DigestMismatchError(
                    f"{model_dir}: {relative} differs from its signed digest {expected}"
                )
        verified.append(VerifiedFile(relative, expected, size))
    return tuple(verified)


def _load(model_dir: Path, signature: Path, trust: TrustPolicy, name: str) -> tuple[Path, Digest]:
    files = signed_files(signature, trust)
    if name not in files:
        raise DigestMismatchError(f"{model_dir}: {name} is not among the signed files")
    open_verified(model_dir, signature, trust, skip=frozenset({name}))
    return model_dir / name, files[name]


def load_verified_safetensors(
    model_dir: Path, signature: Path, trust: TrustPolicy, name: str = "model.safetensors"
) -> dict[str, np.ndarray[Any, Any]]:
    """Verify the model directory, then load ``name`` hashing it while reading (read once)."""
    path, digest = _load(model_dir, signature, trust, name)
    return load_safetensors(path, digest)


def load_verified_gguf(model_dir: Path, signature: Path, trust: TrustPolicy, name: str) -> GGUFFile:
    """Verify the model directory, then load the GGUF ``name`` hashing it while reading."""
    path, digest = _load(model_dir, signature, trust, name)
    return load_gguf(path, digest)
