"""The on-disk layout of an encrypted dataset folder, and the checks shared by its commands.

::

    <folder>/kastell-protect.json          the owner's signed manifest (DSSE envelope)
    <folder>/data-<epoch>/<path>.kenc      one encrypted file per plaintext file

Reading the manifest checks its signature first (``manifest.parse_signed_manifest``);
``check_sealed`` checks one encrypted file's header and key slots against it; ``unlisted``
names everything in the folder the manifest does not list.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import BinaryIO

from kastell.errors import VerificationError
from kastell.integrity.interface import Signer
from kastell.integrity.keys import PublicKey
from kastell.protect import _format as fmt
from kastell.protect import _paths
from kastell.protect.interface import FormatError, ProtectError, TamperedError
from kastell.protect.manifest import (
    EncryptedFile,
    ProtectManifest,
    parse_signed_manifest,
    sign_manifest,
)
from kastell.protect.stream import read_envelope

__all__ = [
    "MANIFEST_NAME",
    "SUFFIX",
    "IntegrityMismatchError",
    "check_sealed",
    "header_matches",
    "load_manifest",
    "read_signed_manifest",
    "sealed_name",
    "unlisted",
    "write_signed_manifest",
]

MANIFEST_NAME = "kastell-protect.json"
SUFFIX = ".kenc"

class IntegrityMismatchError(ProtectError, VerificationError):
    """Files of an encrypted dataset differ from its signed manifest."""

    default_hint = "Restore the listed files from a trusted copy before using the dataset."



def sealed_name(manifest: ProtectManifest, entry: EncryptedFile) -> str:
    """Where ``entry``'s encrypted file lives, relative to the dataset root."""
    return f"{manifest.data_dir}/{entry.path}{SUFFIX}"


def read_signed_manifest(
    root: int, trusted_keys: Sequence[PublicKey], min_generation: int = 0
) -> tuple[ProtectManifest, PublicKey]:
    """Read ``kastell-protect.json`` once (no symlink) and check its signature, then parse it.

    ``min_generation``: the lowest key generation the caller accepts; an older (rolled back,
    but validly signed) manifest is refused.
    """
    try:
        with _paths.open_file(root, MANIFEST_NAME) as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise FormatError(
            f"no {MANIFEST_NAME} in the encrypted dataset",
            hint="Point at a directory written by `kastell protect encrypt`.",
        ) from None
    manifest, signer = parse_signed_manifest(raw, trusted_keys)
    if manifest.generation < min_generation:
        raise TamperedError(
            f"the manifest is at key generation {manifest.generation}, older than the "
            f"expected {min_generation}: the whole folder was rolled back to before a rotation",
            hint="Restore the current copy of the dataset; do not use this one.",
        )
    return manifest, signer


def load_manifest(
    directory: str | os.PathLike[str], trusted_keys: Sequence[PublicKey]
) -> ProtectManifest:
    """Read and authenticate the manifest of an encrypted dataset directory."""
    root = _paths.open_root(directory)
    try:
        return read_signed_manifest(root, trusted_keys)[0]
    finally:
        os.close(root)


def write_signed_manifest(root: int, manifest: ProtectManifest, signer: Signer) -> None:
    """Sign ``manifest`` and replace ``kastell-protect.json`` atomically (the switch point)."""
    with _paths.atomic_write(root, MANIFEST_NAME) as handle:
        handle.write(sign_manifest(manifest, signer))


def header_matches(
    header: fmt.DataHeader, manifest: ProtectManifest, entry: EncryptedFile
) -> bool:
    """Whether an encrypted file's authenticated header is the one ``entry`` lists."""
    return (
        header.path == entry.path
        and header.file_id.hex() == entry.file_id
        and header.dataset_id.hex() == manifest.dataset_id
        and header.chunk_size == manifest.chunk_size
    )


def check_sealed(
    handle: BinaryIO, manifest: ProtectManifest, entry: EncryptedFile
) -> tuple[fmt.DataHeader, fmt.Slot]:
    """Read an encrypted file's header and slots once and check them against the manifest.

    Returns the header and the slot the manifest names. Raises ``TamperedError`` when the file
    belongs to another path, file or dataset, or its key slot is not the signed one.
    """
    header, slots, raw = read_envelope(handle)
    where = entry.path
    if not header_matches(header, manifest, entry):
        raise TamperedError(
            f"{where}: the encrypted file belongs to another path, file or dataset "
            "(files swapped or replaced)"
        )
    signed = [slot for slot in slots if slot.sha256 == entry.slot_sha256]
    if not signed:
        raise TamperedError(
            f"{where}: its key slot is not the one the signed manifest names (a slot was "
            "replaced or rolled back, or a rotation was interrupted: re-run it)"
        )
    slot = signed[0]
    if slot.generation != manifest.generation or slot.wrapped.kek_id != manifest.kek_id:
        raise TamperedError(f"{where}: key slot generation or KEK differs from the manifest")
    if any(raw[1 - slot.index]):
        raise TamperedError(
            f"{where}: a second, stale key slot is present (re-inserted old envelope, or an "
            "interrupted rotation: re-run it)"
        )
    return header, slot



def unlisted(root: int, manifest: ProtectManifest) -> list[str]:
    """Problems for every entry of the folder the signed manifest does not list."""
    expected = {MANIFEST_NAME} | {sealed_name(manifest, entry) for entry in manifest.files}
    problems = []
    for relative, regular in _paths.list_entries(root):
        if relative not in expected:
            kind = "extra" if regular else "extra (symlink or special file)"
            problems.append(f"{kind}: {relative}")
        elif not regular:
            problems.append(f"not a regular file: {relative}")
    return problems
