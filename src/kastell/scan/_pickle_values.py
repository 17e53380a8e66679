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


@dataclasses.dataclass(frozen=True)
class GlobalValue:
    """An imported ``module.name``."""

    module: str
    name: str


@dataclasses.dataclass(eq=False)
class CallValue:
    """The result of calling ``callee`` with ``args`` (REDUCE, NEWOBJ, OBJ, INST)."""

    callee: Any
    args: Any
    state: Any = None


@dataclasses.dataclass(eq=False)
class ListValue:
    """A list under construction."""

    items: list[Any] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(eq=False)
class DictValue:
    """A dict under construction (pairs kept in order; keys may be unhashable)."""

    items: list[tuple[Any, Any]] = dataclasses.field(default_factory=list)

    def get(self, key: str) -> Any:
        """The last value stored under a string key, or None."""
        found = None
        for k, v in self.items:
            if k == key:
                found = v
        return found


@dataclasses.dataclass(eq=False)
class SetValue:
    """A set or frozenset under construction."""

    items: list[Any] = dataclasses.field(default_factory=list)


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
