"""Byte layout of a Kastell encrypted file (``kastell.enc/v2``).

::

    MAGIC (8) | header length (4, big-endian) | data header (canonical JSON)
    | key slot A (1024) | key slot B (1024) | chunk 0 | chunk 1 | ... | final chunk

The data header is immutable: cipher, chunk size, the dataset id, the file's relative path, a
random file id and a random nonce prefix. Every chunk is AES-256-GCM over at most
``chunk_size`` plaintext bytes; its nonce is ``prefix (7) | chunk index (4) | final flag (1)``
and its associated data is ``sha256(MAGIC | length | header) | index (8) | final flag (1)``.
So a changed byte, a dropped last chunk, a reordered or swapped chunk, a chunk moved from
another file, and a whole file moved to another path or dataset all fail authentication.

The two key slots hold the wrapped data key; rotation writes the new envelope into the other
slot with a higher generation. A slot's generation and KEK id are part of the wrap context
(authenticated by the KEK), and the signed manifest records the digest of the one slot in use,
so a slot cannot be re-inserted, re-numbered or rolled back.

``kastell.enc/v1`` (no path or dataset id in the header) is recognised only to say how to
migrate (``LegacyFormatError``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from typing import Any, BinaryIO

from kastell.protect.interface import FormatError, LegacyFormatError, WrappedKey

MAGIC = b"KSTLENC\x01"
FORMAT = "kastell.enc/v2"
SLOT_SIZE = 1024
TAG_SIZE = 16
MAX_HEADER = 8192
MAX_PATH_BYTES = 4096
MAX_CHUNK = 64 * 1024 * 1024
MAX_GENERATION = 2**32 - 1
_SLOT_BODY = SLOT_SIZE - 32 - 4
_HEADER_FIELDS = {"chunk_size", "cipher", "dataset_id", "file_id", "format", "nonce_prefix", "path"}


@dataclasses.dataclass(frozen=True)
class DataHeader:
    """The immutable header of an encrypted file."""

    chunk_size: int
    file_id: bytes
    nonce_prefix: bytes
    dataset_id: bytes
    path: str

    def encode(self) -> bytes:
        """Canonical JSON bytes of the header."""
        body = {
            "format": FORMAT,
            "cipher": "AES-256-GCM",
            "chunk_size": self.chunk_size,
            "dataset_id": self.dataset_id.hex(),
            "file_id": self.file_id.hex(),
            "nonce_prefix": self.nonce_prefix.hex(),
            "path": self.path,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def prefix_bytes(self) -> bytes:
        """MAGIC, length and header: the bytes before the key slots."""
        encoded = self.encode()
        return MAGIC + struct.pack(">I", len(encoded)) + encoded

    def digest(self) -> bytes:
        """SHA-256 of ``prefix_bytes()``; bound into every chunk and the key context."""
        return hashlib.sha256(self.prefix_bytes()).digest()

    def data_offset(self) -> int:
        """Offset of chunk 0."""
        return len(self.prefix_bytes()) + 2 * SLOT_SIZE

    def wrap_context(self, generation: int) -> bytes:
        """What a wrapped data key is bound to: this file's header and the slot generation."""
        return self.file_id + self.digest() + struct.pack(">Q", generation)


@dataclasses.dataclass(frozen=True)
class Slot:
    """One valid key slot: its position, generation, wrapped key and raw bytes' SHA-256."""

    index: int
    generation: int
    wrapped: WrappedKey
    sha256: str


def chunk_nonce(header: DataHeader, index: int, final: bool) -> bytes:
    """The 12-byte GCM nonce of chunk ``index``."""
    return header.nonce_prefix + struct.pack(">I", index) + (b"\x01" if final else b"\x00")


def chunk_aad(header_digest: bytes, index: int, final: bool) -> bytes:
    """Associated data of chunk ``index``."""
    return header_digest + struct.pack(">Q", index) + (b"\x01" if final else b"\x00")


