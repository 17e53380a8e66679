"""Reading files and documents a user or an attacker wrote: regular files only, strict parsers.

Two habits every verifier and configuration reader needs, decided here once:

* **Special files never block.** :func:`open_regular` opens with ``O_NONBLOCK`` and refuses
  anything ``fstat`` does not call a regular file (FIFO, device, socket, directory), so a FIFO
  put in place of a signature, key or weights file is an error, not a hang. The refusal is an
  ``OSError`` (``errno.EINVAL``) so callers' existing ``except OSError`` handlers report it.
* **Documents parse one way.** :func:`load_yaml` and :func:`load_json` reject duplicate mapping
  keys (PyYAML and ``json`` keep the last silently, other parsers keep the first), YAML merge
  keys (a value silently overridden), recursive or exploding YAML aliases, and non-finite JSON
  numbers. The refusals are ``yaml.YAMLError`` / ``json.JSONDecodeError`` subclasses, again so
  existing handlers map them to the caller's own error type.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node

__all__ = [
    "DuplicateKeyError",
    "load_json",
    "load_yaml",
    "open_regular",
    "read_regular",
]

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_NOT_REGULAR = "not a regular file (FIFO, device, socket or directory)"
_MAX_ALIASED_NODES = 10_000


def _not_regular(path: Path, mode: int) -> OSError:
    if stat.S_ISDIR(mode):
        return IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    return OSError(errno.EINVAL, _NOT_REGULAR, str(path))


def open_regular(path: Path, *, follow_symlinks: bool = True, buffering: int = -1) -> IO[bytes]:
    """Open ``path`` for binary reading if and only if it is a regular file; never blocks.

    Args:
        path: the file.
        follow_symlinks: when false, a symbolic link at ``path`` is refused (``O_NOFOLLOW``).
        buffering: as for ``open`` (0: unbuffered, reads go straight into the caller's buffer).

    Raises:
        OSError: the file cannot be opened, or is not a regular file (``errno.EINVAL``).
    """
    flags = _OPEN_FLAGS
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    # a stat first avoids opening a device at all in the ordinary case; the fstat after the
    # (non-blocking) open closes the race of a swap between the two
    mode = (os.stat(path) if follow_symlinks else os.lstat(path)).st_mode
    if not stat.S_ISREG(mode):
        raise _not_regular(path, mode)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=buffering)
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, *, limit: int) -> bytes:
    """Read a whole regular file of at most ``limit`` bytes (one open, one read).

    Raises:
        OSError: the file cannot be read, is not a regular file, or is larger than ``limit``
            (``errno.EFBIG``).
    """
    with open_regular(path) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
    return data


class DuplicateKeyError(ConstructorError):
    """A YAML mapping names the same key twice or uses a merge key, or an alias is refused."""


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader without duplicate keys, merge keys or alias bombs.

    Aliases are kept (``yaml.safe_dump`` writes them for shared values) but may not refer to a
    collection that contains them (a recursive document), and everything they stand for may
    add up to at most ``_MAX_ALIASED_NODES`` nodes (a "billion laughs" document expands
    exponentially when walked, though PyYAML shares the objects).
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._open: set[str] = set()
        self._sizes: dict[int, int] = {}
        self._aliased = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            if event.anchor in self._open:
                raise DuplicateKeyError(
                    None, None, "a recursive alias is not allowed here", event.start_mark
                )
            node = self.anchors.get(event.anchor)
            if node is not None:
                self._aliased += self._size(node)
                if self._aliased > _MAX_ALIASED_NODES:
                    raise DuplicateKeyError(
                        None, None, "aliases expand to too many values", event.start_mark
                    )
            return super().compose_node(parent, index)
        anchor = None
        if self.check_event(yaml.CollectionStartEvent):
            anchor = self.peek_event().anchor  # type: ignore[no-untyped-call]
        if anchor is not None:
            self._open.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            if anchor is not None:
                self._open.discard(anchor)

    def _size(self, node: Node) -> int:
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        size = 1
        if isinstance(node, MappingNode):
            size += sum(self._size(k) + self._size(v) for k, v in node.value)
        elif isinstance(node.value, list):
            size += sum(self._size(child) for child in node.value)
        self._sizes[id(node)] = size
        return size

    def flatten_mapping(self, node: MappingNode) -> None:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise DuplicateKeyError(
                    None, None, "merge keys (<<) are not allowed here", key_node.start_mark
                )
            key = self.construct_object(key_node, deep=True)
            marker = _hashable(key)
            if marker in seen:
                raise DuplicateKeyError(
                    "while reading a mapping",
                    node.start_mark,
                    f"duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(marker)
        super().flatten_mapping(node)


def _hashable(key: Any) -> Any:
    try:
        hash(key)
    except TypeError:
        return ("unhashable", repr(key))
    return (type(key).__name__ if isinstance(key, bool) else "", key)


def load_yaml(text: str | bytes) -> Any:
    """Parse one YAML document strictly (safe types only; see the module docstring).

    Raises:
        yaml.YAMLError: not YAML, a duplicate key, a merge key, a recursive or exploding
            alias (:class:`DuplicateKeyError` for these), or nested too deeply.
    """
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise yaml.YAMLError("the document is nested too deeply") from None


def _unique_object(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise json.JSONDecodeError(f"duplicate key {key[:100]!r}", "", 0)
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"non-finite number {name} is not JSON", "", 0)


def load_json(data: str | bytes) -> Any:
    """Parse JSON strictly: duplicate object keys and NaN/Infinity are refused.

    Raises:
        json.JSONDecodeError: not JSON, a duplicate key or a non-finite number.
        UnicodeDecodeError: the bytes are not UTF-8 (or UTF-16/32 with a BOM).
        RecursionError: nested too deeply.
    """
    return json.loads(data, object_pairs_hook=_unique_object, parse_constant=_no_constant)
