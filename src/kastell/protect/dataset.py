"""Encrypt, decrypt, re-key and check whole datasets (a file or a directory tree).

An encrypted dataset is a directory holding ``<relative path>.kenc`` for every plaintext file
and ``kastell-protect.json``, a ``ProtectManifest`` recording each file's plaintext and
ciphertext SHA-256. The ciphertext digests let anyone check integrity without the key; the
plaintext digests tie the encrypted copy to the dataset's manifest and attestations, so
provenance survives encryption. Outputs are written to a temporary name and renamed only when
complete, and decrypted files appear only after every chunk has been authenticated.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import Callable, Iterator

from pydantic import ValidationError

from kastell.errors import UsageError, VerificationError
from kastell.protect.interface import (
    EncryptedFile,
    FormatError,
    KeyProvider,
    ProtectError,
    ProtectIOError,
    ProtectManifest,
    TamperedError,
)
from kastell.protect.stream import DEFAULT_CHUNK_SIZE, decrypt_stream, encrypt_stream, rewrap_file

__all__ = [
    "MANIFEST_NAME",
    "SUFFIX",
    "IntegrityMismatchError",
    "decrypt_tree",
    "encrypt_tree",
    "load_manifest",
    "rotate_tree",
    "verify_tree",
]

MANIFEST_NAME = "kastell-protect.json"
SUFFIX = ".kenc"
Progress = Callable[[int], None]


class IntegrityMismatchError(ProtectError, VerificationError):
    """Files of an encrypted dataset differ from its manifest."""

    default_hint = "Restore the listed files from a trusted copy before using the dataset."


def _noop(_: int) -> None:
    return None


def _plain_files(source: pathlib.Path) -> list[tuple[str, pathlib.Path]]:
    if source.is_file():
        return [(source.name, source)]
    if not source.is_dir():
        raise UsageError(f"no such file or directory: {source}")
    found: list[tuple[str, pathlib.Path]] = []
    for directory, subdirectories, names in os.walk(source, followlinks=False):
        subdirectories.sort()
        base = pathlib.Path(directory)
        for name in sorted(names):
            path = base / name
            if path.is_symlink() or not path.is_file():
                raise UsageError(
                    f"{path} is not a regular file (symlink, FIFO or device)",
                    hint="Encrypt regular files only: copy the data without links first.",
                )
            found.append((path.relative_to(source).as_posix(), path))
    return sorted(found)


@contextlib.contextmanager
def _atomic_output(final: pathlib.Path) -> Iterator[pathlib.Path]:
    """Yield a temporary path that replaces ``final`` only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f".{final.name}.partial")
    try:
        yield temporary
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)


def _write_manifest(directory: pathlib.Path, manifest: ProtectManifest) -> None:
    with _atomic_output(directory / MANIFEST_NAME) as temporary:
        temporary.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")


def load_manifest(directory: str | os.PathLike[str]) -> ProtectManifest:
    """Read and validate ``kastell-protect.json`` in an encrypted dataset directory."""
    path = pathlib.Path(directory) / MANIFEST_NAME
    try:
        return ProtectManifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise FormatError(
            f"{directory} has no {MANIFEST_NAME}",
            hint="Point at a directory written by `kastell protect encrypt`.",
        ) from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise FormatError(f"{path}: invalid manifest at {where}: {first['msg']}") from None


