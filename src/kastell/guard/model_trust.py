"""Start-up check of the served local model: its signature must verify (``integrity``).

The digest returned here is the signed subject digest of the model; the gateway writes it into
every audit record. A model served without a signature (``require_signature: false``) is
identified by the SHA-256 of its file instead.
"""

from __future__ import annotations

import hashlib
import pathlib

from kastell.errors import VerificationError
from kastell.guard.interface import ModelNotTrustedError
from kastell.types import Digest

__all__ = ["file_digest", "verify_served_model"]


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
    try:
        bundle = signature.read_bytes()
    except OSError as error:
        raise ModelNotTrustedError(
            f"cannot read the model signature {signature}: {error.strerror}",
            hint="Point upstreams.<name>.signature at the model's signature bundle.",
        ) from None
    try:
        result = require_match(verify_model(model_path, bundle, [key], signature_path=signature))
    except VerificationError as error:
        raise ModelNotTrustedError(
            f"refusing to serve {model_path}: {error.message}",
            hint="Serve only a model signed by a trusted key: re-sign it or fix the config.",
        ) from None
    return result.model_digest
