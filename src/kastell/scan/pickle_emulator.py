"""Static analysis of pickle streams (protocols 0-5) by emulating the pickle machine.

Nothing is ever unpickled. The opcodes come from ``pickletools.genops``; this module keeps the
machine's stack and memo with symbolic values, so that it sees every import (``GLOBAL``,
``STACK_GLOBAL`` from memo entries, ``INST``), every call (``REDUCE``, ``OBJ``, ``NEWOBJ``,
``NEWOBJ_EX``), ``BUILD`` states that plant ``__setstate__``, extension-registry codes
(``EXT1/2/4``) and the bytes handed to nested ``pickle.loads`` calls.

joblib writes NumPy array bytes between pickle opcodes; the emulator knows that layout and
skips those bytes (or scans the nested pickle of an object array) instead of failing.
"""

from __future__ import annotations

import dataclasses
import pickletools
from collections.abc import Iterator
from typing import IO, Any

from kastell.scan._joblib_layout import joblib_array_layout
from kastell.scan._pickle_values import (
    MARK,
    UNKNOWN,
    CallValue,
    DictValue,
    GlobalValue,
    ListValue,
    MarkValue,
    SetValue,
    constant_bytes,
)
from kastell.scan._stream import BoundedReader, MemoryReader, PickleSource
from kastell.scan.interface import UnscannableInputError

__all__ = [
    "Anomaly",
    "GlobalRef",
    "NestedPickle",
    "PickleAnalysis",
    "analyse_pickle",
]

_NESTED_LOADERS = frozenset({
    "pickle.loads", "_pickle.loads", "pickle._loads", "pickle.load", "_pickle.load",
    "pickle._load", "dill.loads", "cloudpickle.loads", "numpy.loads", "torch.load",
    "joblib.load", "pandas.read_pickle",
})
_JOBLIB_WRAPPERS = frozenset({
    "joblib.numpy_pickle.NumpyArrayWrapper",
    "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
})
_CONSTANT_OPS = frozenset({
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
    "STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
    "BYTEARRAY8", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
})
_FIXED = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_CALL_OPS = frozenset({"GLOBAL", "INST", "STACK_GLOBAL", "REDUCE", "OBJ", "NEWOBJ", "NEWOBJ_EX",
                       "BUILD"})


@dataclasses.dataclass(frozen=True)
class GlobalRef:
    """One import of ``module.name`` at a byte offset."""

    module: str
    name: str
    offset: int
    opcode: str


@dataclasses.dataclass(frozen=True)
class Anomaly:
    """A construct the policy reports whatever the callables (kind is a rule suffix)."""

    kind: str
    offset: int
    detail: str


@dataclasses.dataclass(frozen=True)
class NestedPickle:
    """Bytes handed to a nested unpickler (``pickle.loads`` and friends)."""

    offset: int
    loader: str
    data: bytes | None
    """The nested pickle, when it could be recovered statically."""


@dataclasses.dataclass(frozen=True)
class PickleAnalysis:
    """Everything the emulator saw in one pickle stream."""

    protocol: int
    globals: tuple[GlobalRef, ...]
    anomalies: tuple[Anomaly, ...]
    nested: tuple[NestedPickle, ...]
    opcodes: int
    end_offset: int
    first_value: Any
    """The value left on the stack at STOP (symbolic); used to recognise legacy formats."""


class _MalformedError(Exception):
    pass


