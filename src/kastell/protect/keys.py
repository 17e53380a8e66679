"""The default key provider: a key-encryption key (KEK) kept in a local file.

A KEK file holds one line, ``kastell-kek/v1:<base64 of 32 random bytes>``, and is created with
mode 0600. The KEK id is derived from the key by a one-way hash, so it can be shown and stored
without revealing the key. Data keys are wrapped with AES-256-GCM; the file context and the KEK
id are authenticated as associated data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import pathlib
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kastell.protect.interface import KeyFileError, TamperedError, WrappedKey, WrongKeyError

__all__ = ["WRAP_ALGORITHM", "LocalKeyFile", "generate_kek_file"]

WRAP_ALGORITHM = "A256GCM-KW"
_PREFIX = "kastell-kek/v1:"


class LocalKeyFile:
    """A ``KeyProvider`` whose KEK is read from a local file."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise KeyFileError("a KEK must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)
        self._key_id = "local:" + hashlib.sha256(b"kastell-kek-id/v1" + key).hexdigest()[:24]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LocalKeyFile:
        """Read a KEK file written by ``generate_kek_file``."""
        file = pathlib.Path(path)
        try:
            text = file.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            raise KeyFileError(f"KEK file not found: {file}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise KeyFileError(f"cannot read KEK file {file}: {error}") from None
        if not text.startswith(_PREFIX):
            raise KeyFileError(f"{file} is not a Kastell KEK file")
        try:
            key = base64.b64decode(text[len(_PREFIX) :], validate=True)
        except binascii.Error:
            raise KeyFileError(f"{file}: the key is not valid base64") from None
        return cls(key)

    @property
    def key_id(self) -> str:
        """Non-secret id of this KEK."""
        return self._key_id

    def _aad(self, context: bytes) -> bytes:
        return b"kastell-wrap/v1|" + self._key_id.encode() + b"|" + context

    def wrap(self, data_key: bytes, context: bytes) -> WrappedKey:
        """Encrypt ``data_key`` under this KEK, bound to ``context``."""
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, data_key, self._aad(context))
        return WrappedKey(self._key_id, WRAP_ALGORITHM, nonce + sealed)

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        """Decrypt a data key wrapped by this KEK for ``context``."""
        if wrapped.kek_id != self._key_id:
            raise WrongKeyError(
                f"data key is wrapped by KEK {wrapped.kek_id}, not by the given {self._key_id}"
            )
        if wrapped.algorithm != WRAP_ALGORITHM or len(wrapped.ciphertext) < 12 + 16:
            raise TamperedError(f"unsupported or damaged wrapped key ({wrapped.algorithm})")
        try:
            return self._aead.decrypt(
                wrapped.ciphertext[:12], wrapped.ciphertext[12:], self._aad(context)
            )
        except InvalidTag:
            raise TamperedError(
                "wrapped data key failed authentication (envelope altered or moved between files)"
            ) from None


def generate_kek_file(path: str | os.PathLike[str], *, force: bool = False) -> LocalKeyFile:
    """Create a new random KEK file with mode 0600 and return its provider."""
    key = secrets.token_bytes(32)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        raise KeyFileError(
            f"{path} already exists", hint="Choose another path, or pass --force to replace it."
        ) from None
    except OSError as error:
        raise KeyFileError(f"cannot create KEK file {path}: {error.strerror}") from None
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(_PREFIX + base64.b64encode(key).decode() + "\n")
    os.chmod(path, 0o600)
    return LocalKeyFile(key)