def encrypt_tree(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    provider: KeyProvider,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_progress: Progress = _noop,
) -> ProtectManifest:
    """Encrypt a file or directory into ``target`` and write its manifest there."""
    entries = []
    target_dir = pathlib.Path(target)
    for relative, path in _plain_files(pathlib.Path(source)):
        with _atomic_output(target_dir / (relative + SUFFIX)) as temporary:
            try:
                with open(path, "rb") as plain, open(temporary, "wb") as sealed:
                    result = encrypt_stream(
                        plain, sealed, provider, chunk_size=chunk_size, on_progress=on_progress
                    )
                    sealed.flush()
                    os.fsync(sealed.fileno())
            except OSError as error:
                raise ProtectIOError(f"cannot encrypt {path}: {error.strerror}") from None
        entries.append(
            EncryptedFile(
                path=relative,
                plaintext_sha256=result.plaintext_sha256,
                plaintext_size=result.plaintext_size,
                ciphertext_sha256=result.ciphertext_sha256,
                ciphertext_size=result.ciphertext_size,
                chunks=result.chunks,
            )
        )
    manifest = ProtectManifest(chunk_size=chunk_size, kek_id=provider.key_id, files=tuple(entries))
    _write_manifest(target_dir, manifest)
    return manifest


def _sealed_path(directory: pathlib.Path, entry: EncryptedFile) -> pathlib.Path:
    resolved = (directory / (entry.path + SUFFIX)).resolve()
    if not resolved.is_relative_to(directory.resolve()):
        raise FormatError(f"manifest path {entry.path!r} escapes the dataset directory")
    return resolved


def decrypt_tree(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    provider: KeyProvider,
    *,
    on_progress: Progress = _noop,
) -> ProtectManifest:
    """Decrypt an encrypted dataset into ``target``, checking every digest in the manifest."""
    directory = pathlib.Path(source)
    manifest = load_manifest(directory)
    for entry in manifest.files:
        sealed_path = _sealed_path(directory, entry)
        with _atomic_output(pathlib.Path(target) / entry.path) as temporary:
            try:
                with open(sealed_path, "rb") as sealed, open(temporary, "wb") as plain:
                    result = decrypt_stream(sealed, plain, provider, on_progress=on_progress)
            except FileNotFoundError:
                raise IntegrityMismatchError(f"{entry.path}{SUFFIX} is missing") from None
            except OSError as error:
                raise ProtectIOError(f"cannot decrypt {sealed_path}: {error.strerror}") from None
            if result.plaintext_sha256 != entry.plaintext_sha256:
                raise TamperedError(
                    f"{entry.path}: decrypted content does not match the manifest digest "
                    "(a whole encrypted file was replaced)"
                )
    return manifest


def verify_tree(source: str | os.PathLike[str], *, on_progress: Progress = _noop) -> list[str]:
    """Check ciphertext digests against the manifest without any key.

    Returns the list of problems (empty when every file matches).
    """
    directory = pathlib.Path(source)
    manifest = load_manifest(directory)
    problems = []
    listed = set()
    for entry in manifest.files:
        sealed_path = _sealed_path(directory, entry)
        listed.add(sealed_path)
        try:
            with open(sealed_path, "rb") as sealed:
                result = decrypt_stream(sealed, None, None, on_progress=on_progress)
        except FileNotFoundError:
            problems.append(f"missing: {entry.path}{SUFFIX}")
            continue
        except (FormatError, TamperedError) as error:
            problems.append(f"damaged: {entry.path}{SUFFIX}: {error.message}")
            continue
        except OSError as error:
            raise ProtectIOError(f"cannot read {sealed_path}: {error.strerror}") from None
        if result.ciphertext_sha256 != entry.ciphertext_sha256:
            problems.append(f"changed: {entry.path}{SUFFIX}")
    for path in sorted(directory.rglob("*" + SUFFIX)):
        if path.resolve() not in listed:
            problems.append(f"extra: {path.relative_to(directory).as_posix()}")
    return problems


def rotate_tree(
    source: str | os.PathLike[str], old: KeyProvider, new: KeyProvider
) -> ProtectManifest:
    """Re-wrap every data key of an encrypted dataset under ``new``; data is not re-encrypted."""
    directory = pathlib.Path(source)
    manifest = load_manifest(directory)
    for entry in manifest.files:
        rewrap_file(_sealed_path(directory, entry), old, new)
    rotated = manifest.model_copy(update={"kek_id": new.key_id})
    _write_manifest(directory, rotated)
    return rotated
