"""Attacks on the loader-mirroring readers: ways to make them say clean, each a test."""

from __future__ import annotations

import io
import struct
import warnings
import zipfile

from kastell.scan import Verdict

from . import _loader_cases as cases
from . import _pickles as p
from .conftest import Scan


def _rules(result: object) -> set[str]:
    return {f.rule_id for f in result.findings}  # type: ignore[attr-defined]


# --- frames ----------------------------------------------------------------------------------

def test_frame_inside_an_unfinished_frame(scan_bytes: Scan) -> None:
    inner = cases.frame(cases.marker_call("x") + p.STOP)
    data = p.proto(4) + cases.frame(p.NONE + p.POP + inner)
    assert scan_bytes("m.pkl", data).verdict is not Verdict.CLEAN


def test_frame_longer_than_the_file(scan_bytes: Scan) -> None:
    data = p.proto(4) + b"\x95" + struct.pack("<Q", 1 << 40) + p.NONE + p.STOP
    assert scan_bytes("m.pkl", data).verdict is Verdict.UNSCANNABLE


def test_protocol0_line_crossing_a_frame_end(scan_bytes: Scan) -> None:
    data = p.proto(4) + cases.frame(b"cbuiltins\nop") + b"en\n)R."
    assert scan_bytes("m.pkl", data).verdict is not Verdict.CLEAN


# --- joblib wrappers -------------------------------------------------------------------------

def test_wrapper_with_a_slot_state_tuple(scan_bytes: Scan) -> None:
    # (None, {...}) state: a layout Kastell does not read exactly must not become "clean"
    state = cases._wrapper_state(5)
    data = (p.proto(2) + cases._wrapper_new() + p.NONE + state + b"\x86" + p.BUILD
            + b"B\x05\x00\x00\x00" + cases.marker_call("x") + p.POP + p.STOP)
    assert scan_bytes("m.pkl", data).verdict is not Verdict.CLEAN


def test_wrapper_built_twice(scan_bytes: Scan) -> None:
    # BUILD on an already-read wrapper: joblib reads the array once, on the first BUILD
    data = (p.proto(2) + cases._wrapper_new() + cases._wrapper_state(1) + p.BUILD + b"\x00"
            + p.EMPTY_DICT + p.BUILD + cases.marker_call("x") + p.POP + p.STOP)
    assert "KS-PICKLE-DANGEROUS-CALLABLE" in _rules(scan_bytes("m.pkl", data))


def test_wrapper_through_the_memo(scan_bytes: Scan) -> None:
    data = (p.proto(2) + p.global_op("joblib.numpy_pickle", "NumpyArrayWrapper") + p.binput(3)
            + p.POP + p.binget(3) + p.EMPTY_TUPLE + p.NEWOBJ + cases._wrapper_state(5) + p.BUILD
            + b"B" + struct.pack("<I", 23) + cases.marker_call("x") + p.POP + p.STOP)
    assert "KS-PICKLE-DANGEROUS-CALLABLE" in _rules(scan_bytes("m.pkl", data))


# --- zips ------------------------------------------------------------------------------------

def _torch_zip(*pickles: bytes) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as archive:
        warnings.simplefilter("ignore")  # the duplicate name is the point
        for data in pickles:
            archive.writestr("archive/data.pkl", data)
        archive.writestr("archive/version", "3\n")
    return out.getvalue()


def test_zip_duplicate_member_names(scan_bytes: Scan) -> None:
    data = _torch_zip(cases.marker_pickle("x"), p.proto(2) + p.EMPTY_DICT + p.STOP)
    rules = _rules(scan_bytes("m.pt", data))
    assert {"KS-SCAN-AMBIGUOUS", "KS-PICKLE-DANGEROUS-CALLABLE"} <= rules


def test_zip_with_a_prefix(scan_bytes: Scan) -> None:
    data = b"\x80\x02N." + _torch_zip(p.proto(2) + p.EMPTY_DICT + p.STOP)
    assert scan_bytes("m.pt", data).verdict is not Verdict.CLEAN


def test_zip_with_a_second_end_record_in_the_comment(scan_bytes: Scan) -> None:
    good = _torch_zip(p.proto(2) + p.EMPTY_DICT + p.STOP)
    eocd = good.rfind(b"PK\x05\x06")
    fake = good[eocd:eocd + 20] + b"\x00\x00"
    data = good[:eocd + 20] + struct.pack("<H", len(fake)) + fake
    assert scan_bytes("m.pt", data).verdict is not Verdict.CLEAN


# --- tar / pickle polyglot -------------------------------------------------------------------

def test_tar_that_is_also_a_pickle(scan_bytes: Scan) -> None:
    tar = bytearray(cases.legacy_torch_v7_tar("x"))
    payload = b"\x80\x02" + cases.marker_call("x") + b"."
    tar[0:len(payload)] = payload  # the first member's name field holds a pickle
    tar[148:156] = b" " * 8
    tar[148:156] = b"%06o\0 " % sum(tar[:512])
    rules = _rules(scan_bytes("m.bin", bytes(tar)))
    assert {"KS-SCAN-AMBIGUOUS", "KS-PICKLE-DANGEROUS-CALLABLE"} <= rules
