"""Re-encrypt a stream without plaintext on disk: one thread decrypts, the caller encrypts.

The decrypting side writes authenticated plaintext into a bounded in-memory queue (two items:
memory stays at a few chunks); the encrypting side reads it as a stream. If either side fails,
the other is unblocked and the error reaches the caller; the caller must still compare both
sides' plaintext digests with the signed record before it keeps the output.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import BinaryIO, cast

from kastell.protect import _format as fmt
from kastell.protect.interface import (
    KeyProvider,
    ProtectError,
    ProtectIOError,
    StreamResult,
    TamperedError,
)
from kastell.protect.stream import decrypt_stream, encrypt_stream

__all__ = ["reencrypt", "transcode"]


class _Handoff:
    """A bounded in-memory pipe: the producer ``write``s, the consumer ``readinto``s."""

    def __init__(self) -> None:
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=2)
        self._pending = memoryview(b"")
        self._ended = False
        self.aborted = threading.Event()

    def write(self, data: bytes) -> int:
        while True:
            if self.aborted.is_set():
                raise ProtectIOError("re-encryption aborted")
            with contextlib.suppress(queue.Full):
                self._queue.put(bytes(data), timeout=0.1)
                return len(data)

    def end(self) -> None:
        while not self.aborted.is_set():
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=0.1)
                return

    def readinto(self, buffer: memoryview) -> int:
        while not self._pending:
            if self._ended:
                return 0
            item = self._queue.get()
            if item is None:
                self._ended = True
                return 0
            self._pending = memoryview(item)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def transcode(
    decrypt: Callable[[BinaryIO], StreamResult], encrypt: Callable[[BinaryIO], StreamResult]
) -> tuple[StreamResult, StreamResult]:
    """Run ``decrypt(pipe)`` on a thread and ``encrypt(pipe)`` here; return both results."""
    handoff = _Handoff()
    pipe = cast(BinaryIO, handoff)
    outcome: list[StreamResult | ProtectError | OSError] = []

    def produce() -> None:
        try:
            outcome.append(decrypt(pipe))
        except (ProtectError, OSError) as error:  # handed to the caller's thread
            outcome.append(error)
        finally:
            handoff.end()

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        encrypted = encrypt(pipe)
    finally:
        handoff.aborted.set()  # unblocks the worker if encryption failed
        worker.join()
    if not outcome:
        raise ProtectIOError("re-encryption stopped unexpectedly")
    decrypted = outcome[0]
    if isinstance(decrypted, ProtectError | OSError):
        raise decrypted
    return decrypted, encrypted


def reencrypt(
    source: BinaryIO,
    envelope: tuple[fmt.DataHeader, fmt.Slot],
    target: BinaryIO,
    old: KeyProvider,
    new: KeyProvider,
    *,
    expected: tuple[str, str],
    chunk_size: int,
    path: str,
    dataset_id: bytes,
    generation: int,
    on_progress: Callable[[int], None],
) -> StreamResult:
    """Decrypt ``source`` with ``old`` into a new file under ``new`` with a fresh data key.

    ``expected`` is the recorded (plaintext SHA-256, ciphertext SHA-256) of the source: both
    sides must match it, or ``TamperedError`` is raised (the caller discards ``target``).
    """
    decrypted, result = transcode(
        lambda pipe: decrypt_stream(source, pipe, old, envelope=envelope),
        lambda pipe: encrypt_stream(
            pipe, target, new, chunk_size=chunk_size, path=path, dataset_id=dataset_id,
            generation=generation, on_progress=on_progress,
        ),
    )
    plaintext, ciphertext = expected
    if (
        decrypted.plaintext_sha256 != plaintext
        or result.plaintext_sha256 != plaintext
        or decrypted.ciphertext_sha256 != ciphertext
    ):
        raise TamperedError(f"{path}: content does not match its manifest")
    return result
