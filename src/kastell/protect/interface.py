"""Interface of the protect capability: key providers, envelopes, results and errors.

Errors::

    KastellError
     └── ProtectError
          ├── KeyFileError           (UsageError)         a KEK file is missing or malformed
          ├── WrongKeyError          (VerificationError)  the data key was wrapped by another KEK
          ├── TamperedError          (VerificationError)  ciphertext altered, truncated, reordered
          ├── FormatError            (CheckError)         not a Kastell encrypted file, or damaged
          └── ProtectIOError         (CheckError)         a file could not be read or written
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from kastell.errors import CheckError, KastellError, UsageError, VerificationError

__all__ = [
    "EncryptedFile",
    "FormatError",
    "KeyFileError",
    "KeyProvider",
    "ProtectError",
    "ProtectIOError",
    "ProtectManifest",
    "StreamResult",
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


@dataclasses.dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under a key-encryption key (KEK)."""

    kek_id: str
    algorithm: str
    """How the key is wrapped, e.g. ``A256GCM-KW`` (AES-256-GCM with the context as AAD)."""
    ciphertext: bytes


class KeyProvider(Protocol):
    """Wraps and unwraps data keys; a KMS or HSM implements this to keep the KEK outside.

    ``context`` binds a wrapped key to one file (it holds the file id): a provider must
    authenticate it (e.g. as AEAD associated data) so a wrapped key cannot be moved to another
    file. ``unwrap`` must raise ``WrongKeyError`` when ``wrapped.kek_id`` is not its key and
    ``TamperedError`` when authentication fails.
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


class EncryptedFile(BaseModel):
    """One file of an encrypted dataset, as recorded in its manifest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    plaintext_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    plaintext_size: int = Field(ge=0)
    ciphertext_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    ciphertext_size: int = Field(ge=0)
    chunks: int = Field(ge=1)


class ProtectManifest(BaseModel):
    """The manifest of an encrypted dataset: plaintext and ciphertext digests per file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["kastell.protect-manifest/v1"] = "kastell.protect-manifest/v1"
    cipher: Literal["AES-256-GCM"] = "AES-256-GCM"
    chunk_size: int = Field(gt=0)
    kek_id: str
    files: tuple[EncryptedFile, ...]
