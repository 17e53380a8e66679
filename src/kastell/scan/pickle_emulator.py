"""Static analysis of pickle streams (protocols 0-5) by emulating the pickle machine.

Nothing is ever unpickled. Opcodes are decoded with ``pickletools``' table; this module keeps the
machine's stack and memo with symbolic values, so that it sees every import (``GLOBAL``,
``STACK_GLOBAL`` from memo entries, ``INST``), every call (``REDUCE``, ``OBJ``, ``NEWOBJ``,
``NEWOBJ_EX``), ``BUILD`` states that plant ``__setstate__``, extension-registry codes
(``EXT1/2/4``) and the bytes handed to nested ``pickle.loads`` calls.

joblib writes NumPy array bytes between pickle opcodes; the emulator knows that layout and
skips those bytes (or scans the nested pickle of an object array) instead of failing. Frames
are read as the unpicklers read them (``_frames``): the array bytes come from after the frame.

Bounded by construction: memory follows the emulated stack and memo (both capped; containers
keep a bounded number of items and summarise the rest), lookups are hashed, and a CPU deadline
stops the emulation. Crossing a bound makes the stream unscannable, naming the bound.
"""

from __future__ import annotations

import dataclasses
import pickletools
import time
from collections.abc import Callable
from typing import IO, Any

from kastell.scan._frames import FramedSource
from kastell.scan._joblib_layout import joblib_array_layout, joblib_wrapper
from kastell.scan._pickle_values import (
    KEEP_ITEMS,
    MARK,
    UNKNOWN,
    CallValue,
    DictValue,
    GlobalValue,
    ListValue,
    SetValue,
    constant_bytes,
    state_keys,
)
from kastell.scan._stream import BoundedReader, MemoryReader, PickleSource
from kastell.scan.interface import UnscannableInputError

__all__ = [
    "Anomaly",
    "GlobalRef",
    "NestedPickle",
    "PickleAnalysis",
    "PickleBounds",
    "analyse_pickle",
]

_NESTED_LOADERS = frozenset({
    "pickle.loads", "_pickle.loads", "pickle._loads", "pickle.load", "_pickle.load",
    "pickle._load", "dill.loads", "cloudpickle.loads", "numpy.loads", "torch.load",
    "joblib.load", "pandas.read_pickle",
})
_CONSTANT_OPS = frozenset({
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
    "STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
    "BYTEARRAY8", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
})
_MAX_RECOVERED = 64 << 20
"""Bytes of nested pickles recovered per stream (beyond: the nested call is still a finding)."""


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
    frame_leftover: int
    """Frame bytes after STOP: loaders disagree where the next pickle of the file starts."""
    persistent_ids: tuple[Any, ...]
    """The (symbolic) persistent ids, in order (legacy PyTorch storages are described there)."""
    first_value: Any
    """The value left on the stack at STOP (symbolic); used to recognise legacy formats."""


@dataclasses.dataclass(frozen=True)
class PickleBounds:
    """The bounds one emulation runs under (crossing one makes the stream unscannable)."""

    max_ops: int = 50_000_000
    max_stack: int = 1_000_000
    max_memo: int = 2_000_000
    deadline: float | None = None
    """``time.process_time()`` value after which the emulation stops (the CPU budget)."""


class _MalformedError(Exception):
    pass


