"""Byte layout of a Kastell encrypted file (``kastell.enc/v1``).

::

    MAGIC (8) | header length (4, big-endian) | data header (canonical JSON)
    | key slot A (1024) | key slot B (1024) | chunk 0 | chunk 1 | ... | final chunk

The data header is immutable: cipher, chunk size, a random file id and a random nonce prefix.
Every chunk is AES-256-GCM over at most ``chunk_size`` plaintext bytes; its nonce is
``prefix (7) | chunk index (4) | final flag (1)`` and its associated data is
``sha256(MAGIC | length | header) | index (8) | final flag (1)``, so a changed byte, a dropped
last chunk, a reordered or swapped chunk, or a chunk moved from another file fails
authentication. The two key slots hold the wrapped data key; rotation writes the new envelope
into the other slot with a higher generation, so a crash during rotation leaves the old one
intact. A slot is valid when its SHA-256 matches; the valid slot with the highest generation wins.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from typing import Any, BinaryIO

from kastell.protect.interface import FormatError, WrappedKey

MAGIC = b"KSTLENC\x01"
SLOT_SIZE = 1024
TAG_SIZE = 16
MAX_HEADER = 4096
MAX_CHUNK = 64 * 1024 * 1024
_SLOT_BODY = SLOT_SIZE - 32 - 4


@dataclasses.dataclass(frozen=True)
class DataHeader:
    """The immutable header of an encrypted file."""

    chunk_size: int
    file_id: bytes
    nonce_prefix: bytes

    def encode(self) -> bytes:
        """Canonical JSON bytes of the header."""
        body = {
            "format": "kastell.enc/v1",
            "cipher": "AES-256-GCM",
            "chunk_size": self.chunk_size,
            "file_id": self.file_id.hex(),
            "nonce_prefix": self.nonce_prefix.hex(),
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
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FormatError("encrypted file header is not valid JSON") from None
    if not isinstance(body, dict) or body.get("format") != "kastell.enc/v1":
        raise FormatError("unsupported encrypted file format (expected kastell.enc/v1)")
    chunk_size = _field(body, "chunk_size", int)
    try:
        file_id = bytes.fromhex(_field(body, "file_id", str))
        prefix = bytes.fromhex(_field(body, "nonce_prefix", str))
    except ValueError:
        raise FormatError("encrypted file header: ids are not hex") from None
    if not 0 < chunk_size <= MAX_CHUNK or len(file_id) != 16 or len(prefix) != 7:
        raise FormatError("encrypted file header: chunk size or ids out of range")
    header = DataHeader(chunk_size, file_id, prefix)
    if header.encode() != raw:
        raise FormatError("encrypted file header is not in canonical form")
    return header


def encode_slot(generation: int, wrapped: WrappedKey) -> bytes:
    """A key slot holding ``wrapped`` at ``generation``."""
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
    """The (generation, wrapped key) of a valid slot, or None for an empty or damaged one."""
    if len(slot) != SLOT_SIZE:
        return None
    (length,) = struct.unpack(">I", slot[32:36])
    if length > _SLOT_BODY or hashlib.sha256(slot[32 : 36 + length]).digest() != slot[:32]:
        return None
    try:
        body = json.loads(slot[36 : 36 + length])
        generation = int(body["generation"])
        wrapped = WrappedKey(
            str(body["kek_id"]), str(body["algorithm"]), bytes.fromhex(body["wrapped_key"])
        )
    except (ValueError, KeyError, TypeError):
        return None
    return generation, wrapped


def read_slots(stream: BinaryIO, header: DataHeader) -> list[tuple[int, int, WrappedKey]]:
    """Valid slots as (slot index, generation, wrapped key), newest first."""
    stream.seek(len(header.prefix_bytes()))
    found = []
    for index in range(2):
        decoded = decode_slot(stream.read(SLOT_SIZE))
        if decoded is not None:
            found.append((index, decoded[0], decoded[1]))
    if not found:
        raise FormatError("encrypted file has no valid key envelope (both slots damaged)")
    return sorted(found, key=lambda item: -item[1])
