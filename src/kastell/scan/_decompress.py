"""Decompressed streams with a bound on how much each compressed byte may expand (private).

Every stream the scanner inflates (compressed joblib files, zip members) is counted as it is
read, whatever sizes its headers declare: more than ``max_stream_ratio`` bytes out per byte
in, plus ``bomb_min_bytes`` of slack, makes the input unscannable with the bound named.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from typing import IO

from kastell.scan.interface import ScanLimits, UnscannableInputError

__all__: list[str] = []

_CHUNK = 1 << 16
_OUT = 1 << 20


class _Counted(io.RawIOBase):
    """Counts the compressed bytes read from ``raw``."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(target))
        target[:len(data)] = data
        self.count += len(data)
        return len(data)


class _Guarded(io.RawIOBase):
    """The decompressed stream, stopped once it expands past the ratio bound."""

    def __init__(self, inner: IO[bytes], counted: _Counted, limits: ScanLimits) -> None:
        self._inner = inner
        self._counted = counted
        self._ratio = limits.max_stream_ratio
        self._slack = limits.bomb_min_bytes
        self.out = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(min(len(target), _OUT))
        target[:len(data)] = data
        self.out += len(data)
        if self.out > self._counted.count * self._ratio + self._slack:
            raise UnscannableInputError(
                f"stream expands past {self._ratio}x its compressed size ({self.out} bytes "
                f"from {self._counted.count}; bound max_stream_ratio)")
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()


def guarded_stream(raw: IO[bytes], open_inner: Callable[[IO[bytes]], IO[bytes]],
                   limits: ScanLimits) -> IO[bytes]:
    """``open_inner`` (a decompressor) over ``raw``, with the expansion bound."""
    counted = _Counted(raw)
    inner = open_inner(io.BufferedReader(counted, _CHUNK))
    return io.BufferedReader(_Guarded(inner, counted, limits))


class _ZlibReader(io.RawIOBase):
    """A raw zlib stream (joblib ``compress='zlib'``), inflated in bounded steps."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._inflate = zlib.decompressobj()
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def _more(self) -> bool:
        """Inflate the next piece into the buffer; False at the end of the stream."""
        if self._inflate.eof:
            return False
        pending = self._inflate.unconsumed_tail
        if not pending:
            pending = self._raw.read(_CHUNK)
            if not pending:
                tail = self._inflate.flush()
                self._buffer += tail
                return bool(tail)
        self._buffer += self._inflate.decompress(pending, _OUT)
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer and self._more():
            pass
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def zlib_stream(raw: IO[bytes]) -> IO[bytes]:
    """The inflated content of a raw zlib stream."""
    return io.BufferedReader(_ZlibReader(raw))
