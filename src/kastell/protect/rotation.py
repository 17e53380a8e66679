"""Key rotation of an encrypted dataset: re-wrap under a new KEK, or re-key the data.

``rotate_tree`` (KEK rotation) re-wraps each file's data key under the new KEK at the next
key generation, then signs and atomically writes the new manifest (the switch). The data keys
stay the same: enough when the old KEK may have leaked but no wrapped key or data key did.

``rotate_tree(..., rekey=True)`` re-encrypts every file under a fresh data key into the next
epoch's folder ``data-<epoch+1>/`` beside the current one, signs and writes the new manifest
(the switch), then deletes the old epoch's folder. Needed when a data key, or an old KEK
together with a copy of the old key slots, may have leaked.

Both are crash-safe and resumable: until the switch the old signed manifest and files stay
valid (KEK rotation: a file is readable from one of its two slots); running the same command
again reuses the work already done after authenticating it with the new KEK.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import BinaryIO

from kastell.errors import UsageError
from kastell.integrity.interface import Signer
from kastell.integrity.keys import PublicKey
from kastell.protect import _format as fmt
from kastell.protect import _paths
from kastell.protect._pipe import reencrypt
from kastell.protect.dataset import entry_for
from kastell.protect.folder import (
    SUFFIX,
    check_sealed,
    header_matches,
    read_signed_manifest,
    sealed_name,
    write_signed_manifest,
)
from kastell.protect.interface import (
    KeyProvider,
    ProtectError,
    ProtectIOError,
    StreamResult,
    TamperedError,
)
from kastell.protect.manifest import EncryptedFile, ProtectManifest
from kastell.protect.stream import decrypt_stream, read_envelope, rewrap_slot

__all__ = ["rotate_tree"]

Progress = Callable[[int], None]
_EPOCH_DIR = re.compile(r"^data-([1-9][0-9]{0,9})$")


def _noop(_: int) -> None:
    return None


def _epoch_dirs(root: int) -> dict[int, str]:
    found = {}
    for name in os.listdir(root):
        match = _EPOCH_DIR.match(name)
        if match:
            found[int(match.group(1))] = name
    return found


def rotate_tree(
    source: str | os.PathLike[str],
    old: KeyProvider,
    new: KeyProvider,
    signer: Signer,
    *,
    trusted_keys: Sequence[PublicKey] = (),
    rekey: bool = False,
    on_progress: Progress = _noop,
) -> ProtectManifest:
    """Rotate the KEK of an encrypted dataset (``rekey``: also renew every data key).

    ``trusted_keys`` authenticate the current manifest (default: the signer's own key when
    it is a ``PrivateKey``); the new manifest is signed by ``signer``.
    """
    trusted = list(trusted_keys) or _own_key(signer)
    root = _paths.open_root(source)
    try:
        manifest, _ = read_signed_manifest(root, trusted)
        if manifest.generation >= fmt.MAX_GENERATION:
            raise UsageError(
                "the key generation is exhausted",
                hint="Decrypt and encrypt the dataset again to start a new one.",
            )
        _remove_partials(root)
        epochs = _epoch_dirs(root)
        if rekey:
            return _rekey(root, manifest, epochs, old, new, signer, on_progress)
        if manifest.epoch + 1 in epochs:
            raise UsageError(
                "a re-key of this dataset was interrupted",
                hint="Finish it first: run `kastell protect rotate --rekey` again.",
            )
        if old.key_id == new.key_id:
            raise UsageError(
                "the old and new KEK are the same",
                hint="Pass a new KEK, or --rekey to renew the data keys under this KEK.",
            )
        _remove_stale(root, manifest, epochs)
        return _rewrap(root, manifest, old, new, signer)
    finally:
        os.close(root)


def _own_key(signer: Signer) -> list[PublicKey]:
    public = getattr(signer, "public_key", None)
    if isinstance(public, PublicKey):
        return [public]
    raise UsageError(
        "no trusted key given for the current manifest",
        hint="Pass the public key that signed the dataset with --trusted-key.",
    )


def _remove_partials(root: int) -> None:
    """Delete temporary files a killed run left behind (never a listed file)."""
    for relative, _ in list(_paths.list_entries(root)):
        if _paths.PARTIAL.match(relative.rsplit("/", 1)[-1]):
            _paths.remove_file(root, relative)


def _remove_stale(root: int, manifest: ProtectManifest, epochs: dict[int, str]) -> bool:
    """Delete folders of epochs older than the manifest's (left by a finished re-key)."""
    stale = [name for epoch, name in epochs.items() if epoch < manifest.epoch]
    for name in stale:
        _paths.remove_tree(root, name)
    return bool(stale)


