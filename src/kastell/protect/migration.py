"""Migrate a ``kastell.protect-manifest/v1`` folder (unsigned) to the signed v2 format.

A v1 folder holds ``<path>.kenc`` files (``kastell.enc/v1`` headers: no path or dataset id,
slot generation not bound) and an unsigned ``kastell-protect.json``. Its manifest cannot be
authenticated, so migration trusts it only as far as the user does: it prints the manifest's
SHA-256 for comparison with a trusted record, validates every path as strictly as v2 does,
authenticates every chunk with the KEK, checks each plaintext and ciphertext digest against
the v1 manifest, and re-encrypts under fresh data keys into a new, signed v2 folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
import struct
from collections.abc import Callable
from typing import Any, BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kastell.errors import UsageError
from kastell.integrity.interface import Signer
from kastell.protect import _format as fmt
from kastell.protect import _paths
from kastell.protect._pipe import reencrypt
from kastell.protect.dataset import entry_for
from kastell.protect.folder import (
    MANIFEST_NAME,
    SUFFIX,
    IntegrityMismatchError,
    write_signed_manifest,
)
from kastell.protect.interface import (
    FormatError,
    KeyProvider,
    ManifestError,
    StreamResult,
)
from kastell.protect.manifest import (
    MANIFEST_FORMAT,
    ProtectManifest,
    check_distinct,
    check_relative_path,
)

__all__ = ["MigrationResult", "migrate_tree"]

Progress = Callable[[int], None]
_V1_HEADER = {"chunk_size", "cipher", "file_id", "format", "nonce_prefix"}


def _noop(_: int) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class _V1Header(fmt.DataHeader):
    """A ``kastell.enc/v1`` header: same chunk scheme, no path or dataset id in the header."""

    def encode(self) -> bytes:
        body = {
            "format": "kastell.enc/v1",
            "cipher": "AES-256-GCM",
            "chunk_size": self.chunk_size,
            "file_id": self.file_id.hex(),
            "nonce_prefix": self.nonce_prefix.hex(),
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def wrap_context(self, generation: int) -> bytes:
        return self.file_id + self.digest()  # v1 did not bind the slot generation


class _V1File(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    path: str
    plaintext_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    plaintext_size: int = Field(ge=0)
    ciphertext_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    ciphertext_size: int = Field(ge=0)
    chunks: int = Field(ge=1)


class _V1Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    format: Literal["kastell.protect-manifest/v1"]
    cipher: Literal["AES-256-GCM"]
    chunk_size: int = Field(gt=0, le=fmt.MAX_CHUNK)
    kek_id: str
    files: tuple[_V1File, ...]


@dataclasses.dataclass(frozen=True)
class MigrationResult:
    """The new signed manifest and the SHA-256 of the (unauthenticated) v1 manifest read."""

    manifest: ProtectManifest
    v1_manifest_sha256: str


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) != len(pairs):
        raise ManifestError("duplicate key in the v1 manifest")
    return dict(pairs)


def _parse_v1(raw: bytes) -> _V1Manifest:
    try:
        json.loads(raw, object_pairs_hook=_no_duplicates)
        manifest = _V1Manifest.model_validate_json(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ManifestError("the v1 manifest is not valid JSON") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ManifestError(f"not a valid v1 manifest at {where}: {first['msg']}") from None
    try:
        for entry in manifest.files:
            check_relative_path(entry.path)
        check_distinct(entry.path for entry in manifest.files)
    except ValueError as error:
        raise ManifestError(f"v1 manifest: {error}") from None
    return manifest


def _read_v1_header(stream: BinaryIO) -> _V1Header:
    start = stream.read(12)
    if len(start) < 12 or start[:8] != fmt.MAGIC:
        raise FormatError("not a Kastell encrypted file (bad magic bytes)")
    (length,) = struct.unpack(">I", start[8:])
    if length > fmt.MAX_HEADER:
        raise FormatError("encrypted file header too large")
    raw = stream.read(length)
    try:
        body = json.loads(raw)
        header = _V1Header(
            body["chunk_size"], bytes.fromhex(body["file_id"]),
            bytes.fromhex(body["nonce_prefix"]), b"", "",
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, KeyError, TypeError,
            ValueError):
        raise FormatError("damaged kastell.enc/v1 header") from None
    if (
        not isinstance(body, dict)
        or set(body) != _V1_HEADER
        or not isinstance(header.chunk_size, int)
        or not 0 < header.chunk_size <= fmt.MAX_CHUNK
        or len(header.file_id) != 16
        or len(header.nonce_prefix) != 7
        or header.encode() != raw
    ):
        raise FormatError("damaged or non-canonical kastell.enc/v1 header")
    return header


def migrate_tree(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    provider: KeyProvider,
    signer: Signer,
    *,
    on_progress: Progress = _noop,
) -> MigrationResult:
    """Re-encrypt a v1 folder into the empty directory ``target`` as a signed v2 dataset."""
    root = _paths.open_root(source)
    try:
        with _paths.open_file(root, MANIFEST_NAME) as handle:
            raw = handle.read()
        v1 = _parse_v1(raw)
        output = _paths.open_root(target, create=True)
        try:
            if os.listdir(output):
                raise UsageError(
                    f"{os.fspath(target)} is not empty", hint="Migrate into a new folder."
                )
            dataset_id = secrets.token_bytes(16)
            entries = [
                entry_for(entry.path, _migrate_one(root, output, v1, entry, dataset_id,
                                                   provider, on_progress))
                for entry in v1.files
            ]
            manifest = ProtectManifest(
                format=MANIFEST_FORMAT, cipher="AES-256-GCM", chunk_size=v1.chunk_size,
                dataset_id=dataset_id.hex(), epoch=1, generation=1, kek_id=provider.key_id,
                files=tuple(entries),
            )
            write_signed_manifest(output, manifest, signer)
        finally:
            os.close(output)
    except FileNotFoundError:
        raise FormatError(f"{os.fspath(source)} has no {MANIFEST_NAME}") from None
    finally:
        os.close(root)
    return MigrationResult(manifest, hashlib.sha256(raw).hexdigest())


def _migrate_one(
    root: int,
    output: int,
    v1: _V1Manifest,
    entry: _V1File,
    dataset_id: bytes,
    provider: KeyProvider,
    on_progress: Progress,
) -> StreamResult:
    try:
        source = _paths.open_file(root, entry.path + SUFFIX)
    except FileNotFoundError:
        raise IntegrityMismatchError(f"{entry.path}{SUFFIX} is missing") from None
    with source:
        header = _read_v1_header(source)
        slots, _ = fmt.read_slots(source, header)
        with _paths.atomic_write(output, f"data-1/{entry.path}{SUFFIX}") as sealed:
            return reencrypt(
                source, (header, slots[0]), sealed, provider, provider,
                expected=(entry.plaintext_sha256, entry.ciphertext_sha256),
                chunk_size=v1.chunk_size, path=entry.path, dataset_id=dataset_id,
                generation=1, on_progress=on_progress,
            )
