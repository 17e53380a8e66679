"""A bounded, forward-only reader over untrusted streams (private)."""

from __future__ import annotations

import io
from typing import IO, Protocol

__all__: list[str] = []

_CHUNK = 1 << 20


class BoundedReader:
    """Reads from ``raw`` without ever asking for more than is left.

    ``pickletools`` asks for as many bytes as a length prefix claims; a hostile prefix (2**63)
    must not turn into a huge allocation. ``readline`` is capped for the same reason.
    """

    def __init__(self, raw: IO[bytes], size: int | None, *, max_line: int = 16 << 20,
                 max_read: int = 1 << 32) -> None:
        self._raw = raw
        self._left = size
        self._pos = 0
        self._max_line = max_line
        self._max_read = max_read
        self._pushback = b""

    def tell(self) -> int:
        """Bytes consumed so far."""
        return self._pos

    def _budget(self, wanted: int) -> int:
        wanted = min(wanted, self._max_read)
        if self._left is not None:
            wanted = min(wanted, self._left)
        return max(0, wanted)

    def _took(self, data: bytes) -> bytes:
        self._pos += len(data)
        if self._left is not None:
            self._left -= len(data)
        return data

    def _take_pushback(self) -> bytes:
        # the pushed-back byte is not counted in _pos: _took() counts it when it is handed out
        data, self._pushback = self._pushback, b""
        return data

    def read(self, size: int | None = -1) -> bytes:
        """Read at most ``size`` bytes (bounded by what is left)."""
        if size is None or size < 0:
            size = self._max_read
        head = self._take_pushback()
        if head and size <= len(head):
            return self._took(head)
        rest = self._raw.read(self._budget(size - len(head))) if size - len(head) > 0 else b""
        return self._took(head + rest)

    def readline(self, size: int | None = -1) -> bytes:
        """Read one line of at most ``max_line`` bytes."""
        limit = self._max_line if size is None or size < 0 else min(size, self._max_line)
        head = self._take_pushback()
        if head == b"\n" or limit <= len(head):
            return self._took(head)
        rest = self._raw.readline(self._budget(limit - len(head)))
        return self._took(head + rest)

    def skip(self, count: int) -> int:
        """Move forward ``count`` bytes without keeping them; return how many were skipped."""
        head = self._take_pushback()
        self._took(head)
        count = self._budget(count - len(head))
        seekable = getattr(self._raw, "seekable", None)
        if seekable is not None and seekable():
            self._raw.seek(count, 1)
            done = count
        else:
            done = 0
            while done < count:
                chunk = self._raw.read(min(_CHUNK, count - done))
                if not chunk:
                    break
                done += len(chunk)
        self._pos += done
        if self._left is not None:
            self._left -= done
        return done + len(head)

    def at_end(self) -> bool:
        """Whether no byte is left (peeks one byte when the size is unknown)."""
        if self._left is not None:
            return self._left <= 0
        if self._pushback:
            return False
        byte = self.read(1)
        if not byte:
            return True
        self._pushback = byte
        self._pos -= 1
        return False


class MemoryReader(io.BytesIO):
    """An in-memory pickle source (the fast path for files and members that fit in memory)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self._size = len(data)

    def skip(self, count: int) -> int:
        """Move forward ``count`` bytes (never past the end); return how many were skipped."""
        here = self.tell()
        target = min(here + max(count, 0), self._size)
        self.seek(target)
        return target - here

    def at_end(self) -> bool:
        """Whether no byte is left."""
        return self.tell() >= self._size


class PickleSource(Protocol):
    """What the pickle emulator reads from."""

    def read(self, size: int | None = -1, /) -> bytes:
        """Read at most ``size`` bytes."""
        ...

    def readline(self, size: int | None = -1, /) -> bytes:
        """Read one line."""
        ...

    def tell(self) -> int:
        """Bytes consumed so far."""
        ...

    def skip(self, count: int) -> int:
        """Move forward without keeping the bytes."""
        ...

    def at_end(self) -> bool:
        """Whether no byte is left."""
        ...


IN_MEMORY_LIMIT = 64 << 20
"""Pickles up to this size are read into memory and parsed from there."""
