"""Signing keys: generate, serialize, load and identify ECDSA and Ed25519 key pairs.

Keys are PEM, as ``openssl`` writes them: public keys as SubjectPublicKeyInfo
(``-----BEGIN PUBLIC KEY-----``), private keys as PKCS#8, optionally encrypted with a
passphrase. A key's id is the SHA-256 of its public PEM in hex, which is what OpenSSF Model
Signing records as the bundle's ``publicKey.hint``.

``kastell keygen`` writes ECDSA P-256 (interoperable with ``model_signing``) or Ed25519 keys;
P-384 and P-521 keys made elsewhere are accepted for signing and verification.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from kastell._untrusted import read_regular
from kastell.integrity.interface import KeyExistsError, KeyFormatError, KeyPassphraseError

__all__ = [
    "KeyAlgorithm",
    "KeyPairPaths",
    "PrivateKey",
    "PublicKey",
    "generate_private_key",
    "load_private_key",
    "load_public_key",
    "read_private_key",
    "read_public_key",
    "write_key_pair",
]

_CryptoPublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
_CryptoPrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class KeyAlgorithm(enum.StrEnum):
    """A signature algorithm, named after the key that makes it."""

    ECDSA_P256 = "ecdsa-p256"
    ECDSA_P384 = "ecdsa-p384"
    ECDSA_P521 = "ecdsa-p521"
    ED25519 = "ed25519"

    @classmethod
    def generatable(cls) -> tuple[KeyAlgorithm, ...]:
        """The algorithms ``kastell keygen`` creates keys for."""
        return (cls.ECDSA_P256, cls.ED25519)


_CURVES: dict[str, tuple[KeyAlgorithm, hashes.HashAlgorithm]] = {
    "secp256r1": (KeyAlgorithm.ECDSA_P256, hashes.SHA256()),
    "secp384r1": (KeyAlgorithm.ECDSA_P384, hashes.SHA384()),
    "secp521r1": (KeyAlgorithm.ECDSA_P521, hashes.SHA512()),
}
_MAX_KEY_BYTES = 1024 * 1024
_SUPPORTED_HINT = "Use an ECDSA P-256/P-384/P-521 or Ed25519 key (`kastell keygen` makes one)."


def _algorithm_of(key: _CryptoPublicKey | object) -> KeyAlgorithm:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeyAlgorithm.ED25519
    if isinstance(key, ec.EllipticCurvePublicKey):
        entry = _CURVES.get(key.curve.name)
        if entry is not None:
            return entry[0]
        raise KeyFormatError(f"unsupported elliptic curve {key.curve.name}", hint=_SUPPORTED_HINT)
    raise KeyFormatError(
        f"unsupported key type {type(key).__name__.lstrip('_')}", hint=_SUPPORTED_HINT
    )


@dataclasses.dataclass(frozen=True)
class PublicKey:
    """A public key that verifies signatures.

    Attributes:
        algorithm: the signature algorithm of the key.
        key_id: SHA-256 (hex) of the key's SubjectPublicKeyInfo PEM.
    """

    algorithm: KeyAlgorithm
    key_id: str
    _key: _CryptoPublicKey = dataclasses.field(repr=False, compare=False)

    @classmethod
    def from_crypto(cls, key: _CryptoPublicKey) -> PublicKey:
        """Wrap a ``cryptography`` public key."""
        algorithm = _algorithm_of(key)
        key_id = hashlib.sha256(_spki_pem(key)).hexdigest()
        return cls(algorithm=algorithm, key_id=key_id, _key=key)

    def pem(self) -> bytes:
        """The SubjectPublicKeyInfo PEM of this key (what ``openssl ... -pubout`` writes)."""
        return _spki_pem(self._key)

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Return whether ``signature`` is this key's signature over ``data``."""
        try:
            if isinstance(self._key, ed25519.Ed25519PublicKey):
                self._key.verify(signature, data)
            else:
                digest = _CURVES[self._key.curve.name][1]
                self._key.verify(signature, data, ec.ECDSA(digest))
        except InvalidSignature:
            return False
        return True


