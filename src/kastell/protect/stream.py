"""Streaming envelope encryption of one file in bounded memory (layout in ``_format``)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kastell.protect import _format as fmt
from kastell.protect.interface import (
    FormatError,
    KeyProvider,
    ProtectIOError,
    StreamResult,
    TamperedError,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "decrypt_stream",
    "encrypt_stream",
    "read_envelope",
    "rewrap_slot",
]

DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024
Progress = Callable[[int], None]


def _noop(_: int) -> None:
    return None


def _fill(stream: BinaryIO, buffer: bytearray) -> int:
    """Read until ``buffer`` is full or the stream ends; return the byte count."""
    view = memoryview(buffer)
    filled = 0
    while filled < len(buffer):
        count = stream.readinto(view[filled:])  # type: ignore[attr-defined]
        if not count:
            break
        filled += count
    return int(filled)


class _BackgroundDigest:
    """A SHA-256 fed in order on its own thread, so hashing overlaps encryption and I/O.

    hashlib and AES-GCM both release the GIL on large buffers, so on two cores the two digests
    and the cipher run side by side. A caller must not modify a buffer it has fed until
    ``wait()`` has returned for it.
    """

    def __init__(self, initial: bytes = b"") -> None:
        self._hash = hashlib.sha256(initial)
        self._executor = ThreadPoolExecutor(max_workers=1)
        self._pending: Future[None] | None = None

    def feed(self, data: bytes | memoryview) -> None:
        """Queue ``data`` (after everything fed before)."""
        self._pending = self._executor.submit(self._hash.update, data)

    def wait(self) -> None:
        """Block until everything fed so far is hashed."""
        if self._pending is not None:
            self._pending.result()

    def hexdigest(self) -> str:
        """Finish and return the digest."""
        self.wait()
        self._executor.shutdown()
        return self._hash.hexdigest()

    def close(self) -> None:
        """Stop the worker thread (idempotent)."""
        self._executor.shutdown(wait=True)


def encrypt_stream(
    source: BinaryIO,
    target: BinaryIO,
    provider: KeyProvider,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    path: str = "",
    dataset_id: bytes | None = None,
    generation: int = 1,
    on_progress: Progress = _noop,
) -> StreamResult:
    """Encrypt ``source`` into ``target`` with a fresh data key wrapped by ``provider``.

    ``path`` and ``dataset_id`` go into the authenticated header (the dataset layer checks
    them against the signed manifest); ``generation`` is the key slot's generation.
    """
    if not 0 < chunk_size <= fmt.MAX_CHUNK:
        raise FormatError(f"chunk size must be between 1 and {fmt.MAX_CHUNK} bytes")
    header = fmt.DataHeader(
        chunk_size, secrets.token_bytes(16), secrets.token_bytes(7),
        dataset_id if dataset_id is not None else secrets.token_bytes(16), path,
    )
    data_key = AESGCM.generate_key(bit_length=256)
    aead = AESGCM(data_key)
    slot = fmt.encode_slot(generation, provider.wrap(data_key, header.wrap_context(generation)))
    prefix = header.prefix_bytes()
    header_digest = hashlib.sha256(prefix).digest()
    target.write(prefix + slot + b"\x00" * fmt.SLOT_SIZE)
    current, ahead = bytearray(chunk_size), bytearray(chunk_size)
    size = _fill(source, current)
    index = plain_total = cipher_total = 0
    with _digests(prefix) as (plain_hash, cipher_hash):
        while True:
            chunk = memoryview(current)[:size]
            plain_hash.feed(chunk)
            next_size = _fill(source, ahead) if size == chunk_size else 0
            final = next_size == 0
            nonce = fmt.chunk_nonce(header, index, final)
            sealed = aead.encrypt(nonce, chunk, fmt.chunk_aad(header_digest, index, final))
            cipher_hash.wait()  # bounds memory: at most one sealed chunk queued
            cipher_hash.feed(sealed)
            target.write(sealed)
            plain_hash.wait()  # ``current`` becomes the next read buffer
            plain_total += size
            cipher_total += len(sealed)
            index += 1
            on_progress(size)
            if final:
                break
            current, ahead, size = ahead, current, next_size
        return StreamResult(
            plain_hash.hexdigest(),
            plain_total,
            cipher_hash.hexdigest(),
            len(prefix) + cipher_total,
            index,
            header.file_id.hex(),
            hashlib.sha256(slot).hexdigest(),
        )


@contextlib.contextmanager
def _digests(prefix: bytes) -> Iterator[tuple[_BackgroundDigest, _BackgroundDigest]]:
    """Plaintext and ciphertext digests on their own threads, always shut down."""
    plain, cipher = _BackgroundDigest(), _BackgroundDigest(prefix)
    try:
        yield plain, cipher
    finally:
        plain.close()
        cipher.close()


def read_envelope(source: BinaryIO) -> tuple[fmt.DataHeader, list[fmt.Slot], list[bytes]]:
    """The header, the valid key slots (newest first) and both slots' raw bytes, read once."""
    source.seek(0)
    header = fmt.read_header(source)
    slots, raw = fmt.read_slots(source, header)
    return header, slots, raw


