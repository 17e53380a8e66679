"""Dataset protection at rest: chunked AES-256-GCM envelopes, signed manifests, rotation."""

from kastell.protect.dataset import (
    VerifyResult,
    decrypt_tree,
    encrypt_tree,
    load_manifest,
    verify_tree,
)
from kastell.protect.interface import (
    KeyProvider,
    ProtectError,
    WrappedKey,
)
from kastell.protect.keys import LocalKeyFile, generate_kek_file
from kastell.protect.manifest import EncryptedFile, ProtectManifest
from kastell.protect.rotation import rotate_tree
from kastell.protect.stream import decrypt_stream, encrypt_stream, read_envelope, rewrap_slot

__all__ = [
    "EncryptedFile",
    "KeyProvider",
    "LocalKeyFile",
    "ProtectError",
    "ProtectManifest",
    "VerifyResult",
    "WrappedKey",
    "decrypt_stream",
    "decrypt_tree",
    "encrypt_tree",
    "encrypt_stream",
    "generate_kek_file",
    "load_manifest",
    "read_envelope",
    "rewrap_slot",
    "rotate_tree",
    "verify_tree",
]
