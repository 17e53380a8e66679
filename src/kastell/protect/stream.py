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
    WrappedKey,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "decrypt_stream",
    "encrypt_stream",
    "read_envelope",
    "rewrap_file",
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


def _context(header: fmt.DataHeader) -> bytes:
    return header.file_id + header.digest()


def encrypt_stream(
    source: BinaryIO,
    target: BinaryIO,
    provider: KeyProvider,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_progress: Progress = _noop,
) -> StreamResult:
    """Encrypt ``source`` into ``target`` with a fresh data key wrapped by ``provider``."""
    if not 0 < chunk_size <= fmt.MAX_CHUNK:
        raise FormatError(f"chunk size must be between 1 and {fmt.MAX_CHUNK} bytes")
    header = fmt.DataHeader(chunk_size, secrets.token_bytes(16), secrets.token_bytes(7))
    data_key = AESGCM.generate_key(bit_length=256)
    aead = AESGCM(data_key)
    wrapped = provider.wrap(data_key, _context(header))
    prefix = header.prefix_bytes()
    header_digest = hashlib.sha256(prefix).digest()
    target.write(prefix + fmt.encode_slot(1, wrapped) + b"\x00" * fmt.SLOT_SIZE)
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


def read_envelope(source: BinaryIO) -> tuple[fmt.DataHeader, int, int, WrappedKey]:
    """The header and the newest valid key slot: (header, slot index, generation, key)."""
    source.seek(0)
    header = fmt.read_header(source)
    slot, generation, wrapped = fmt.read_slots(source, header)[0]
    return header, slot, generation, wrapped


def decrypt_stream(
    source: BinaryIO,
    target: BinaryIO | None,
    provider: KeyProvider | None,
    *,
    on_progress: Progress = _noop,
) -> StreamResult:
    """Decrypt ``source`` into ``target``; every chunk is authenticated before it is written.

    With ``provider=None`` and ``target=None`` only the ciphertext digest is computed (no key
    needed): that is how integrity is checked without decrypting.
    """
    header, _, _, wrapped = read_envelope(source)
    prefix = header.prefix_bytes()
    header_digest = hashlib.sha256(prefix).digest()
    aead = AESGCM(provider.unwrap(wrapped, _context(header))) if provider else None
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


def rewrap_file(path: str | os.PathLike[str], old: KeyProvider, new: KeyProvider) -> str:
    """Re-wrap a file's data key under ``new`` without touching its data; return the new KEK id.

    The new envelope goes into the slot not in use, with a higher generation, and is flushed to
    disk; only then is the old slot erased (so the old KEK can no longer open the file). A crash
    at any point leaves a readable file, and a file already under ``new`` is left as it is, so
    an interrupted rotation can simply be run again.
    """
    try:
        with open(path, "r+b") as handle:
            header, slot, generation, wrapped = read_envelope(handle)
            if wrapped.kek_id == new.key_id:
                return new.key_id
            data_key = old.unwrap(wrapped, _context(header))
            rewrapped = new.wrap(data_key, _context(header))
            slots_at = len(header.prefix_bytes())
            handle.seek(slots_at + (1 - slot) * fmt.SLOT_SIZE)
            handle.write(fmt.encode_slot(generation + 1, rewrapped))
            handle.flush()
            os.fsync(handle.fileno())
            handle.seek(slots_at + slot * fmt.SLOT_SIZE)
            handle.write(b"\x00" * fmt.SLOT_SIZE)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise ProtectIOError(f"cannot re-wrap {path}: {error.strerror}") from None
    return new.key_id
