"""Ed25519 keys for audit checkpoints: signer, public-key loading, key ids.

Keys are PEM files: PKCS#8 private keys (unencrypted, or encrypted with a password) and
SubjectPublicKeyInfo public keys, as ``openssl genpkey -algorithm ed25519`` writes them. The key
id is the lowercase hex SHA-256 of the raw 32-byte public key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
from collections.abc import Iterable, Mapping

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from kastell.audit.interface import AuditConfigError, KeyId

__all__ = [
    "Ed25519Signer",
    "PublicKeyRing",
    "key_id_of",
    "load_public_key",
    "write_key_pair",
]


def key_id_of(public_key: ed25519.Ed25519PublicKey) -> KeyId:
    """The key id: hex SHA-256 of the raw public key bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KeyId(hashlib.sha256(raw).hexdigest())


@dataclasses.dataclass(frozen=True)
class Ed25519Signer:
    """Signs checkpoints with an Ed25519 private key."""

    private_key: ed25519.Ed25519PrivateKey

    @classmethod
    def generate(cls) -> Ed25519Signer:
        """A signer with a fresh random key."""
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, path: str | pathlib.Path, password: bytes | None = None) -> Ed25519Signer:
        """Load a PEM PKCS#8 Ed25519 private key.

        Raises:
            AuditConfigError: the file is missing, unreadable or not an Ed25519 private key.
        """
        data = _read(path, "private key")
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError, UnsupportedAlgorithm) as error:
            raise AuditConfigError(
                f"cannot load private key {path}: {error}",
                hint="Give a PEM PKCS#8 Ed25519 private key (and its password if encrypted).",
            ) from None
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise AuditConfigError(
                f"{path} is not an Ed25519 private key",
                hint="Audit checkpoints are signed with Ed25519; generate one with "
                "`openssl genpkey -algorithm ed25519` or `kastell keygen --algorithm ed25519`.",
            )
        return cls(key)

    @property
    def key_id(self) -> KeyId:
        """The id of the matching public key."""
        return key_id_of(self.private_key.public_key())

    @property
    def public_key(self) -> ed25519.Ed25519PublicKey:
        """The matching public key."""
        return self.private_key.public_key()

    def sign(self, payload: bytes) -> bytes:
        """Sign ``payload``."""
        return self.private_key.sign(payload)


def _read(path: str | pathlib.Path, what: str) -> bytes:
    try:
        return pathlib.Path(path).read_bytes()
    except OSError as error:
        raise AuditConfigError(
            f"cannot read {what} {path}: {error.strerror}",
            hint=f"Check the path of the {what} file.",
        ) from None


def load_public_key(path: str | pathlib.Path) -> ed25519.Ed25519PublicKey:
    """Load a PEM SubjectPublicKeyInfo Ed25519 public key.

    Raises:
        AuditConfigError: the file is missing or not an Ed25519 public key.
    """
    data = _read(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as error:
        raise AuditConfigError(
            f"cannot load public key {path}: {error}",
            hint="Give a PEM Ed25519 public key (-----BEGIN PUBLIC KEY-----).",
        ) from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise AuditConfigError(
            f"{path} is not an Ed25519 public key",
            hint="Audit checkpoints are verified with the Ed25519 key that signed them.",
        )
    return key


@dataclasses.dataclass(frozen=True)
class PublicKeyRing:
    """The public keys trusted to sign checkpoints, by key id."""

    keys: Mapping[KeyId, ed25519.Ed25519PublicKey]

    @classmethod
    def of(cls, keys: Iterable[ed25519.Ed25519PublicKey]) -> PublicKeyRing:
        """A ring of the given keys."""
        return cls({key_id_of(key): key for key in keys})

    def verify(self, key_id: str, signature: bytes, payload: bytes) -> bool | None:
        """True if valid, False if invalid, None if ``key_id`` is not trusted."""
        key = self.keys.get(KeyId(key_id))
        if key is None:
            return None
        try:
            key.verify(signature, payload)
        except InvalidSignature:
            return False
        return True


def write_key_pair(private_path: pathlib.Path, public_path: pathlib.Path) -> KeyId:
    """Generate an Ed25519 key pair, write both PEM files (private one mode 0600)."""
    signer = Ed25519Signer.generate()
    private_pem = signer.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = signer.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        private_path.touch(mode=0o600, exist_ok=False)
        private_path.write_bytes(private_pem)
        public_path.write_bytes(public_pem)
    except OSError as error:
        raise AuditConfigError(
            f"cannot write key pair: {error}",
            hint="Choose paths that do not exist yet in a writable directory.",
        ) from None
    return signer.key_id
