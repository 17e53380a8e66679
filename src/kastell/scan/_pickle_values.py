"""Symbolic values of the pickle emulator (private).

The emulator never builds real objects: constants stay Python constants, containers become
small records, and every import or call becomes a ``GlobalValue`` or ``CallValue``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import zlib
from typing import Any

__all__: list[str] = []


class MarkValue:
    """The MARK sentinel on the emulated stack."""


class UnknownValue:
    """A value the emulator cannot know statically (persistent ids, buffers, ...)."""


MARK = MarkValue()
UNKNOWN = UnknownValue()


@dataclasses.dataclass(frozen=True, slots=True)
class GlobalValue:
    """An imported ``module.name``."""

    module: str
    name: str


KEEP_ITEMS = 1 << 16
"""Items a container keeps; past this it only counts them (memory stays bounded)."""


def _is_dunder(key: Any) -> bool:
    return isinstance(key, str) and key.startswith("__") and key.endswith("__")


class _Mapping:
    """Key/value pairs with a hashed index and the dunder keys ever stored (private base)."""

    __slots__ = ("_index", "count", "dunder_keys", "pairs")

    def __init__(self, pairs: list[tuple[Any, Any]] | None = None) -> None:
        self.pairs: list[tuple[Any, Any]] | None = None
        self._index: dict[Any, Any] | None = None
        self.dunder_keys: list[str] | None = None
        self.count = 0
        if pairs:
            self.set_items(pairs)

    def set_items(self, pairs: list[tuple[Any, Any]]) -> None:
        """Store pairs (SETITEM/SETITEMS/DICT); dunder keys are noted whatever the size."""
        for key, value in pairs:
            if _is_dunder(key):
                if self.dunder_keys is None:
                    self.dunder_keys = []
                self.dunder_keys.append(key)
            self.count += 1
            if self.count > KEEP_ITEMS:
                continue
            if self.pairs is None:
                self.pairs, self._index = [], {}
            self.pairs.append((key, value))
            if isinstance(key, str | int | bytes):
                self._index[key] = value  # type: ignore[index]

    def get(self, key: str) -> Any:
        """The last value stored under a string key, or None."""
        return self._index.get(key) if self._index is not None else None

    @property
    def items(self) -> list[tuple[Any, Any]]:
        """The pairs kept (the first ``KEEP_ITEMS``)."""
        return self.pairs if self.pairs is not None else []


class CallValue(_Mapping):
    """The result of calling ``callee`` with ``args`` (REDUCE, NEWOBJ, OBJ, INST).

    Items set on it later (``OrderedDict()`` + SETITEMS) are kept like a dict's.
    """

    __slots__ = ("args", "callee", "state")

    def __init__(self, callee: Any, args: Any, state: Any = None) -> None:
        super().__init__()
        self.callee = callee
        self.args = args
        self.state = state


class DictValue(_Mapping):
    """A dict under construction (pairs kept in order; keys may be unhashable)."""

    __slots__ = ()


class ListValue:
    """A list, set or frozenset under construction (items kept up to ``KEEP_ITEMS``)."""

    __slots__ = ("count", "kept")

    def __init__(self, items: list[Any] | None = None) -> None:
        self.kept: list[Any] | None = None
        self.count = 0
        if items:
            self.extend(items)

    def extend(self, items: list[Any]) -> None:
        """Append items (APPEND/APPENDS/ADDITEMS)."""
        room = KEEP_ITEMS - self.count
        self.count += len(items)
        if room > 0:
            if self.kept is None:
                self.kept = []
            self.kept.extend(items[:room])

    @property
    def items(self) -> list[Any]:
        """The items kept."""
        return self.kept if self.kept is not None else []


class SetValue(ListValue):
    """A set or frozenset under construction."""

    __slots__ = ()


def state_keys(state: Any, depth: int = 0) -> list[str]:
    """Dunder keys a BUILD state sets, however the state was built (dict, call, pair list)."""
    if depth > 4:
        return []
    found: list[str] = []
    if isinstance(state, DictValue | CallValue):
        found.extend(state.dunder_keys or ())
    if isinstance(state, CallValue) and isinstance(state.args, tuple):
        # OrderedDict([(k, v), ...]), dict(...), NEWOBJ_EX kwargs: every pair and mapping
        for arg in state.args[:4]:
            found.extend(state_keys(arg, depth + 1))
    elif isinstance(state, ListValue | tuple):
        items = state.items if isinstance(state, ListValue) else list(state)
        for item in items[:4096]:
            if isinstance(item, tuple) and item and _is_dunder(item[0]):
                found.append(item[0])
            elif isinstance(item, tuple | ListValue | DictValue | CallValue):
                found.extend(state_keys(item, depth + 1))
    return found


_MAX_DECODED = 64 << 20


def _is_global(value: Any, *names: str) -> bool:
    return isinstance(value, GlobalValue) and f"{value.module}.{value.name}" in names


def _decode_call(call: CallValue) -> bytes | None:
    args = call.args if isinstance(call.args, tuple) else ()
    first = constant_bytes(args[0]) if args else None
    if first is None:
        text = args[0] if args and isinstance(args[0], str) else None
        first = text.encode("latin-1", "replace") if text is not None else None
    if first is None:
        return None
    callee = call.callee
    try:
        if _is_global(callee, "_codecs.encode", "codecs.encode"):
            return first
        if _is_global(callee, "base64.b64decode", "base64.standard_b64decode",
                      "base64.urlsafe_b64decode", "base64.decodebytes", "binascii.a2b_base64"):
            return base64.b64decode(first + b"==", validate=False)
        if _is_global(callee, "binascii.unhexlify", "binascii.a2b_hex", "base64.b16decode"):
            return binascii.unhexlify(first)
        if _is_global(callee, "zlib.decompress"):
            return zlib.decompressobj().decompress(first, _MAX_DECODED)
        if _is_global(callee, "codecs.decode", "_codecs.decode") and len(args) > 1:
            codec = str(args[1]).lower().replace("_", "").replace("-", "")
            if codec in {"base64", "base64codec"}:
                return base64.b64decode(first + b"==", validate=False)
            if codec in {"hex", "hexcodec"}:
                return binascii.unhexlify(first)
            if codec in {"zlib", "zlibcodec", "zip"}:
                return zlib.decompressobj().decompress(first, _MAX_DECODED)
        if _is_global(callee, "io.BytesIO", "_io.BytesIO"):
            return first
    except (binascii.Error, zlib.error, ValueError):
        return None
    return None


def constant_bytes(value: Any) -> bytes | None:
    """The bytes a value is known to hold statically (decoding simple wrappers), or None."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, CallValue):
        return _decode_call(value)
    return None