def _field(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise FormatError(f"encrypted file header: field {name!r} is missing or malformed")
    return value


def _hex(body: dict[str, Any], name: str, size: int) -> bytes:
    try:
        value = bytes.fromhex(_field(body, name, str))
    except ValueError:
        raise FormatError(f"encrypted file header: {name} is not hex") from None
    if len(value) != size:
        raise FormatError(f"encrypted file header: {name} has the wrong length")
    return value


def read_header(stream: BinaryIO) -> DataHeader:
    """Read and validate the data header at the start of ``stream``."""
    start = stream.read(12)
    if len(start) < 12 or start[:8] != MAGIC:
        raise FormatError("not a Kastell encrypted file (bad magic bytes)")
    (length,) = struct.unpack(">I", start[8:])
    if length > MAX_HEADER:
        raise FormatError(f"encrypted file header too large ({length} bytes)")
    raw = stream.read(length)
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise FormatError("encrypted file header is not valid JSON") from None
    if isinstance(body, dict) and body.get("format") == "kastell.enc/v1":
        raise LegacyFormatError("this file is in the unauthenticated kastell.enc/v1 format")
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise FormatError(f"unsupported encrypted file format (expected {FORMAT})")
    if set(body) != _HEADER_FIELDS or body.get("cipher") != "AES-256-GCM":
        raise FormatError("encrypted file header has missing, unknown or unsupported fields")
    chunk_size = _field(body, "chunk_size", int)
    path = _field(body, "path", str)
    if not 0 < chunk_size <= MAX_CHUNK or len(path.encode("utf-8", "replace")) > MAX_PATH_BYTES:
        raise FormatError("encrypted file header: chunk size or path out of range")
    header = DataHeader(
        chunk_size, _hex(body, "file_id", 16), _hex(body, "nonce_prefix", 7),
        _hex(body, "dataset_id", 16), path,
    )
    if header.encode() != raw:
        raise FormatError("encrypted file header is not in canonical form")
    return header


def encode_slot(generation: int, wrapped: WrappedKey) -> bytes:
    """A key slot holding ``wrapped`` at ``generation``."""
    if not 0 < generation <= MAX_GENERATION:
        raise FormatError(f"key generation {generation} out of range (1..{MAX_GENERATION})")
    body = json.dumps(
        {
            "generation": generation,
            "kek_id": wrapped.kek_id,
            "algorithm": wrapped.algorithm,
            "wrapped_key": wrapped.ciphertext.hex(),
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    if len(body) > _SLOT_BODY:
        raise FormatError("wrapped key envelope too large for its slot", hint="Shorten the KEK id.")
    payload = struct.pack(">I", len(body)) + body
    slot = hashlib.sha256(payload).digest() + payload
    return slot + b"\x00" * (SLOT_SIZE - len(slot))


def decode_slot(slot: bytes) -> tuple[int, WrappedKey] | None:
    """The (generation, wrapped key) of a well-formed slot, or None for an empty or damaged one.

    The checksum only tells a damaged slot from a written one; authenticity comes from the
    KEK (the generation is in the wrap context) and from the signed manifest (slot digest).
    """
    if len(slot) != SLOT_SIZE:
        return None
    (length,) = struct.unpack(">I", slot[32:36])
    if length > _SLOT_BODY or hashlib.sha256(slot[32 : 36 + length]).digest() != slot[:32]:
        return None
    if any(slot[36 + length :]):
        return None
    try:
        body = json.loads(slot[36 : 36 + length])
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(body, dict) or set(body) != {
        "algorithm", "generation", "kek_id", "wrapped_key",
    }:
        return None
    generation, kek_id, algorithm, key = (
        body["generation"], body["kek_id"], body["algorithm"], body["wrapped_key"],
    )
    if not isinstance(generation, int) or isinstance(generation, bool):
        return None
    if not 0 < generation <= MAX_GENERATION:
        return None
    if not (isinstance(kek_id, str) and isinstance(algorithm, str) and isinstance(key, str)):
        return None
    try:
        return generation, WrappedKey(kek_id, algorithm, bytes.fromhex(key))
    except ValueError:
        return None


def read_slots(stream: BinaryIO, header: DataHeader) -> tuple[list[Slot], list[bytes]]:
    """Valid slots (newest first) and the raw bytes of both slots, read once."""
    stream.seek(len(header.prefix_bytes()))
    raw = [stream.read(SLOT_SIZE), stream.read(SLOT_SIZE)]
    found = []
    for index, data in enumerate(raw):
        decoded = decode_slot(data)
        if decoded is not None:
            digest = hashlib.sha256(data).hexdigest()
            found.append(Slot(index, decoded[0], decoded[1], digest))
    if not found:
        raise FormatError("encrypted file has no valid key envelope (both slots damaged)")
    return sorted(found, key=lambda item: -item.generation), raw