@dataclasses.dataclass(frozen=True)
class PrivateKey:
    """A private key held in memory; it signs bytes (the ``Signer`` protocol).

    Attributes:
        public_key: the matching public key.
    """

    public_key: PublicKey
    _key: _CryptoPrivateKey = dataclasses.field(repr=False, compare=False)

    @classmethod
    def from_crypto(cls, key: _CryptoPrivateKey | object) -> PrivateKey:
        """Wrap a ``cryptography`` private key of a supported type."""
        if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
            raise KeyFormatError(
                f"unsupported private key type {type(key).__name__.lstrip('_')}",
                hint=_SUPPORTED_HINT,
            )
        return cls(public_key=PublicKey.from_crypto(key.public_key()), _key=key)

    @property
    def key_id(self) -> str:
        """The id of the public half (SHA-256 hex of its PEM)."""
        return self.public_key.key_id

    @property
    def algorithm(self) -> KeyAlgorithm:
        """The signature algorithm of the key."""
        return self.public_key.algorithm

    def sign(self, data: bytes) -> bytes:
        """Sign ``data``: DER-encoded ECDSA or raw 64-byte Ed25519 signature."""
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            return self._key.sign(data)
        digest = _CURVES[self._key.curve.name][1]
        return self._key.sign(data, ec.ECDSA(digest))

    def pem(self, passphrase: bytes | None = None) -> bytes:
        """PKCS#8 PEM of the key, encrypted when a non-empty passphrase is given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )


def _spki_pem(key: _CryptoPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def generate_private_key(algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256) -> PrivateKey:
    """Generate a new private key.

    Args:
        algorithm: ``ecdsa-p256`` (default, interoperable with ``model_signing``) or ``ed25519``.

    Raises:
        KeyFormatError: the algorithm is not one ``kastell keygen`` generates.
    """
    if algorithm is KeyAlgorithm.ED25519:
        return PrivateKey.from_crypto(ed25519.Ed25519PrivateKey.generate())
    if algorithm is KeyAlgorithm.ECDSA_P256:
        return PrivateKey.from_crypto(ec.generate_private_key(ec.SECP256R1()))
    raise KeyFormatError(
        f"kastell does not generate {algorithm} keys",
        hint="Use --type ecdsa-p256 or --type ed25519.",
    )


def load_private_key(
    pem: bytes, passphrase: bytes | None = None, *, source: str = "key"
) -> PrivateKey:
    """Load a PEM private key (PKCS#8 or traditional), decrypting it with ``passphrase``.

    Raises:
        KeyFormatError: not a PEM private key of a supported type (e.g. a public key).
        KeyPassphraseError: the key is encrypted and the passphrase is missing or wrong.
    """
    if b"PUBLIC KEY-----" in pem and b"PRIVATE KEY-----" not in pem:
        raise KeyFormatError(
            f"{source} is a public key, but signing needs the private key",
            hint="Pass the private key file written by `kastell keygen` (PREFIX.pem).",
        )
    try:
        key = serialization.load_pem_private_key(pem, passphrase or None)
    except TypeError as error:
        if passphrase:
            raise KeyPassphraseError(
                f"{source} is not encrypted, but a passphrase was given",
                hint="Drop --passphrase-env/--passphrase-file for this key.",
            ) from None
        raise KeyPassphraseError(
            f"{source} is encrypted and no passphrase was given",
            hint="Pass --passphrase-env VAR or --passphrase-file FILE.",
        ) from error
    except ValueError as error:
        if passphrase and b"ENCRYPTED" in pem:
            raise KeyPassphraseError(
                f"wrong passphrase for {source}",
                hint="Check the passphrase (a trailing newline in a passphrase file is dropped).",
            ) from None
        raise KeyFormatError(
            f"{source} is not a PEM private key",
            hint="Pass a PKCS#8 or SEC1 PEM private key (`kastell keygen` makes one).",
        ) from error
    except UnsupportedAlgorithm as error:
        raise KeyFormatError(
            f"{source} uses an unsupported algorithm", hint=_SUPPORTED_HINT
        ) from error
    return PrivateKey.from_crypto(key)


def load_public_key(pem: bytes, *, source: str = "key") -> PublicKey:
    """Load a SubjectPublicKeyInfo PEM public key.

    Raises:
        KeyFormatError: not a PEM public key of a supported type (e.g. a private key).
    """
    if b"PRIVATE KEY-----" in pem:
        raise KeyFormatError(
            f"{source} is a private key, but verification needs the public key",
            hint="Pass the public key (PREFIX.pub from `kastell keygen`), not the private one.",
        )
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as error:
        raise KeyFormatError(
            f"{source} is not a PEM public key",
            hint="Pass a '-----BEGIN PUBLIC KEY-----' file, as `openssl ec -pubout` writes.",
        ) from error
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise KeyFormatError(
            f"{source} is an unsupported key type ({type(key).__name__.lstrip('_')})",
            hint=_SUPPORTED_HINT,
        )
    return PublicKey.from_crypto(key)


def _read(path: Path, what: str) -> bytes:
    try:
        # a regular file only: a FIFO or device in place of a key must not block or stream
        return read_regular(path, limit=_MAX_KEY_BYTES)
    except FileNotFoundError:
        raise KeyFormatError(f"{what} {path} does not exist", hint="Check the path.") from None
    except IsADirectoryError:
        raise KeyFormatError(f"{what} {path} is a directory", hint="Pass the key file.") from None
    except PermissionError:
        raise KeyFormatError(
            f"cannot read {what} {path}: permission denied",
            hint="Run as a user who may read the key file.",
        ) from None
    except OSError as error:
        raise KeyFormatError(
            f"cannot read {what} {path}: {error.strerror}", hint="Pass the key file itself."
        ) from None


def read_private_key(path: Path, passphrase: bytes | None = None) -> PrivateKey:
    """Read and load a private key file (see ``load_private_key``)."""
    return load_private_key(_read(path, "private key"), passphrase, source=str(path))


def read_public_key(path: Path) -> PublicKey:
    """Read and load a public key file (see ``load_public_key``)."""
    return load_public_key(_read(path, "public key"), source=str(path))


@dataclasses.dataclass(frozen=True)
class KeyPairPaths:
    """Where ``write_key_pair`` put the two halves."""

    private_key: Path
    public_key: Path


def _write_new(path: Path, data: bytes, mode: int, force: bool) -> None:
    if force and (path.is_symlink() or path.is_file()):
        path.unlink()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise KeyExistsError(
            f"{path} already exists; refusing to overwrite a key",
            hint="Choose another --output prefix, or pass --force to replace it.",
        ) from None
    except OSError as error:
        raise KeyFormatError(
            f"cannot create {path}: {error.strerror}",
            hint="Check that the directory exists and is writable.",
        ) from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def write_key_pair(
    prefix: Path, key: PrivateKey, passphrase: bytes | None = None, *, force: bool = False
) -> KeyPairPaths:
    """Write ``PREFIX.pem`` (private, mode 0600) and ``PREFIX.pub`` (public, 0644).

    Args:
        prefix: path prefix of the two files.
        key: the private key to write.
        passphrase: encrypt the private key (PKCS#8) with this passphrase when given.
        force: replace existing files instead of refusing.

    Raises:
        KeyExistsError: a file exists and ``force`` is false (nothing is written).
    """
    paths = KeyPairPaths(
        private_key=prefix.with_name(prefix.name + ".pem"),
        public_key=prefix.with_name(prefix.name + ".pub"),
    )
    if not force:
        for path in (paths.private_key, paths.public_key):
            if path.exists() or path.is_symlink():
                raise KeyExistsError(
                    f"{path} already exists; refusing to overwrite a key",
                    hint="Choose another --output prefix, or pass --force to replace it.",
                )
    _write_new(paths.private_key, key.pem(passphrase), 0o600, force)
    _write_new(paths.public_key, key.public_key.pem(), 0o644, force)
    return paths
