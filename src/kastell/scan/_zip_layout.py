"""Where zip readers disagree: the end-of-central-directory records they pick (private).

Python's ``zipfile`` reads the central directory that sits just before the end record and
re-bases every member offset by the difference from the declared offset; miniz (PyTorch's
``PyTorchStreamReader``) reads the central directory at the declared offset. When the two
differ, or several plausible end records exist in the window both readers search, or a name is
listed twice, the loader may see other members than the scanner: each is reported.
"""

from __future__ import annotations

import collections
import struct
import zipfile
from typing import IO

__all__: list[str] = []

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_WINDOW = (1 << 16) + 22


def _plausible(tail: bytes, at: int, tail_start: int) -> bool:
    """An end record at ``tail[at:]`` that a reader could accept."""
    if len(tail) - at < 22:
        return False
    disk, cd_disk, here, total, size, offset, comment = struct.unpack_from("<HHHHIIH", tail,
                                                                           at + 4)
    if disk or cd_disk or here != total:
        return False
    if offset == 0xFFFFFFFF or size == 0xFFFFFFFF:
        return True  # zip64: the real values are elsewhere
    return bool(offset + size <= tail_start + at)


def _declared_cd_offset(stream: IO[bytes], tail: bytes, tail_start: int,
                        at: int) -> int | None:
    offset: int = struct.unpack_from("<I", tail, at + 16)[0]
    if offset != 0xFFFFFFFF:
        return offset
    locator = at - 20
    if locator < 0 or tail[locator:locator + 4] != _EOCD64_LOCATOR:
        return None
    (record,) = struct.unpack_from("<Q", tail, locator + 8)
    stream.seek(record)
    head = stream.read(56)
    if len(head) != 56 or head[:4] != _EOCD64:
        return None
    value: int = struct.unpack_from("<Q", head, 48)[0]
    return value


def zip_ambiguities(archive: zipfile.ZipFile) -> list[str]:
    """Why loaders may read this zip differently (empty when they read it alike)."""
    stream = archive.fp
    if stream is None:
        return []
    problems: list[str] = []
    stream.seek(0, 2)
    size = stream.tell()
    tail_start = max(0, size - _WINDOW)
    stream.seek(tail_start)
    tail = stream.read(size - tail_start)
    found = [i for i in range(len(tail) - 3) if tail.startswith(_EOCD, i)
             ] if tail.count(_EOCD) > 1 else [tail.rfind(_EOCD)]
    plausible = [i for i in found if i >= 0 and _plausible(tail, i, tail_start)]
    if len(plausible) > 1:
        problems.append(f"{len(plausible)} end-of-central-directory records")
    if plausible:
        declared = _declared_cd_offset(stream, tail, tail_start, plausible[-1])
        if declared is None or declared != archive.start_dir:
            problems.append(f"central directory declared at byte {declared} but read at byte "
                            f"{archive.start_dir} (miniz and zipfile read different members)")
    names = collections.Counter(info.filename for info in archive.infolist())
    twice = sorted(name for name, count in names.items() if count > 1)
    if twice:
        problems.append(f"member names listed more than once: {', '.join(twice[:5])}")
    return problems
