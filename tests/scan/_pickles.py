"""Byte-level builders of pickle streams and model containers for the scanner tests.

Malicious samples are assembled opcode by opcode; nothing here ever unpickles anything.
"""

from __future__ import annotations

import io
import struct
import zipfile

PROTO = b"\x80"
STOP = b"."
MARK = b"("
REDUCE = b"R"
BUILD = b"b"
TUPLE = b"t"
TUPLE1 = b"\x85"
TUPLE2 = b"\x86"
EMPTY_TUPLE = b")"
EMPTY_DICT = b"}"
SETITEM = b"s"
MEMOIZE = b"\x94"
STACK_GLOBAL = b"\x93"
NEWOBJ = b"\x81"
NEWOBJ_EX = b"\x92"
OBJ = b"o"
NONE = b"N"
POP = b"0"


def proto(n: int) -> bytes:
    return PROTO + bytes([n])


def text(value: str) -> bytes:
    """SHORT_BINUNICODE (or BINUNICODE when long)."""
    raw = value.encode("utf-8")
    if len(raw) < 256:
        return b"\x8c" + bytes([len(raw)]) + raw
    return b"X" + struct.pack("<I", len(raw)) + raw


def binbytes(raw: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(raw)) + raw


def global_op(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def stack_global(module: str, name: str) -> bytes:
    return text(module) + text(name) + STACK_GLOBAL


def binput(index: int) -> bytes:
    return b"q" + bytes([index])


def binget(index: int) -> bytes:
    return b"h" + bytes([index])


def call(module: str, name: str, *args: str, protocol: int = 2) -> bytes:
    """``module.name(*args)`` as GLOBAL + args tuple + REDUCE."""
    body = global_op(module, name) + MARK + b"".join(text(a) for a in args) + TUPLE + REDUCE
    return proto(protocol) + body + STOP


def call_v0(module: str, name: str, arg: str) -> bytes:
    """Protocol 0: ``cmodule\\nname\\n(Varg\\ntR.``."""
    return global_op(module, name) + MARK + b"V" + arg.encode() + b"\n" + TUPLE + REDUCE + STOP


def stack_call(module: str, name: str, *args: str) -> bytes:
    """Protocol 4: STACK_GLOBAL + args + REDUCE."""
    body = stack_global(module, name) + MARK + b"".join(text(a) for a in args) + TUPLE + REDUCE
    return proto(4) + body + STOP


def torch_zip(data_pkl: bytes, prefix: str = "archive") -> bytes:
    """A PyTorch zip checkpoint with the given ``data.pkl``."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{prefix}/data.pkl", data_pkl)
        archive.writestr(f"{prefix}/version", "3\n")
        archive.writestr(f"{prefix}/byteorder", "little")
        archive.writestr(f"{prefix}/data/0", b"\0" * 64)
    return out.getvalue()


def npy_object(payload: bytes) -> bytes:
    """An npy file of an object array whose payload is ``payload``."""
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload
