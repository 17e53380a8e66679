"""Pickle protocol 4+ frames, read as the unpicklers read them (private).

``FRAME n`` makes the unpickler read the next ``n`` bytes from the file at once; opcodes are
then taken from that buffer while the file itself is already at the frame's end. This matters
in two places where a scanner that treats FRAME as a no-op reads different bytes from the
loader:

* joblib reads NumPy array bytes from the file handle (after the frame), while the rest of the
  frame keeps running as opcodes;
* a ``load`` that meets STOP inside a frame leaves the file at the frame's end (pure-Python
  unpickler, and the C unpickler whenever the frame did not fit its read-ahead buffer), so the
  next pickle of the file starts there, not after STOP.

``FramedSource`` mirrors the pure-Python unpickler (``pickle._Unframer``): an opcode argument
that runs past the end of its frame, or a frame that starts before the current one is used up,
is an error there (the C unpickler reads on instead), so both are malformed here.
"""

from __future__ import annotations

from kastell.scan._stream import IN_MEMORY_LIMIT, PickleSource

__all__: list[str] = []


class FrameError(ValueError):
    """The frame structure is one the loaders read differently (or not at all)."""


class FramedSource:
    """A ``PickleSource`` over ``base`` that honours FRAME opcodes.

    ``read``/``readline`` serve the opcodes (from the current frame when there is one);
    ``raw`` is the file handle itself, positioned after the frame.
    """

    def __init__(self, base: PickleSource) -> None:
        self.raw = base
        self._frame: bytes | None = None
        self._pos = 0
        self._start = 0

    def tell(self) -> int:
        """The offset of the next opcode byte in the file."""
        if self._frame is not None:
            return self._start + self._pos
        return self.raw.tell()

    def read(self, size: int | None = -1, /) -> bytes:
        """Read ``size`` bytes of opcodes."""
        frame = self._frame
        if frame is None:
            return self.raw.read(size)
        if size is None or size < 0:
            size = len(frame) - self._pos
        data = frame[self._pos:self._pos + size]
        if not data and size:
            self._frame = None
            return self.raw.read(size)
        if len(data) < size:
            raise FrameError("pickle exhausted before end of frame")
        self._pos += size
        return data

    def readline(self, size: int | None = -1, /) -> bytes:
        """Read one newline-terminated argument."""
        frame = self._frame
        if frame is None:
            return self.raw.readline(size)
        if self._pos >= len(frame):
            self._frame = None
            return self.raw.readline(size)
        end = frame.find(b"\n", self._pos)
        if end < 0:
            raise FrameError("pickle exhausted before end of frame")
        data = frame[self._pos:end + 1]
        self._pos = end + 1
        return data

    def skip(self, count: int) -> int:
        """Skip opcode bytes (only used outside frames)."""
        if self._frame is not None:
            raise FrameError("skip inside a frame")
        return self.raw.skip(count)

    def at_end(self) -> bool:
        """Whether nothing is left (frame and file)."""
        if self._frame is not None and self._pos < len(self._frame):
            return False
        return self.raw.at_end()

    def start_frame(self, length: int) -> None:
        """The FRAME opcode was read: load the next ``length`` bytes of the file."""
        if self._frame is not None and self._pos < len(self._frame):
            raise FrameError("a frame starts before the current frame is used up")
        if length > IN_MEMORY_LIMIT:
            raise FrameError(f"frame of {length} bytes (limit {IN_MEMORY_LIMIT})")
        start = self.raw.tell()
        data = self.raw.read(length)
        if len(data) != length:
            raise FrameError("frame runs past the end of the stream")
        self._frame, self._pos, self._start = data, 0, start

    def end_pickle(self) -> int:
        """STOP was read: drop the frame; return how many frame bytes were left unread."""
        left = len(self._frame) - self._pos if self._frame is not None else 0
        self._frame = None
        return left
