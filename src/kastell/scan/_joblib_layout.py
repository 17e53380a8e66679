"""The byte layout of a NumPy array that joblib writes between pickle opcodes (private).

joblib pickles a ``NumpyArrayWrapper`` and then writes the array's raw bytes (optionally after
an alignment padding byte); an object array is a nested pickle instead. The emulator must skip
exactly those bytes, so the size is computed as NumPy would and anything ambiguous is refused.
"""

from __future__ import annotations

import re
from typing import Any

from kastell.scan._pickle_values import CallValue, DictValue, GlobalValue

__all__ = ["joblib_array_layout", "joblib_wrapper"]

_JOBLIB_WRAPPERS = frozenset({
    "joblib.numpy_pickle.NumpyArrayWrapper",
    "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
})
_RECONSTRUCTORS = frozenset({"copyreg._reconstructor", "copy_reg._reconstructor"})

_TYPESTR = re.compile(r"^[<>|=]?([biufcSUVMm])(\d+)$")


def _joblib_itemsize(typestr: str, dstate: tuple[Any, ...]) -> int | None:
    """Bytes per element, or None when the type string and the state disagree.

    The size decides how many raw bytes joblib reads after the wrapper; computing it
    differently from NumPy would let a crafted file hide opcodes from the emulator, so
    anything ambiguous is refused (and the file is unscannable).
    """
    match = _TYPESTR.match(typestr)
    if match is None:
        return None
    kind, digits = match.group(1), int(match.group(2))
    size = digits * 4 if kind == "U" else digits
    declared = dstate[5] if len(dstate) > 5 and isinstance(dstate[5], int) else -1
    if size <= 0 or (declared > 0 and declared != size):
        return None
    return size


def joblib_array_layout(wrapper: CallValue) -> tuple[int, bool, bool] | None:
    """(payload bytes, has padding byte, is object array) of a joblib NumpyArrayWrapper."""
    state = wrapper.state
    if not isinstance(state, DictValue):
        return None
    shape = state.get("shape")
    dtype = state.get("dtype")
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        return None
    if not isinstance(dtype, CallValue) or not isinstance(dtype.args, tuple) or not dtype.args:
        return None
    typestr = dtype.args[0]
    if not isinstance(typestr, str):
        return None
    dstate = dtype.state if isinstance(dtype.state, tuple) else ()
    flags = dstate[7] if len(dstate) > 7 and isinstance(dstate[7], int) else 0
    has_object = bool(flags & 1)
    if typestr.startswith("O") != has_object and not typestr.lstrip("<>|=").startswith("V"):
        return None  # type and flags disagree: NumPy and the emulator could read differently
    if has_object:
        return 0, False, True
    itemsize = _joblib_itemsize(typestr, dstate)
    if itemsize is None:
        return None
    count = 1
    for n in shape:
        count *= n
    padded = state.get("numpy_array_alignment_bytes") is not None
    return count * itemsize, padded, False


def joblib_wrapper(value: Any) -> bool:
    """Whether ``value`` is a joblib ``NumpyArrayWrapper`` instance (joblib checks isinstance)."""
    if not isinstance(value, CallValue) or not isinstance(value.callee, GlobalValue):
        return False
    qualified = f"{value.callee.module}.{value.callee.name}"
    if qualified in _JOBLIB_WRAPPERS:
        return True
    if qualified in _RECONSTRUCTORS and isinstance(value.args, tuple) and value.args:
        cls = value.args[0]
        return isinstance(cls, GlobalValue) and f"{cls.module}.{cls.name}" in _JOBLIB_WRAPPERS
    return False
