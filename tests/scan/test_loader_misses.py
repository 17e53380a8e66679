"""The files of issue 12 that Kastell read differently from the real loader.

Each file is built byte by byte around a marker payload. The first tests check Kastell reports
each one; the differential tests load the same bytes with the real loader in a throw-away
subprocess and check the marker payload really runs there (so each case is a real miss, not
a file no loader would open).
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import pytest

from kastell.scan import Verdict, scan_file

from . import _loader_cases as cases
from ._real_loaders import run_loader
from .conftest import Scan

LOADER_CASES: list[tuple[str, Callable[[str], bytes], str, str]] = [
    ("joblib", cases.joblib_frame, "KS-PICKLE-DANGEROUS-CALLABLE", "builtins.open"),
    ("joblib", cases.joblib_reconstructor, "KS-PICKLE-DANGEROUS-CALLABLE", "builtins.open"),
    ("torch", cases.legacy_torch_frame_decoys, "KS-PICKLE-DANGEROUS-CALLABLE", "builtins.open"),
    ("torch", cases.legacy_torch_v7_tar, "KS-PICKLE-DANGEROUS-CALLABLE", "builtins.open"),
    ("torch", cases.torch_zip_two_directories, "KS-SCAN-AMBIGUOUS", "central directory"),
]
IDS = [build.__name__ for _, build, _, _ in LOADER_CASES]


def _messages(result: object, rule: str) -> list[str]:
    return [f.message for f in result.findings if f.rule_id == rule]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("loader", "build", "rule", "needle"), LOADER_CASES, ids=IDS)
def test_kastell_reports_what_the_loader_runs(scan_bytes: Scan, loader: str,
                                              build: Callable[[str], bytes], rule: str,
                                              needle: str) -> None:
    result = scan_bytes("model.bin", build("MARKER"))
    assert result.verdict is Verdict.FINDINGS, result
    assert any(needle in message for message in _messages(result, rule)), result.findings


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize(("loader", "build", "rule", "needle"), LOADER_CASES, ids=IDS)
def test_the_real_loader_runs_the_marker(tmp_path: pathlib.Path, loader: str,
                                         build: Callable[[str], bytes], rule: str,
                                         needle: str) -> None:
    marker = tmp_path / "MARKER"
    path = tmp_path / "model.bin"
    path.write_bytes(build(str(marker)))
    done = run_loader(loader, path, tmp_path)
    assert marker.exists(), done.stderr[-2000:]
    assert scan_file(path).verdict is Verdict.FINDINGS


def test_frame_stop_leaves_the_stream_at_the_frame_end(scan_bytes: Scan) -> None:
    # STOP inside a frame: the next pickle starts at the frame's end (where the payload is)
    first = b"\x80\x04" + cases.frame(b"N." + cases.marker_pickle("x"))
    result = scan_bytes("model.bin", first + b"\x80\x02N.")
    assert "KS-PICKLE-AMBIGUOUS" in {f.rule_id for f in result.findings}


def test_opcode_crossing_a_frame_end_is_unscannable(scan_bytes: Scan) -> None:
    data = b"\x80\x04" + cases.frame(b"\x8c\x05ab") + b"cde."
    result = scan_bytes("model.bin", data)
    assert result.verdict is Verdict.UNSCANNABLE
    assert any("frame" in reason for reason in result.reasons)


def test_gguf_duplicate_template_key(scan_bytes: Scan) -> None:
    result = scan_bytes("model.gguf", cases.gguf_duplicate_template())
    assert _messages(result, "KS-SCAN-AMBIGUOUS")
    # the first value (the one older readers keep) is checked too
    assert _messages(result, "KS-TEMPLATE-SANDBOX-ESCAPE")


def test_setstate_planted_through_a_call_built_state(scan_bytes: Scan) -> None:
    result = scan_bytes("model.pkl", cases.setstate_via_ordereddict())
    assert any("__setstate__" in m for m in _messages(result, "KS-PICKLE-SETSTATE-OVERRIDE"))


def test_setstate_in_a_pair_list_state(scan_bytes: Scan) -> None:
    from . import _pickles as p

    pairs = (b"]" + p.MARK + p.text("__reduce_ex__") + p.global_op("builtins", "str")
             + p.TUPLE2[:0] + b"\x86" + b"e")
    state = p.global_op("collections", "OrderedDict") + pairs + p.TUPLE1 + p.REDUCE
    data = (p.proto(2) + p.global_op("collections", "OrderedDict") + p.EMPTY_TUPLE + p.REDUCE
            + state + p.BUILD + p.STOP)
    result = scan_bytes("model.pkl", data)
    assert _messages(result, "KS-PICKLE-SETSTATE-OVERRIDE")


def test_joblib_zlib_of_a_large_zero_array_is_clean(tmp_path: pathlib.Path) -> None:
    joblib = pytest.importorskip("joblib")
    numpy = pytest.importorskip("numpy")
    path = tmp_path / "zeros.joblib"
    joblib.dump(numpy.zeros((512, 512)), path, compress="zlib")
    result = scan_file(path)
    assert result.verdict is Verdict.CLEAN, result.reasons


def test_legacy_torch_trailing_bytes_after_storages(tmp_path: pathlib.Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.arange(4.0)}, path, _use_new_zipfile_serialization=False)
    assert scan_file(path).verdict is Verdict.CLEAN
    path.write_bytes(path.read_bytes() + b"\x80\x02N.")
    assert "KS-PICKLE-TRAILING-DATA" in {f.rule_id for f in scan_file(path).findings}
