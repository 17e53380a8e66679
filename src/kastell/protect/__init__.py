"""Dataset protection at rest: chunked AES-256-GCM envelope encryption with key rotation."""

from kastell.protect.dataset import (
    decrypt_tree,
    encrypt_tree,
    load_manifest,
    rotate_tree,
    verify_tree,
)
from kastell.protect.interface import (
    EncryptedFile,
    KeyProvider,
    ProtectError,
    ProtectManifest,
    WrappedKey,
)
from kastell.protect.keys import LocalKeyFile, generate_kek_file
from kastell.protect.stream import decrypt_stream, encrypt_stream, read_envelope, rewrap_file

__all__ = [
    "EncryptedFile",
    "KeyProvider",
    "LocalKeyFile",
    "ProtectError",
    "ProtectManifest",
    "WrappedKey",
    "decrypt_stream",
    "decrypt_tree",
    "encrypt_stream",
    "encrypt_tree",
    "generate_kek_file",
    "load_manifest",
    "read_envelope",
    "rewrap_file",
    "rotate_tree",
    "verify_tree",
]