def decrypt_stream(
    source: BinaryIO,
    target: BinaryIO | None,
    provider: KeyProvider | None,
    *,
    envelope: tuple[fmt.DataHeader, fmt.Slot] | None = None,
    on_progress: Progress = _noop,
) -> StreamResult:
    """Decrypt ``source`` into ``target``; every chunk is authenticated before it is written.

    ``envelope`` is the header and slot the caller already read and checked (against a signed
    manifest); without it the header is read here and the newest valid slot is used. With
    ``provider=None`` and ``target=None`` only the ciphertext digest is computed (no key
    needed): that is how integrity is checked without decrypting.
    """
    if envelope is None:
        header, slots, _ = read_envelope(source)
        slot = slots[0]
    else:
        header, slot = envelope
    prefix = header.prefix_bytes()
    header_digest = hashlib.sha256(prefix).digest()
    aead = (
        AESGCM(provider.unwrap(slot.wrapped, header.wrap_context(slot.generation)))
        if provider
        else None
    )
    block = header.chunk_size + fmt.TAG_SIZE
    source.seek(header.data_offset())
    current, ahead = bytearray(block), bytearray(block)
    size = _fill(source, current)
    index = plain_total = cipher_total = 0
    with _digests(prefix) as (plain_hash, cipher_hash):
        while True:
            if size < fmt.TAG_SIZE:
                raise TamperedError("encrypted file is truncated (a chunk is shorter than its tag)")
            sealed = memoryview(current)[:size]
            cipher_hash.feed(sealed)
            next_size = _fill(source, ahead) if size == block else 0
            final = next_size == 0
            cipher_total += size
            if aead is not None:
                plain = _open_chunk(aead, header, header_digest, index, final, sealed)
                plain_hash.wait()
                plain_hash.feed(plain)
                plain_total += len(plain)
                if target is not None:
                    target.write(plain)
            cipher_hash.wait()  # ``current`` becomes the next read buffer
            on_progress(size)
            index += 1
            if final:
                break
            current, ahead, size = ahead, current, next_size
        return StreamResult(
            plain_hash.hexdigest() if aead else "",
            plain_total,
            cipher_hash.hexdigest(),
            len(prefix) + cipher_total,
            index,
            header.file_id.hex(),
            slot.sha256,
        )


def _open_chunk(
    aead: AESGCM,
    header: fmt.DataHeader,
    header_digest: bytes,
    index: int,
    final: bool,
    sealed: memoryview,
) -> bytes:
    try:
        nonce = fmt.chunk_nonce(header, index, final)
        return aead.decrypt(nonce, sealed, fmt.chunk_aad(header_digest, index, final))
    except InvalidTag:
        where = "last chunk" if final else f"chunk {index}"
        raise TamperedError(
            f"{where} failed authentication: the file was modified, truncated, or its chunks "
            "were reordered or swapped"
        ) from None


def rewrap_slot(
    handle: BinaryIO,
    header: fmt.DataHeader,
    slot: fmt.Slot,
    old: KeyProvider,
    new: KeyProvider,
    generation: int,
) -> fmt.Slot:
    """Re-wrap the data key of ``slot`` under ``new`` at ``generation``; return the new slot.

    The caller has checked ``slot`` against the signed manifest. The new envelope goes into
    the other slot and is flushed to disk; only then is the old slot erased (so the old KEK can
    no longer open the file from it). A crash at any point leaves a readable file.
    """
    data_key = old.unwrap(slot.wrapped, header.wrap_context(slot.generation))
    encoded = fmt.encode_slot(generation, new.wrap(data_key, header.wrap_context(generation)))
    slots_at = len(header.prefix_bytes())
    try:
        handle.seek(slots_at + (1 - slot.index) * fmt.SLOT_SIZE)
        handle.write(encoded)
        handle.flush()
        os.fsync(handle.fileno())
        handle.seek(slots_at + slot.index * fmt.SLOT_SIZE)
        handle.write(b"\x00" * fmt.SLOT_SIZE)
        handle.flush()
        os.fsync(handle.fileno())
    except OSError as error:
        raise ProtectIOError(f"cannot re-wrap {header.path}: {error.strerror}") from None
    decoded = fmt.decode_slot(encoded)
    if decoded is None:  # encode_slot always yields a decodable slot
        raise FormatError("internal error: a freshly written key slot does not decode")
    return fmt.Slot(1 - slot.index, generation, decoded[1], hashlib.sha256(encoded).hexdigest())
