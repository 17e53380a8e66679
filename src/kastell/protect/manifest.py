"""The signed manifest of an encrypted dataset (``kastell.protect-manifest/v2``).

``kastell-protect.json`` is a DSSE envelope (the integrity capability's signing format) whose
payload is the canonical JSON of a ``ProtectManifest``: the dataset id, data epoch, key
generation, KEK id, and per file its path, file id, plaintext and ciphertext digests and
sizes, chunk count and the SHA-256 of the one key slot in use. The data owner signs it with an
ECDSA or Ed25519 key (``kastell keygen``); the signature is checked against the keys the
caller trusts before any field is read, and the payload is then parsed strictly (duplicate
keys, unknown or missing fields and unsafe paths are refused).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kastell.integrity.dsse import Envelope, sign_envelope, verify_envelope
from kastell.integrity.interface import IntegrityError, Signer
from kastell.integrity.keys import PublicKey
from kastell.protect import _format as fmt
from kastell.protect.interface import LegacyFormatError, ManifestError, SignatureError

__all__ = [
    "MANIFEST_FORMAT",
    "PAYLOAD_TYPE",
    "EncryptedFile",
    "ProtectManifest",
    "check_distinct",
    "check_relative_path",
    "decode_manifest",
    "encode_manifest",
    "folded",
    "parse_signed_manifest",
    "sign_manifest",
]

MANIFEST_FORMAT: Literal["kastell.protect-manifest/v2"] = "kastell.protect-manifest/v2"
PAYLOAD_TYPE = "application/vnd.kastell.protect-manifest.v2+json"
MAX_MANIFEST_BYTES = 512 * 1024 * 1024
_HEX64 = r"^[0-9a-f]{64}$"
_HEX32 = r"^[0-9a-f]{32}$"
_ENVELOPE_FIELDS = {"payload", "payloadType", "signatures"}


def check_relative_path(path: str) -> str:
    """Return ``path`` if it is a safe relative POSIX path, else raise ``ValueError``.

    Refused: empty, absolute, ``.``/``..``/empty components, backslashes, NUL and other
    control characters, unpaired surrogates, over-long names.
    """
    if not path or path.startswith("/") or "\\" in path:
        raise ValueError(f"path {path!r} must be relative and use '/' separators")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in path):
        raise ValueError(f"path {path!r} contains NUL or control characters")
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"path {path!r} is not valid UTF-8") from None
    if size > fmt.MAX_PATH_BYTES:
        raise ValueError("path is too long")
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise ValueError(f"path {path!r} has an empty, '.' or '..' component")
        if len(part.encode("utf-8")) > 255:
            raise ValueError(f"path {path!r} has a component longer than 255 bytes")
    return path


def folded(path: str) -> str:
    """The form two paths collide in on a case-insensitive, normalising file system."""
    return unicodedata.normalize("NFC", path).casefold()


def check_distinct(paths: Iterable[str]) -> None:
    """Raise ``ValueError`` if two paths collide once written (plaintext or encrypted).

    Collisions: equal after NFC normalisation and case folding; a path lying under another
    path; a path lying under another path's encrypted name (``a`` is stored as ``a.kenc``).
    """
    files: set[str] = set()
    for path in paths:
        key = folded(path)
        if key in files:
            raise ValueError(f"duplicate or case-colliding path {path!r}")
        files.add(key)
    taken = files | {key + ".kenc" for key in files}
    for key in files:
        parts = key.split("/")
        for end in range(1, len(parts)):
            if "/".join(parts[:end]) in taken:
                raise ValueError(f"path {key!r} lies under another listed file")


class EncryptedFile(BaseModel):
    """One file of an encrypted dataset, as recorded in its signed manifest."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    path: str
    file_id: str = Field(pattern=_HEX32)
    plaintext_sha256: str = Field(pattern=_HEX64)
    plaintext_size: int = Field(ge=0, le=2**63 - 1)
    ciphertext_sha256: str = Field(pattern=_HEX64)
    ciphertext_size: int = Field(ge=0, le=2**63 - 1)
    chunks: int = Field(ge=1, le=2**32)
    slot_sha256: str = Field(pattern=_HEX64)

    @field_validator("path")
    @classmethod
    def _safe_path(cls, value: str) -> str:
        return check_relative_path(value)