class _Machine:
    """The emulated stack, memo and what has been seen so far."""

    def __init__(self) -> None:
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}
        self.protocol = 0
        self.globals: list[GlobalRef] = []
        self.anomalies: list[Anomaly] = []
        self.nested: list[NestedPickle] = []

    def pop(self) -> Any:
        if not self.stack:
            raise _MalformedError("stack underflow")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise _MalformedError("stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        for index in range(len(self.stack) - 1, -1, -1):
            if isinstance(self.stack[index], MarkValue):
                items = self.stack[index + 1:]
                del self.stack[index:]
                return items
        raise _MalformedError("MARK expected on the stack")

    def add_global(self, module: str, name: str, pos: int, op: str) -> GlobalValue:
        self.globals.append(GlobalRef(module, name, pos, op))
        return GlobalValue(module, name)

    def call(self, callee: Any, args: Any, pos: int, op: str) -> CallValue:
        if not isinstance(callee, GlobalValue):
            what = "an unresolved value" if callee is UNKNOWN else type(callee).__name__
            self.anomalies.append(Anomaly("COMPUTED-CALL", pos, f"{op} calls {what}"))
        else:
            qualified = f"{callee.module}.{callee.name}"
            if qualified in _NESTED_LOADERS:
                first = args[0] if isinstance(args, tuple) and args else None
                self.nested.append(NestedPickle(pos, qualified, constant_bytes(first)))
        return CallValue(callee, args)

    def build(self, pos: int) -> None:
        state = self.pop()
        target = self.top()
        dicts = [state] if isinstance(state, DictValue) else []
        if isinstance(state, tuple) and len(state) == 2:
            dicts = [part for part in state if isinstance(part, DictValue)]
        for mapping in dicts:
            for key, _ in mapping.items:
                if isinstance(key, str) and key.startswith("__") and key.endswith("__"):
                    self.anomalies.append(
                        Anomaly("SETSTATE-OVERRIDE", pos, f"BUILD sets attribute {key!r}")
                    )
        if isinstance(target, CallValue):
            target.state = state

    def step(self, name: str, arg: Any, pos: int) -> None:  # noqa: C901 - one opcode table
        stack = self.stack
        if name in _CONSTANT_OPS:
            stack.append(arg)
        elif name in _FIXED:
            stack.append(_FIXED[name])
        elif name in ("BINPUT", "PUT", "LONG_BINPUT"):
            self.memo[arg] = self.top()
        elif name == "MEMOIZE":
            self.memo[len(self.memo)] = self.top()
        elif name in ("BINGET", "GET", "LONG_BINGET"):
            if arg not in self.memo:
                raise _MalformedError(f"memo key {arg} read before it was written")
            stack.append(self.memo[arg])
        elif name == "MARK":
            stack.append(MARK)
        elif name in ("EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3"):
            count = {"EMPTY_TUPLE": 0, "TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}.get(name)
            if count is None:
                stack.append(tuple(self.pop_mark()))
            else:
                items = [self.pop() for _ in range(count)][::-1]
                stack.append(tuple(items))
        elif name == "EMPTY_LIST":
            stack.append(ListValue())
        elif name == "LIST":
            stack.append(ListValue(self.pop_mark()))
        elif name == "EMPTY_DICT":
            stack.append(DictValue())
        elif name == "DICT":
            items = self.pop_mark()
            stack.append(DictValue(list(zip(items[::2], items[1::2], strict=False))))
        elif name in ("EMPTY_SET", "FROZENSET"):
            stack.append(SetValue(self.pop_mark() if name == "FROZENSET" else []))
        else:
            self._step_more(name, arg, pos)

    def _step_more(self, name: str, arg: Any, pos: int) -> None:  # noqa: C901 - opcode table
        stack = self.stack
        if name in ("APPEND", "APPENDS", "ADDITEMS"):
            items = [self.pop()] if name == "APPEND" else self.pop_mark()
            target = self.top()
            if isinstance(target, ListValue | SetValue):
                target.items.extend(items)
        elif name in ("SETITEM", "SETITEMS"):
            if name == "SETITEM":
                value, key = self.pop(), self.pop()
                pairs = [(key, value)]
            else:
                items = self.pop_mark()
                pairs = list(zip(items[::2], items[1::2], strict=False))
            target = self.top()
            if isinstance(target, DictValue):
                target.items.extend(pairs)
        elif name == "POP":
            self.pop()
        elif name == "POP_MARK":
            self.pop_mark()
        elif name == "DUP":
            stack.append(self.top())
        elif name in _CALL_OPS:
            self._step_call(name, arg, pos)
        elif name in ("PERSID", "BINPERSID"):
            if name == "BINPERSID":
                self.pop()
            stack.append(UNKNOWN)
        elif name in ("EXT1", "EXT2", "EXT4"):
            self.anomalies.append(Anomaly("EXTENSION-CODE", pos, f"{name} code {arg}"))
            stack.append(UNKNOWN)
        elif name == "NEXT_BUFFER":
            stack.append(UNKNOWN)
        elif name == "PROTO":
            if not 0 <= int(arg) <= 5:
                raise _MalformedError(f"unsupported pickle protocol {arg}")
            self.protocol = int(arg)
        elif name not in ("FRAME", "READONLY_BUFFER", "STOP"):
            raise _MalformedError(f"opcode {name} is not supported")

    def _step_call(self, name: str, arg: Any, pos: int) -> None:
        """Imports, calls and BUILD."""
        stack = self.stack
        if name in ("GLOBAL", "INST"):
            module, _, attr = str(arg).partition(" ")
            glob = self.add_global(module, attr, pos, name)
            stack.append(glob if name == "GLOBAL" else self.call(glob, tuple(self.pop_mark()),
                                                                 pos, name))
        elif name == "STACK_GLOBAL":
            attr, module = self.pop(), self.pop()
            if isinstance(module, str) and isinstance(attr, str):
                stack.append(self.add_global(module, attr, pos, name))
            else:
                self.anomalies.append(Anomaly(
                    "DYNAMIC-GLOBAL", pos, "STACK_GLOBAL operands are not string constants"))
                stack.append(UNKNOWN)
        elif name == "REDUCE":
            args = self.pop()
            stack.append(self.call(self.pop(), args, pos, name))
        elif name == "OBJ":
            items = self.pop_mark()
            if not items:
                raise _MalformedError("OBJ without a class")
            stack.append(self.call(items[0], tuple(items[1:]), pos, name))
        elif name == "NEWOBJ":
            args = self.pop()
            stack.append(self.call(self.pop(), args, pos, name))
        elif name == "NEWOBJ_EX":
            kwargs, args = self.pop(), self.pop()
            stack.append(self.call(self.pop(), (args, kwargs), pos, name))
        elif name == "BUILD":
            self.build(pos)


def _ops(reader: PickleSource) -> Iterator[tuple[str, Any, int]]:
    try:
        for opcode, arg, pos in pickletools.genops(reader):  # type: ignore[arg-type]
            yield opcode.name, arg, pos if pos is not None else -1
    except (ValueError, EOFError, OverflowError, MemoryError) as error:
        raise _MalformedError(str(error)) from None


def _run(reader: PickleSource, machine: _Machine, max_ops: int, depth: int) -> int:
    count = 0
    for name, arg, pos in _ops(reader):
        count += 1
        if count > max_ops:
            raise _MalformedError(f"more than {max_ops} opcodes")
        machine.step(name, arg, pos)
        if name == "STOP":
            return count
        if name == "BUILD":
            target = machine.stack[-1] if machine.stack else None
            if (isinstance(target, CallValue) and isinstance(target.callee, GlobalValue)
                    and f"{target.callee.module}.{target.callee.name}" in _JOBLIB_WRAPPERS):
                count += _skip_joblib_array(reader, machine, target, max_ops, depth)
                machine.stack[-1] = UNKNOWN  # joblib replaces the wrapper with the array
    raise _MalformedError("pickle ended before STOP")


def _skip_joblib_array(
    reader: PickleSource, machine: _Machine, wrapper: CallValue, max_ops: int, depth: int,
) -> int:
    layout = joblib_array_layout(wrapper)
    if layout is None:
        raise _MalformedError("joblib array wrapper with an unreadable shape or dtype")
    size, padded, is_object = layout
    if is_object:
        if depth > 8:
            raise _MalformedError("joblib object arrays nested too deeply")
        inner = _Machine()
        count = _run(reader, inner, max_ops, depth + 1)
        machine.globals.extend(inner.globals)
        machine.anomalies.extend(inner.anomalies)
        machine.nested.extend(inner.nested)
        return count
    if padded:
        padding = reader.read(1)
        if len(padding) != 1:
            raise _MalformedError("joblib array padding byte missing")
        reader.skip(padding[0])
    reader.skip(size)
    return 0


def analyse_pickle(
    stream: IO[bytes] | BoundedReader | MemoryReader, *, size: int | None,
    max_ops: int = 50_000_000,
    max_line: int = 16 << 20,
) -> PickleAnalysis:
    """Emulate one pickle stream from the current position of ``stream`` up to its STOP.

    Args:
        stream: a readable binary stream positioned at the start of the pickle.
        size: bytes left in the stream, when known (reads are bounded by it).
        max_ops: the largest number of opcodes to emulate.
        max_line: the longest newline-terminated argument (protocol 0) accepted.

    Raises:
        UnscannableInputError: the stream is not a well-formed pickle (truncated, unknown
            opcode, stack or memo misuse, unsupported protocol, over a limit).
    """
    reader: PickleSource
    if isinstance(stream, BoundedReader | MemoryReader):
        reader = stream
    else:
        reader = BoundedReader(stream, size, max_line=max_line)
    machine = _Machine()
    try:
        count = _run(reader, machine, max_ops, 0)
    except _MalformedError as error:
        raise UnscannableInputError(
            f"malformed pickle at byte {reader.tell()}: {error}"
        ) from None
    first = machine.stack[-1] if machine.stack else None
    return PickleAnalysis(
        protocol=machine.protocol,
        globals=tuple(machine.globals),
        anomalies=tuple(machine.anomalies),
        nested=tuple(machine.nested),
        opcodes=count,
        end_offset=reader.tell(),
        first_value=first,
    )
