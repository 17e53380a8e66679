"""Encrypt, decrypt and check whole datasets (a file or a directory tree).

An encrypted dataset is a directory holding ``kastell-protect.json``, the data owner's signed
``ProtectManifest``, and ``data-<epoch>/<relative path>.kenc`` for every plaintext file. The
signature (checked against the caller's trusted keys before anything else is read) covers
every path, file id, digest, size, the key slot in use and the key generation, so a swapped,
deleted, added, re-encrypted or rolled-back file fails ``verify`` without the KEK, and
``decrypt`` too. Every path is validated and opened below its root without following
symlinks (``_paths``); decrypted files appear only after every chunk authenticated and the
plaintext digest matched the signed manifest.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Callable, Sequence
from typing import BinaryIO

from kastell.errors import UsageError
from kastell.integrity.interface import Signer
from kastell.integrity.keys import PublicKey
from kastell.protect import _format as fmt
from kastell.protect import _paths
from kastell.protect.folder import (
    MANIFEST_NAME,
    SUFFIX,
    IntegrityMismatchError,
    check_sealed,
    load_manifest,
    read_signed_manifest,
    sealed_name,
    unlisted,
    write_signed_manifest,
)
from kastell.protect.interface import (
    FormatError,
    KeyProvider,
    ProtectIOError,
    StreamResult,
    TamperedError,
    UnsafePathError,
)
from kastell.protect.manifest import (
    MANIFEST_FORMAT,
    EncryptedFile,
    ProtectManifest,
    check_distinct,
    check_relative_path,
    folded,
)
from kastell.protect.stream import DEFAULT_CHUNK_SIZE, decrypt_stream, encrypt_stream

__all__ = [
    "MANIFEST_NAME",
    "SUFFIX",
    "IntegrityMismatchError",
    "VerifyResult",
    "decrypt_tree",
    "encrypt_tree",
    "entry_for",
    "load_manifest",
    "verify_tree",
]

Progress = Callable[[int], None]


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    """What ``verify_tree`` found: the signed manifest, who signed it, and every problem."""

    manifest: ProtectManifest
    signer_key_id: str
    problems: tuple[str, ...]


def _noop(_: int) -> None:
    return None


def _source_files(source: str | os.PathLike[str]) -> tuple[int, list[str]]:
    """Open the source root and list its files: (root fd, sorted relative paths)."""
    if os.path.isfile(source):
        name = os.path.basename(source)
        try:
            check_relative_path(name)
        except ValueError as error:
            raise UsageError(f"cannot encrypt {name!r}: {error}") from None
        return _paths.open_root(os.path.dirname(os.path.abspath(source))), [name]
    if not os.path.isdir(source):
        raise UsageError(f"no such file or directory: {os.fspath(source)}")
    root = _paths.open_root(source)
    found: list[str] = []
    seen: dict[str, str] = {}
    try:
        for relative, regular in _paths.list_entries(root):
            if not regular:
                raise UsageError(
                    f"{relative} is not a regular file (symlink, FIFO or device)",
                    hint="Encrypt regular files only: copy the data without links first.",
                )
            try:
                check_relative_path(relative)
            except ValueError as error:
                raise UsageError(f"cannot encrypt {relative!r}: {error}") from None
            if folded(relative) in seen:
                raise UsageError(
                    f"{relative!r} and {seen[folded(relative)]!r} differ only by case or "
                    "Unicode normalisation; they would collide when decrypted",
                )
            seen[folded(relative)] = relative
            found.append(relative)
        check_distinct(found)
    except ValueError as error:
        os.close(root)
        raise UsageError(f"cannot encrypt {os.fspath(source)}: {error}") from None
    except BaseException:
        os.close(root)
        raise
    return root, sorted(found)


def _refuse_non_empty(root: int, target: str | os.PathLike[str]) -> None:
    if os.listdir(root):
        raise UsageError(
            f"{os.fspath(target)} is not empty",
            hint="Encrypt into a new or empty directory.",
        )


def encrypt_tree(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    provider: KeyProvider,
    signer: Signer,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_progress: Progress = _noop,
) -> ProtectManifest:
    """Encrypt a file or directory into the empty directory ``target``; sign its manifest."""
    if not 0 < chunk_size <= fmt.MAX_CHUNK:
        raise UsageError(f"chunk size must be between 1 and {fmt.MAX_CHUNK} bytes")
    source_root, relatives = _source_files(source)
    try:
        target_root = _paths.open_root(target, create=True)
        try:
            _refuse_non_empty(target_root, target)
            dataset_id = secrets.token_bytes(16)
            entries = []
            for relative in relatives:
                with _paths.open_file(source_root, relative) as plain, _paths.atomic_write(
                    target_root, f"data-1/{relative}{SUFFIX}"
                ) as sealed:
                    result = encrypt_stream(
                        plain, sealed, provider, chunk_size=chunk_size, path=relative,
                        dataset_id=dataset_id, generation=1, on_progress=on_progress,
                    )
                entries.append(entry_for(relative, result))
            manifest = ProtectManifest(
                format=MANIFEST_FORMAT, cipher="AES-256-GCM", chunk_size=chunk_size,
                dataset_id=dataset_id.hex(), epoch=1, generation=1, kek_id=provider.key_id,
                files=tuple(entries),
            )
            write_signed_manifest(target_root, manifest, signer)
        finally:
            os.close(target_root)
    except OSError as error:
        raise ProtectIOError(f"cannot encrypt {os.fspath(source)}: {error.strerror}") from None
    finally:
        os.close(source_root)
    return manifest


def entry_for(path: str, result: StreamResult) -> EncryptedFile:
    """The manifest entry of a file just encrypted."""
    return EncryptedFile(
        path=path, file_id=result.file_id, plaintext_sha256=result.plaintext_sha256,
        plaintext_size=result.plaintext_size, ciphertext_sha256=result.ciphertext_sha256,
        ciphertext_size=result.ciphertext_size, chunks=result.chunks,
        slot_sha256=result.slot_sha256,
    )


def decrypt_tree(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    provider: KeyProvider,
    trusted_keys: Sequence[PublicKey],
    *,
    min_generation: int = 0,
    on_progress: Progress = _noop,
) -> ProtectManifest:
    """Decrypt a signed encrypted dataset into ``target``, checking every digest and path.

    Raises ``SignatureError`` before anything is decrypted when no trusted key signed the
    manifest, and ``IntegrityMismatchError`` when the folder holds files it does not list.
    """
    root = _paths.open_root(source)
    try:
        manifest, _ = read_signed_manifest(root, trusted_keys, min_generation)
        extra = unlisted(root, manifest)
        if extra:
            raise IntegrityMismatchError(
                f"the encrypted folder differs from its signed manifest: {', '.join(extra[:5])}",
                hint=(
                    "A `kastell protect rotate --rekey` was interrupted: run it again to finish."
                    if all(p.startswith(f"extra: data-{manifest.epoch + 1}/") for p in extra)
                    else "Restore the folder from a trusted copy; do not use the extra files."
                ),
            )
        output = _paths.open_root(target, create=True)
        try:
            for entry in manifest.files:
                _decrypt_one(root, output, manifest, entry, provider, on_progress)
        finally:
            os.close(output)
    finally:
        os.close(root)
    return manifest


def _decrypt_one(
    root: int,
    output: int,
    manifest: ProtectManifest,
    entry: EncryptedFile,
    provider: KeyProvider,
    on_progress: Progress,
) -> None:
    try:
        sealed = _paths.open_file(root, sealed_name(manifest, entry))
    except FileNotFoundError:
        raise IntegrityMismatchError(f"{entry.path}{SUFFIX} is missing") from None
    with sealed:
        envelope = check_sealed(sealed, manifest, entry)
        _decrypt_checked(sealed, envelope, output, entry, provider, on_progress)


def _decrypt_checked(
    sealed: BinaryIO,
    envelope: tuple[fmt.DataHeader, fmt.Slot],
    output: int,
    entry: EncryptedFile,
    provider: KeyProvider,
    on_progress: Progress,
) -> None:
    # not fsynced: a decrypted copy can be made again; the encrypted side is durable
    with _paths.atomic_write(output, entry.path, mode=0o600, durable=False) as plain:
        try:
            result = decrypt_stream(
                sealed, plain, provider, envelope=envelope, on_progress=on_progress
            )
        except OSError as error:
            raise ProtectIOError(f"cannot decrypt {entry.path}: {error.strerror}") from None
        if (
            result.plaintext_sha256 != entry.plaintext_sha256
            or result.plaintext_size != entry.plaintext_size
            or result.ciphertext_sha256 != entry.ciphertext_sha256
            or result.chunks != entry.chunks
        ):
            raise TamperedError(
                f"{entry.path}: decrypted content does not match the signed manifest "
                "(a whole encrypted file was replaced)"
            )


def verify_tree(
    source: str | os.PathLike[str],
    trusted_keys: Sequence[PublicKey],
    *,
    min_generation: int = 0,
    on_progress: Progress = _noop,
) -> VerifyResult:
    """Check an encrypted dataset against its signed manifest without any key.

    Proves, without the KEK: a trusted key signed the manifest; the folder holds exactly the
    listed files, no symlinks; each file's header names its listed path, file id and
    dataset; its ciphertext (header and chunks) has the signed digest and size; its one key
    slot is the signed slot at the signed generation. It cannot prove the wrapped key opens
    (that needs the KEK: ``decrypt``).
    """
    root = _paths.open_root(source)
    try:
        manifest, signer = read_signed_manifest(root, trusted_keys, min_generation)
        problems = unlisted(root, manifest)
        for entry in manifest.files:
            problem = _verify_one(root, manifest, entry, on_progress)
            if problem:
                problems.append(problem)
    finally:
        os.close(root)
    return VerifyResult(manifest, signer.key_id, tuple(problems))


def _verify_one(
    root: int, manifest: ProtectManifest, entry: EncryptedFile, on_progress: Progress
) -> str | None:
    name = sealed_name(manifest, entry)
    try:
        with _paths.open_file(root, name) as sealed:
            envelope = check_sealed(sealed, manifest, entry)
            result = decrypt_stream(sealed, None, None, envelope=envelope, on_progress=on_progress)
    except FileNotFoundError:
        return f"missing: {name}"
    except (FormatError, TamperedError, UnsafePathError) as error:
        return f"damaged: {name}: {error.message}"
    except OSError as error:
        raise ProtectIOError(f"cannot read {name}: {error.strerror}") from None
    if (
        result.ciphertext_sha256 != entry.ciphertext_sha256
        or result.ciphertext_size != entry.ciphertext_size
        or result.chunks != entry.chunks
    ):
        return f"changed: {name}"
    return None