class ProtectManifest(BaseModel):
    """The manifest of an encrypted dataset: what the data owner signs."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    format: Literal["kastell.protect-manifest/v2"]
    cipher: Literal["AES-256-GCM"]
    chunk_size: int = Field(gt=0, le=fmt.MAX_CHUNK)
    dataset_id: str = Field(pattern=_HEX32)
    epoch: int = Field(ge=1, le=fmt.MAX_GENERATION)
    """Data epoch: incremented by ``rotate --rekey``; names the folder the files live in."""
    generation: int = Field(ge=1, le=fmt.MAX_GENERATION)
    """Key generation: incremented by every rotation; every file's slot is at this generation."""
    kek_id: str = Field(min_length=1, max_length=256)
    files: tuple[EncryptedFile, ...]

    @model_validator(mode="after")
    def _distinct_paths(self) -> ProtectManifest:
        check_distinct(entry.path for entry in self.files)
        if len({entry.file_id for entry in self.files}) != len(self.files):
            raise ValueError("duplicate file id")
        return self

    @property
    def data_dir(self) -> str:
        """The folder (relative to the dataset root) holding this epoch's encrypted files."""
        return f"data-{self.epoch}"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ManifestError(f"duplicate key {key!r} in the protect manifest")
        result[key] = value
    return result


def _strict_json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ManifestError(f"{what} is not valid JSON (truncated or damaged?)") from None


def encode_manifest(manifest: ProtectManifest) -> bytes:
    """Canonical JSON bytes of a manifest (what is signed)."""
    return json.dumps(
        manifest.model_dump(mode="json"), sort_keys=True, separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def decode_manifest(payload: bytes) -> ProtectManifest:
    """Parse a manifest payload strictly; every deviation is a ``ManifestError``."""
    document = _strict_json(payload, "the manifest payload")
    if isinstance(document, dict) and document.get("format") == "kastell.protect-manifest/v1":
        raise LegacyFormatError("the manifest is in the unauthenticated v1 format")
    try:
        return ProtectManifest.model_validate_json(payload)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ManifestError(f"invalid manifest at {where}: {first['msg']}") from None


def sign_manifest(manifest: ProtectManifest, signer: Signer) -> bytes:
    """The bytes of ``kastell-protect.json``: a DSSE envelope over the canonical manifest."""
    envelope = sign_envelope(encode_manifest(manifest), PAYLOAD_TYPE, signer)
    return json.dumps(envelope.to_dict(), indent=2).encode("ascii") + b"\n"


def parse_signed_manifest(
    raw: bytes, trusted_keys: Sequence[PublicKey]
) -> tuple[ProtectManifest, PublicKey]:
    """Check the envelope's signature against ``trusted_keys``, then parse the payload.

    Raises:
        ManifestError: not a well-formed envelope or manifest (exit 2).
        LegacyFormatError: a v1 (unsigned) manifest (exit 2).
        SignatureError: no trusted key signed it (exit 1).
    """
    if not trusted_keys:
        raise SignatureError(
            "no trusted key given: an unsigned or self-signed manifest proves nothing",
            hint="Pass the data owner's public key with --trusted-key.",
        )
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"the manifest is larger than {MAX_MANIFEST_BYTES} bytes")
    document = _strict_json(raw, "kastell-protect.json")
    if isinstance(document, dict) and document.get("format") == "kastell.protect-manifest/v1":
        raise LegacyFormatError("the encrypted folder is in the unauthenticated v1 format")
    if not isinstance(document, dict) or set(document) != _ENVELOPE_FIELDS:
        raise ManifestError("kastell-protect.json is not a signed manifest envelope")
    signatures = document["signatures"]
    if not isinstance(signatures, list) or any(
        not isinstance(item, dict) or not set(item) <= {"keyid", "sig"} for item in signatures
    ):
        raise ManifestError("the manifest envelope's signatures are malformed")
    try:
        envelope = Envelope.from_dict(document)
    except IntegrityError as error:
        raise ManifestError(f"the manifest envelope is malformed: {error.message}") from None
    if envelope.payload_type != PAYLOAD_TYPE:
        raise ManifestError(f"unexpected manifest payload type {envelope.payload_type!r}")
    try:
        signer = verify_envelope(envelope, trusted_keys)
    except IntegrityError as error:
        raise SignatureError(f"manifest signature check failed: {error.message}") from None
    return decode_manifest(envelope.payload), signer
