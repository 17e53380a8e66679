"""Hypothesis strategies of structural variants around a marker payload (differential tests).

A variant is a small record of structural choices (protocol, how the global is spelled,
frames, decoys, trailing bytes, joblib wrappers and compression, torch containers); ``build``
turns it into the bytes of a file whose payload is ``builtins.open(MARKER, "w")``. Files are
assembled byte by byte; they are only ever loaded by the real loaders in a child process.
"""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import io
import lzma
import struct
import zipfile
import zlib

from hypothesis import strategies as st

from . import _loader_cases as cases
from . import _pickles as p


@dataclasses.dataclass(frozen=True)
class Variant:
    """One structural variant of a payload-carrying file."""

    loader: str  # pickle, joblib, torch
    protocol: int
    spelling: str  # GLOBAL, STACK_GLOBAL, memo
    framed: bool
    frame_leftover: bool
    decoys: int
    trailing: bytes
    wrapper: str  # none, newobj, reconstructor (joblib)
    compression: str  # none, zlib, gzip, bz2, xz (joblib); stored, deflated (torch zip)
    container: str  # raw, zip, legacy (torch)
    zip_prefix: bytes
    duplicate: str  # none, first, last (torch zip: a benign data.pkl listed before/after)
    hidden: str = "none"
    """A placement only the loader's reading exposes (one of the ``_loader_cases`` files)."""


_HIDDEN = {
    "joblib": {"frame": cases.joblib_frame, "reconstructor": cases.joblib_reconstructor},
    "torch": {"frame-decoys": cases.legacy_torch_frame_decoys,
              "v7-tar": cases.legacy_torch_v7_tar,
              "two-directories": cases.torch_zip_two_directories},
}


def _global(module: str, name: str, spelling: str) -> bytes:
    if spelling == "GLOBAL":
        return p.global_op(module, name)
    if spelling == "STACK_GLOBAL":
        return p.text(module) + p.text(name) + p.STACK_GLOBAL
    return (p.text(module) + p.binput(200) + p.POP + p.text(name) + p.binput(201) + p.POP
            + p.binget(200) + p.binget(201) + p.STACK_GLOBAL)


def payload_ops(marker: str, spelling: str) -> bytes:
    """``builtins.open(marker, "w")`` with the global spelled as asked."""
    return _global("builtins", "open", spelling) + p.text(marker) + p.text("w") + p.TUPLE2 \
        + p.REDUCE


def _wrap(body: bytes, variant: Variant) -> bytes:
    """PROTO + body + STOP, the body inside a FRAME when asked (protocol 4+)."""
    head = p.proto(variant.protocol) if variant.protocol >= 2 else b""
    if variant.framed and variant.protocol >= 4:
        leftover = b"N." * 4 if variant.frame_leftover else b""
        return head + cases.frame(body + p.STOP + leftover)
    return head + body + p.STOP


def build(variant: Variant, marker: str) -> bytes:
    """The file of ``variant`` with its marker payload."""
    if variant.hidden != "none":
        raw = _HIDDEN[variant.loader][variant.hidden](marker)
        if variant.loader == "joblib":
            return _COMPRESS[variant.compression](raw + variant.trailing)
        return raw
    if variant.loader == "joblib":
        return _joblib(variant, marker)
    decoy = p.proto(2) + p.EMPTY_DICT + p.STOP
    data = decoy * variant.decoys + _wrap(payload_ops(marker, variant.spelling), variant)
    if variant.loader == "pickle":
        return data + variant.trailing
    if variant.container == "legacy":
        magic = p.proto(2) + cases._long1(0x1950A86A20F9469CFC6C) + p.STOP
        return (magic + p.proto(2) + cases.binint(1001) + p.STOP + cases._sys_info()
                + _wrap(payload_ops(marker, variant.spelling), variant)
                + p.proto(2) + b"]" + p.STOP + variant.trailing)
    return _torch_zip(_wrap(payload_ops(marker, variant.spelling), variant), variant)


def _joblib(variant: Variant, marker: str) -> bytes:
    payload = payload_ops(marker, variant.spelling) + p.POP
    if variant.wrapper == "none":
        raw = _wrap(payload + p.NONE, variant)
    else:
        new = (cases._wrapper_new() if variant.wrapper == "newobj"
               else cases._wrapper_reconstructed())
        array = b"\x00" * 4
        before = new + cases._wrapper_state(len(array)) + p.BUILD
        head = p.proto(variant.protocol)
        if variant.framed and variant.protocol >= 4:
            # joblib reads the array bytes from the file, after the frame
            raw = head + cases.frame(before + payload + p.STOP) + array
        else:
            raw = head + before + array + payload + p.STOP
    return _COMPRESS[variant.compression](raw + variant.trailing)


def _same(data: bytes) -> bytes:
    return data


_COMPRESS = {"none": _same, "zlib": zlib.compress, "gzip": gzip.compress,
             "bz2": bz2.compress, "xz": lzma.compress}


def _torch_zip(data_pkl: bytes, variant: Variant) -> bytes:
    out = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if variant.compression == "deflated" else zipfile.ZIP_STORED
    benign = p.proto(2) + p.EMPTY_DICT + p.STOP
    with zipfile.ZipFile(out, "w", method) as archive:
        if variant.duplicate == "first":
            archive.writestr("archive/data.pkl", benign)
        archive.writestr("archive/data.pkl", data_pkl)
        if variant.duplicate == "last":
            archive.writestr("archive/data.pkl", benign)
        archive.writestr("archive/version", "3\n")
        archive.writestr("archive/byteorder", "little")
    return variant.zip_prefix + out.getvalue() + variant.trailing


_TRAILING = st.sampled_from([b"", b"\x80\x02N.", b"garbage", struct.pack("<Q", 7)])


@st.composite
def variants(draw: st.DrawFn, loader: str) -> Variant:
    """A structural variant for ``loader`` (pickle, joblib or torch)."""
    protocol = draw(st.integers(min_value=2, max_value=5))
    container = draw(st.sampled_from(["zip", "legacy"])) if loader == "torch" else "raw"
    compression = "none"
    if loader == "joblib":
        compression = draw(st.sampled_from(["none", "zlib", "gzip", "bz2", "xz"]))
    elif container == "zip":
        compression = draw(st.sampled_from(["stored", "deflated"]))
    return Variant(
        loader=loader, protocol=protocol,
        spelling=draw(st.sampled_from(["GLOBAL", "STACK_GLOBAL", "memo"])),
        framed=draw(st.booleans()), frame_leftover=draw(st.booleans()),
        decoys=draw(st.integers(min_value=0, max_value=2)) if loader != "joblib" else 0,
        trailing=draw(_TRAILING),
        wrapper=draw(st.sampled_from(["none", "newobj", "reconstructor"]))
        if loader == "joblib" else "none",
        compression=compression, container=container,
        zip_prefix=draw(st.sampled_from([b"", b"PREFIX" * 3])) if container == "zip" else b"",
        duplicate=draw(st.sampled_from(["none", "first", "last"]))
        if container == "zip" else "none",
        hidden=draw(st.sampled_from(["none", *_HIDDEN[loader]])) if loader in _HIDDEN
        else "none",
    )