def _rewrap(
    root: int, manifest: ProtectManifest, old: KeyProvider, new: KeyProvider, signer: Signer
) -> ProtectManifest:
    generation = manifest.generation + 1
    entries = []
    for entry in manifest.files:
        try:
            with _paths.open_file(root, sealed_name(manifest, entry), writable=True) as handle:
                slot = _rewrap_one(handle, manifest, entry, old, new, generation)
        except FileNotFoundError:
            raise TamperedError(f"{entry.path}{SUFFIX} is missing") from None
        entries.append(entry.model_copy(update={"slot_sha256": slot.sha256}))
    rotated = ProtectManifest.model_validate(
        {**manifest.model_dump(), "generation": generation, "kek_id": new.key_id,
         "files": [entry.model_dump() for entry in entries]},
        strict=False,
    )
    write_signed_manifest(root, rotated, signer)
    return rotated


def _rewrap_one(
    handle: BinaryIO,
    manifest: ProtectManifest,
    entry: EncryptedFile,
    old: KeyProvider,
    new: KeyProvider,
    generation: int,
) -> fmt.Slot:
    header, slots, raw = read_envelope(handle)
    done = [s for s in slots if s.generation == generation and s.wrapped.kek_id == new.key_id]
    if done:  # resumed: authenticate the new slot with the new KEK, erase the other one
        slot = done[0]
        new.unwrap(slot.wrapped, header.wrap_context(slot.generation))
        if not header_matches(header, manifest, entry):
            raise TamperedError(f"{entry.path}: the encrypted file belongs to another entry")
        if any(raw[1 - slot.index]):
            try:
                handle.seek(len(header.prefix_bytes()) + (1 - slot.index) * fmt.SLOT_SIZE)
                handle.write(b"\x00" * fmt.SLOT_SIZE)
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as error:
                raise ProtectIOError(f"cannot erase a slot of {entry.path}: {error}") from None
        return slot
    header, slot = check_sealed(handle, manifest, entry)
    return rewrap_slot(handle, header, slot, old, new, generation)


def _rekey(
    root: int,
    manifest: ProtectManifest,
    epochs: dict[int, str],
    old: KeyProvider,
    new: KeyProvider,
    signer: Signer,
    on_progress: Progress,
) -> ProtectManifest:
    if _remove_stale(root, manifest, epochs) and manifest.kek_id == new.key_id:
        return manifest  # the switch of an interrupted re-key had happened: it is finished
    epoch, generation = manifest.epoch + 1, manifest.generation + 1
    if epoch > fmt.MAX_GENERATION:
        raise UsageError("the data epoch is exhausted", hint="Encrypt the dataset again.")
    entries = []
    for entry in manifest.files:
        target = f"data-{epoch}/{entry.path}{SUFFIX}"
        result = _reusable(root, target, manifest, entry, new, generation)
        if result is None:
            result = _reencrypt(root, target, manifest, entry, old, new, generation, on_progress)
        entries.append(entry_for(entry.path, result))
    rekeyed = ProtectManifest.model_validate(
        {**manifest.model_dump(), "epoch": epoch, "generation": generation,
         "kek_id": new.key_id, "files": [e.model_dump() for e in entries]},
        strict=False,
    )
    write_signed_manifest(root, rekeyed, signer)
    _paths.remove_tree(root, manifest.data_dir)
    return rekeyed


def _reusable(
    root: int,
    target: str,
    manifest: ProtectManifest,
    entry: EncryptedFile,
    new: KeyProvider,
    generation: int,
) -> StreamResult | None:
    """A file re-encrypted before a crash, if it authenticates under ``new`` as ``entry``."""
    try:
        with _paths.open_file(root, target) as handle:
            header, slots, _ = read_envelope(handle)
            slot = slots[0]
            if (
                header.path != entry.path
                or header.dataset_id.hex() != manifest.dataset_id
                or header.chunk_size != manifest.chunk_size
                or slot.generation != generation
                or slot.wrapped.kek_id != new.key_id
                or any(s.index != slot.index for s in slots)
            ):
                return None
            result = decrypt_stream(handle, None, new, envelope=(header, slot))
    except FileNotFoundError:
        return None
    except ProtectError:
        return None
    if (
        result.plaintext_sha256 != entry.plaintext_sha256
        or result.plaintext_size != entry.plaintext_size
    ):
        return None
    return result


def _reencrypt(
    root: int,
    target: str,
    manifest: ProtectManifest,
    entry: EncryptedFile,
    old: KeyProvider,
    new: KeyProvider,
    generation: int,
    on_progress: Progress,
) -> StreamResult:
    """Decrypt ``entry`` with ``old`` and encrypt it under a fresh data key into ``target``."""
    try:
        source = _paths.open_file(root, sealed_name(manifest, entry))
    except FileNotFoundError:
        raise TamperedError(f"{entry.path}{SUFFIX} is missing") from None
    with source:
        envelope = check_sealed(source, manifest, entry)
        with _paths.atomic_write(root, target) as sealed:
            return reencrypt(
                source, envelope, sealed, old, new,
                expected=(entry.plaintext_sha256, entry.ciphertext_sha256),
                chunk_size=manifest.chunk_size, path=entry.path,
                dataset_id=bytes.fromhex(manifest.dataset_id), generation=generation,
                on_progress=on_progress,
            )
