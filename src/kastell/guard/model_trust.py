"""Start-up check of the served model and how its digest is known (``integrity``).

A local model's signature must verify against its files; the digest returned is the signed
subject digest, which the gateway writes into every audit record. A local model served without
a signature (``require_signature: false``) is identified by the SHA-256 of its file instead.

A remote (``openai``) upstream cannot be observed: the operator may pin what it is supposed to
serve by a model signature (checked here without the model files: trusted key, consistent
statement) or by a declared digest. ``ServedModel.source`` keeps the difference on the record,
so nobody mistakes a declared digest for an observed one.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import pathlib

from kastell.errors import VerificationError
from kastell.guard.interface import ModelNotTrustedError
from kastell.types import Digest

__all__ = [
    "DigestSource",
    "ServedModel",
    "file_digest",
    "pinned_remote_model",
    "verify_remote_signature",
    "verify_served_model",
]


class DigestSource(enum.StrEnum):
    """How the gateway knows the digest of the model an upstream serves."""

    VERIFIED_LOCAL = "verified_local"
    """Local model whose files were checked against a trusted signature at start-up."""
    HASHED_LOCAL = "hashed_local"
    """Local model served without a signature: the SHA-256 of the file loaded."""
    SIGNED_REMOTE = "signed_remote"
    """Remote service pinned by a trusted model signature; what it runs is not observed."""
    DECLARED = "declared"
    """Remote service pinned by a digest the operator wrote into the config; nothing checked."""


@dataclasses.dataclass(frozen=True)
class ServedModel:
    """The digest of the model an upstream serves, and how it is known."""

    digest: Digest
    source: DigestSource


def file_digest(path: pathlib.Path) -> Digest:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return Digest("sha256", digest.hexdigest())


def verify_served_model(
    model_path: pathlib.Path, signature: pathlib.Path, public_key: pathlib.Path
) -> Digest:
    """Verify ``model_path`` against its signature bundle and a trusted public key.

    Returns:
        The signed model digest.

    Raises:
        ModelNotTrustedError: the signature is not the key's, or the model differs (exit 1).
        IntegrityError: the signature, key or model cannot be read (exit 2 or 3).
    """
    from kastell.integrity.keys import read_public_key
    from kastell.integrity.verify import require_match, verify_model

    key = read_public_key(public_key)
    bundle = _read_signature(signature)
    try:
        result = require_match(verify_model(model_path, bundle, [key], signature_path=signature))
    except VerificationError as error:
        raise ModelNotTrustedError(
            f"refusing to serve {model_path}: {error.message}",
            hint="Serve only a model signed by a trusted key: re-sign it or fix the config.",
        ) from None
    return result.model_digest


def _read_signature(signature: pathlib.Path) -> bytes:
    try:
        return signature.read_bytes()
    except OSError as error:
        raise ModelNotTrustedError(
            f"cannot read the model signature {signature}: {error.strerror}",
            hint="Point upstreams.<name>.signature (local) or upstreams.<name>.model_signature"
            ".signature (remote) at the model's signature bundle.",
        ) from None


def verify_remote_signature(signature: pathlib.Path, public_key: pathlib.Path) -> Digest:
    """Check a model signature without the model files and return the digest it signs.

    Returns:
        The signed model digest (the subject digest of the signed statement).

    Raises:
        ModelNotTrustedError: the signature is unreadable or not the key's (exit 1).
        IntegrityError: the key cannot be read, or the bundle is malformed (exit 2 or 3).
    """
    from kastell.integrity.keys import read_public_key
    from kastell.integrity.verify import read_model_signature

    key = read_public_key(public_key)
    bundle = _read_signature(signature)
    try:
        signed, _ = read_model_signature(bundle, [key])
    except VerificationError as error:
        raise ModelNotTrustedError(
            f"the model signature {signature} does not verify: {error.message}",
            hint="Pin the remote model with a signature made by the trusted public key.",
        ) from None
    return signed.digest


def pinned_remote_model(
    signed: Digest | None, declared: Digest | None, upstream: str
) -> ServedModel | None:
    """What a remote upstream is pinned to: the signed digest, else the declared one.

    Raises:
        ModelNotTrustedError: both are given and they differ (exit 1).
    """
    if signed is not None and declared is not None and signed != declared:
        raise ModelNotTrustedError(
            f"upstream {upstream}: declared_model_digest {declared} is not the signed model "
            f"digest {signed}",
            hint="Fix declared_model_digest, or the signature, so both name the same model.",
        )
    if signed is not None:
        return ServedModel(signed, DigestSource.SIGNED_REMOTE)
    if declared is not None:
        return ServedModel(declared, DigestSource.DECLARED)
    return None
