"""Bounds: each one crossed makes the file unscannable and names the bound (never a hang).

Small limits are passed in so the tests stay tiny; no test is timed.
"""

from __future__ import annotations

import bz2
import dataclasses
import io
import pathlib
import zipfile

import pytest

from kastell.scan import ScanLimits, Verdict, scan_file
from kastell.scan._pickle_values import KEEP_ITEMS, DictValue, ListValue

from . import _pickles as p


def _scan(tmp_path: pathlib.Path, data: bytes, **limits: object) -> tuple[Verdict, str]:
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    result = scan_file(path, limits=dataclasses.replace(ScanLimits(), **limits))
    return result.verdict, "; ".join(result.reasons)


def test_stack_bound(tmp_path: pathlib.Path) -> None:
    verdict, why = _scan(tmp_path, b"\x80\x04" + b"]" * 500 + b".", max_pickle_stack=100)
    assert verdict is Verdict.UNSCANNABLE
    assert "max_stack" in why


def test_memo_bound(tmp_path: pathlib.Path) -> None:
    verdict, why = _scan(tmp_path, b"\x80\x04" + b"N\x940" * 500 + b"N.", max_pickle_memo=100)
    assert verdict is Verdict.UNSCANNABLE
    assert "max_memo" in why


def test_cpu_budget(tmp_path: pathlib.Path) -> None:
    verdict, why = _scan(tmp_path, b"\x80\x04" + b"]0" * 10_000 + b"N.", cpu_seconds=0.0,
                         cpu_seconds_per_mib=0.0)
    assert verdict is Verdict.UNSCANNABLE
    assert "cpu_seconds" in why


def test_cpu_budget_in_archives(tmp_path: pathlib.Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for index in range(3):
            archive.writestr(f"m{index}.pkl", p.proto(2) + p.NONE + p.STOP)
    verdict, why = _scan(tmp_path, out.getvalue(), cpu_seconds=0.0, cpu_seconds_per_mib=0.0)
    assert verdict is Verdict.UNSCANNABLE
    assert "cpu_seconds" in why


def test_stream_expansion_bound(tmp_path: pathlib.Path) -> None:
    data = bz2.compress(b"\x80\x04" + b"]0" * 500_000 + b"N.")
    verdict, why = _scan(tmp_path, data, max_stream_ratio=2, bomb_min_bytes=1024)
    assert verdict is Verdict.UNSCANNABLE
    assert "max_stream_ratio" in why


def test_many_concatenated_pickles(tmp_path: pathlib.Path) -> None:
    verdict, why = _scan(tmp_path, b"N." * 5000)
    assert verdict is Verdict.UNSCANNABLE
    assert "concatenated" in why


def test_containers_are_summarised_but_dunder_keys_kept() -> None:
    mapping = DictValue()
    mapping.set_items([(f"k{i}", None) for i in range(KEEP_ITEMS + 10)])
    mapping.set_items([("__setstate__", None)])
    assert len(mapping.items) == KEEP_ITEMS
    assert mapping.count == KEEP_ITEMS + 11
    assert mapping.dunder_keys == ["__setstate__"]
    assert mapping.get("k5") is None
    assert mapping.get("k1") is None
    values = ListValue(list(range(KEEP_ITEMS + 5)))
    assert len(values.items) == KEEP_ITEMS
    assert values.count == KEEP_ITEMS + 5


@pytest.mark.parametrize("size", [0, 1, 4096])
def test_setstate_seen_past_the_kept_items(tmp_path: pathlib.Path, size: int) -> None:
    pairs = b"".join(p.text(f"k{i}") + p.NONE for i in range(size))
    data = (p.proto(2) + p.global_op("collections", "OrderedDict") + p.EMPTY_TUPLE + p.REDUCE
            + p.EMPTY_DICT + p.MARK + pairs + p.text("__reduce__") + p.NONE + b"u" + p.BUILD
            + p.STOP)
    path = tmp_path / "f.pkl"
    path.write_bytes(data)
    rules = {f.rule_id for f in scan_file(path).findings}
    assert "KS-PICKLE-SETSTATE-OVERRIDE" in rules
