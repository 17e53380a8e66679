"""Interface of the protect capability: key providers, envelopes, results and errors.

Errors::

    KastellError
     └── ProtectError
          ├── KeyFileError           (UsageError)         a KEK file is missing or malformed
          ├── WrongKeyError          (VerificationError)  the data key was wrapped by another KEK
          ├── TamperedError          (VerificationError)  ciphertext altered, truncated, reordered
          ├── SignatureError         (VerificationError)  manifest not signed by a trusted key
          ├── UnsafePathError        (VerificationError)  a path would leave its root folder
          ├── ManifestError          (UsageError)         manifest malformed (unknown field, ...)
          ├── LegacyFormatError      (UsageError)         unauthenticated v1 folder: migrate it
          ├── FormatError            (CheckError)         not a Kastell encrypted file, or damaged
          └── ProtectIOError         (CheckError)         a file could not be read or written
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from kastell.errors import CheckError, KastellError, UsageError, VerificationError

__all__ = [
    "FormatError",
    "KeyFileError",
    "KeyProvider",
    "LegacyFormatError",
    "ManifestError",
    "ProtectError",
    "ProtectIOError",
    "SignatureError",
    "StreamResult",
    "UnsafePathError",
    "TamperedError",
    "WrappedKey",
    "WrongKeyError",
]


class ProtectError(KastellError):
    """Base of the protect capability's errors."""


class KeyFileError(ProtectError, UsageError):
    """A key-encryption-key file is missing or malformed."""

    default_hint = "Create one with `kastell protect keygen --output kek.key`."


class WrongKeyError(ProtectError, VerificationError):
    """The file's data key was wrapped by a different key-encryption key."""

    default_hint = "Use the KEK named in the file's envelope (see `kastell protect verify`)."


class TamperedError(ProtectError, VerificationError):
    """Ciphertext failed authentication: modified, truncated, reordered or swapped."""

    default_hint = "Restore the file from a trusted copy; its content cannot be trusted."


class FormatError(ProtectError, CheckError):
    """The input is not a Kastell encrypted file, or its header is damaged."""

    default_hint = "Check that the file was written by `kastell protect encrypt`."


class ProtectIOError(ProtectError, CheckError):
    """A file could not be read or written."""


class SignatureError(ProtectError, VerificationError):
    """The manifest is not signed by a trusted key, or its signature does not verify."""

    default_hint = (
        "Do not use this dataset: its manifest was altered or signed by someone else. Pass the "
        "data owner's public key with --trusted-key."
    )


class UnsafePathError(ProtectError, VerificationError):
    """A path from a manifest or a folder would be read or written outside its root."""

    default_hint = "Remove symlinks and '..' entries: Kastell reads and writes inside the root."


class ManifestError(ProtectError, UsageError):
    """The manifest is malformed: not JSON, duplicate keys, unknown or missing fields."""

    default_hint = "Point at a directory written by `kastell protect encrypt` (format v2)."


class LegacyFormatError(ProtectError, UsageError):
    """The encrypted folder uses the unauthenticated v1 format, which is no longer accepted."""

    default_hint = (
        "Migrate it: `kastell protect migrate OLD --kek KEK --signing-key OWNER.pem -o NEW` "
        "authenticates every chunk, checks every digest against the v1 manifest and writes a "
        "signed v2 folder; compare the v1 manifest SHA-256 it prints with a trusted record."
    )


@dataclasses.dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under a key-encryption key (KEK)."""

    kek_id: str
    algorithm: str
    """How the key is wrapped, e.g. ``A256GCM-KW`` (AES-256-GCM with the context as AAD)."""
    ciphertext: bytes


class KeyProvider(Protocol):
    """Wraps and unwraps data keys; a KMS or HSM implements this to keep the KEK outside.

    ``context`` binds a wrapped key to one file and key slot (file id, header digest, slot
    generation): a provider must authenticate it (e.g. as AEAD associated data) so a wrapped
    key cannot be moved to another file or re-numbered. ``unwrap`` must raise
    ``WrongKeyError`` when ``wrapped.kek_id`` is not its key and ``TamperedError`` when
    authentication fails.
    """

    @property
    def key_id(self) -> str:
        """A stable, non-secret identifier of the KEK."""
        ...

    def wrap(self, data_key: bytes, context: bytes) -> WrappedKey:
        """Encrypt a data key under the KEK."""
        ...

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        """Decrypt a data key wrapped by ``wrap``."""
        ...


@dataclasses.dataclass(frozen=True)
class StreamResult:
    """Digests and sizes seen while encrypting or decrypting one stream."""

    plaintext_sha256: str
    plaintext_size: int
    ciphertext_sha256: str
    """SHA-256 of the immutable part of the encrypted file (data header and chunks), which
    survives key rotation; the key envelope slots are excluded."""
    ciphertext_size: int
    chunks: int
    file_id: str = ""
    """Hex file id of the encrypted file's header."""
    slot_sha256: str = ""
    """SHA-256 of the key slot used (recorded in the signed manifest)."""