class _Machine:
    """The emulated stack, memo and what has been seen so far."""

    def __init__(self, bounds: PickleBounds) -> None:
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}
        self.protocol = 0
        self.bounds = bounds
        self.globals: list[GlobalRef] = []
        self.anomalies: list[Anomaly] = []
        self.nested: list[NestedPickle] = []
        self.recovered = 0
        self.persistent: list[Any] = []
        self.table: dict[str, Callable[[Any, int], None]] = self._table()

    def pop(self) -> Any:
        if not self.stack:
            raise _MalformedError("stack underflow")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise _MalformedError("stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        stack = self.stack
        for index in range(len(stack) - 1, -1, -1):
            if stack[index] is MARK:
                items = stack[index + 1:]
                del stack[index:]
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
                data = constant_bytes(first) if self.recovered < _MAX_RECOVERED else None
                self.recovered += len(data) if data is not None else 0
                self.nested.append(NestedPickle(pos, qualified, data))
        return CallValue(callee, args)

    def build(self, pos: int) -> None:
        state = self.pop()
        target = self.top()
        for key in dict.fromkeys(state_keys(state)):
            self.anomalies.append(
                Anomaly("SETSTATE-OVERRIDE", pos, f"BUILD sets attribute {key!r}"))
        if isinstance(target, CallValue):
            target.state = state

    # --- the opcode table -------------------------------------------------------------------

    def _table(self) -> dict[str, Callable[[Any, int], None]]:
        push = self.stack.append
        table: dict[str, Callable[[Any, int], None]] = {}
        for name in _CONSTANT_OPS:
            table[name] = self._constant
        table.update({
            "NONE": lambda arg, pos: push(None), "NEWTRUE": lambda arg, pos: push(True),
            "NEWFALSE": lambda arg, pos: push(False),
            "BINPUT": self._put, "PUT": self._put, "LONG_BINPUT": self._put,
            "MEMOIZE": lambda arg, pos: self._put(len(self.memo), pos),
            "BINGET": self._get, "GET": self._get, "LONG_BINGET": self._get,
            "MARK": lambda arg, pos: push(MARK),
            "EMPTY_TUPLE": lambda arg, pos: push(()),
            "TUPLE": lambda arg, pos: push(tuple(self.pop_mark())),
            "TUPLE1": lambda arg, pos: push((self.pop(),)),
            "TUPLE2": lambda arg, pos: self._tuple(2),
            "TUPLE3": lambda arg, pos: self._tuple(3),
            "EMPTY_LIST": lambda arg, pos: push(ListValue()),
            "LIST": lambda arg, pos: push(ListValue(self.pop_mark())),
            "EMPTY_DICT": lambda arg, pos: push(DictValue()),
            "DICT": lambda arg, pos: push(DictValue(_pairs(self.pop_mark()))),
            "EMPTY_SET": lambda arg, pos: push(SetValue()),
            "FROZENSET": lambda arg, pos: push(SetValue(self.pop_mark())),
            "APPEND": lambda arg, pos: self._extend([self.pop()]),
            "APPENDS": lambda arg, pos: self._extend(self.pop_mark()),
            "ADDITEMS": lambda arg, pos: self._extend(self.pop_mark()),
            "SETITEM": lambda arg, pos: self._setitems(_pairs(self._pop_two())),
            "SETITEMS": lambda arg, pos: self._setitems(_pairs(self.pop_mark())),
            "POP": lambda arg, pos: self.pop(),
            "POP_MARK": lambda arg, pos: self._pop_mark(),
            "DUP": lambda arg, pos: push(self.top()),
            "GLOBAL": self._global, "INST": self._inst,
            "STACK_GLOBAL": self._stack_global,
            "REDUCE": lambda arg, pos: self._reduce("REDUCE", pos),
            "NEWOBJ": lambda arg, pos: self._reduce("NEWOBJ", pos),
            "OBJ": self._obj, "NEWOBJ_EX": self._newobj_ex,
            "BUILD": lambda arg, pos: self.build(pos),
            "PERSID": lambda arg, pos: self._persid(arg),
            "BINPERSID": lambda arg, pos: self._binpersid(),
            "EXT1": self._ext, "EXT2": self._ext, "EXT4": self._ext,
            "NEXT_BUFFER": lambda arg, pos: push(UNKNOWN),
            "READONLY_BUFFER": lambda arg, pos: None,
            "PROTO": self._proto,
        })
        return table

    def _constant(self, arg: Any, pos: int) -> None:
        self.stack.append(arg)

    def _pop_mark(self) -> None:
        self.pop_mark()

    def _put(self, arg: Any, pos: int) -> None:
        memo = self.memo
        if len(memo) >= self.bounds.max_memo and arg not in memo:
            raise _MalformedError(f"memo over {self.bounds.max_memo} entries (bound max_memo)")
        memo[arg] = self.top()

    def _get(self, arg: Any, pos: int) -> None:
        if arg not in self.memo:
            raise _MalformedError(f"memo key {arg} read before it was written")
        self.stack.append(self.memo[arg])

    def _tuple(self, count: int) -> None:
        items = [self.pop() for _ in range(count)]
        items.reverse()
        self.stack.append(tuple(items))

    def _pop_two(self) -> list[Any]:
        value, key = self.pop(), self.pop()
        return [key, value]

    def _extend(self, items: list[Any]) -> None:
        target = self.top()
        if isinstance(target, ListValue):
            target.extend(items)

    def _setitems(self, pairs: list[tuple[Any, Any]]) -> None:
        target = self.top()
        if isinstance(target, DictValue | CallValue):
            target.set_items(pairs)

    def _binpersid(self) -> None:
        self._persid(self.pop())

    def _persid(self, pid: Any) -> None:
        if len(self.persistent) < KEEP_ITEMS:
            self.persistent.append(pid)
        self.stack.append(UNKNOWN)

    def _ext(self, arg: Any, pos: int) -> None:
        self.anomalies.append(Anomaly("EXTENSION-CODE", pos, f"EXT code {arg}"))
        self.stack.append(UNKNOWN)

    def _proto(self, arg: Any, pos: int) -> None:
        if not 0 <= int(arg) <= 5:
            raise _MalformedError(f"unsupported pickle protocol {arg}")
        self.protocol = int(arg)

    def _global(self, arg: Any, pos: int) -> None:
        module, _, attr = str(arg).partition(" ")
        self.stack.append(self.add_global(module, attr, pos, "GLOBAL"))

    def _inst(self, arg: Any, pos: int) -> None:
        module, _, attr = str(arg).partition(" ")
        glob = self.add_global(module, attr, pos, "INST")
        self.stack.append(self.call(glob, tuple(self.pop_mark()), pos, "INST"))

    def _stack_global(self, arg: Any, pos: int) -> None:
        attr, module = self.pop(), self.pop()
        if isinstance(module, str) and isinstance(attr, str):
            self.stack.append(self.add_global(module, attr, pos, "STACK_GLOBAL"))
        else:
            self.anomalies.append(Anomaly(
                "DYNAMIC-GLOBAL", pos, "STACK_GLOBAL operands are not string constants"))
            self.stack.append(UNKNOWN)

    def _reduce(self, op: str, pos: int) -> None:
        args = self.pop()
        self.stack.append(self.call(self.pop(), args, pos, op))

    def _obj(self, arg: Any, pos: int) -> None:
        items = self.pop_mark()
        if not items:
            raise _MalformedError("OBJ without a class")
        self.stack.append(self.call(items[0], tuple(items[1:]), pos, "OBJ"))

    def _newobj_ex(self, arg: Any, pos: int) -> None:
        kwargs, args = self.pop(), self.pop()
        self.stack.append(self.call(self.pop(), (args, kwargs), pos, "NEWOBJ_EX"))


def _pairs(items: list[Any]) -> list[tuple[Any, Any]]:
    return list(zip(items[::2], items[1::2], strict=False))


_BY_CODE: dict[bytes, tuple[str, Callable[[Any], Any] | None]] = {
    op.code.encode("latin-1"): (op.name, op.arg.reader if op.arg is not None else None)
    for op in pickletools.opcodes
}
"""Opcode byte -> (name, argument reader), from ``pickletools`` (the stdlib's own table)."""


def _run(reader: FramedSource, machine: _Machine, depth: int) -> tuple[int, int]:
    """Emulate up to STOP; return (opcodes, frame bytes left after STOP)."""
    try:
        return _loop(reader, machine, depth)
    except (ValueError, EOFError, OverflowError, MemoryError) as error:
        raise _MalformedError(str(error)) from None


def _loop(reader: FramedSource, machine: _Machine, depth: int) -> tuple[int, int]:
    bounds = machine.bounds
    table, stack, by_code = machine.table, machine.stack, _BY_CODE
    max_stack = bounds.max_stack
    read, tell = reader.read, reader.tell
    count = 0
    while True:
        pos = tell()
        code = read(1)
        entry = by_code.get(code)
        if entry is None:
            raise _MalformedError(f"opcode {code!r} unknown at byte {pos}" if code
                                  else "pickle ended before STOP")
        name, arg_reader = entry
        arg = arg_reader(reader) if arg_reader is not None else None
        count += 1
        if not count & 0xFFF:
            _check_bounds(count, bounds)
        handler = table.get(name)
        if handler is not None:
            handler(arg, pos)
        elif name == "STOP":
            return count, reader.end_pickle()
        elif name == "FRAME":
            reader.start_frame(int(arg or 0))
        else:
            raise _MalformedError(f"opcode {name} is not supported")
        if len(stack) > max_stack:
            raise _MalformedError(f"stack over {max_stack} items (bound max_stack)")
        if name == "BUILD" and stack and joblib_wrapper(stack[-1]):
            count += _skip_joblib_array(reader, machine, stack[-1], depth)
            stack[-1] = UNKNOWN  # joblib replaces the wrapper with the array


def _check_bounds(count: int, bounds: PickleBounds) -> None:
    if count > bounds.max_ops:
        raise _MalformedError(f"more than {bounds.max_ops} opcodes (bound max_pickle_ops)")
    if bounds.deadline is not None and time.process_time() > bounds.deadline:
        raise _MalformedError("CPU budget of the file used up (bound cpu_seconds)")


def _skip_joblib_array(reader: FramedSource, machine: _Machine, wrapper: CallValue,
                       depth: int) -> int:
    """Skip (or scan) the array bytes joblib reads from the file handle after the wrapper."""
    layout = joblib_array_layout(wrapper)
    if layout is None:
        raise _MalformedError("joblib array wrapper with an unreadable shape or dtype")
    size, padded, is_object = layout
    raw = reader.raw  # joblib reads from the file, after the current frame
    if is_object:
        if depth > 8:
            raise _MalformedError("joblib object arrays nested too deeply")
        inner = _Machine(machine.bounds)
        count, left = _run(FramedSource(raw), inner, depth + 1)
        machine.globals.extend(inner.globals)
        machine.anomalies.extend(inner.anomalies)
        machine.nested.extend(inner.nested)
        if left:
            machine.anomalies.append(_leftover_anomaly(raw.tell(), left))
        return count
    if padded:
        padding = raw.read(1)
        if len(padding) != 1:
            raise _MalformedError("joblib array padding byte missing")
        if raw.skip(padding[0]) != padding[0]:
            raise _MalformedError("joblib array padding truncated")
    if raw.skip(size) != size:
        raise _MalformedError(f"joblib array data truncated ({size} bytes expected)")
    return 0


def _leftover_anomaly(offset: int, left: int) -> Anomaly:
    return Anomaly("AMBIGUOUS", offset, f"STOP inside a FRAME with {left} frame bytes after it: "
                   "unpicklers disagree where the next pickle starts")


def analyse_pickle(
    stream: IO[bytes] | BoundedReader | MemoryReader, *, size: int | None,
    max_ops: int = 50_000_000,
    max_line: int = 16 << 20,
    bounds: PickleBounds | None = None,
) -> PickleAnalysis:
    """Emulate one pickle stream from the current position of ``stream`` up to its STOP.

    When STOP falls inside a frame, the stream is left at the frame's end, where the
    unpicklers start the next ``load`` of the same file.

    Args:
        stream: a readable binary stream positioned at the start of the pickle.
        size: bytes left in the stream, when known (reads are bounded by it).
        max_ops: the largest number of opcodes to emulate (when ``bounds`` is not given).
        max_line: the longest newline-terminated argument (protocol 0) accepted.
        bounds: stack, memo, opcode and CPU bounds.

    Raises:
        UnscannableInputError: the stream is not a well-formed pickle (truncated, unknown
            opcode, stack or memo misuse, unsupported protocol, over a bound).
    """
    base: PickleSource
    if isinstance(stream, BoundedReader | MemoryReader):
        base = stream
    else:
        base = BoundedReader(stream, size, max_line=max_line)
    reader = FramedSource(base)
    machine = _Machine(bounds or PickleBounds(max_ops=max_ops))
    try:
        count, left = _run(reader, machine, 0)
    except _MalformedError as error:
        raise UnscannableInputError(
            f"malformed pickle at byte {reader.tell()}: {error}"
        ) from None
    if left:
        machine.anomalies.append(_leftover_anomaly(base.tell(), left))
    first = machine.stack[-1] if machine.stack else None
    return PickleAnalysis(
        protocol=machine.protocol,
        globals=tuple(machine.globals),
        anomalies=tuple(machine.anomalies),
        nested=tuple(machine.nested),
        opcodes=count,
        end_offset=base.tell(),
        frame_leftover=left,
        persistent_ids=tuple(machine.persistent),
        first_value=first,
    )
