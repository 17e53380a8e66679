"""Random and mutated bytes through every parser: no crash, no hang, always a verdict."""

from __future__ import annotations

import io
import pathlib
import struct
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kastell.scan import Verdict
from kastell.scan.engine import scan_blob
from kastell.scan.interface import Blob

from . import _containers as c
from . import _pickles as p

_SEEDS = [
    p.call("os", "system", "id"),
    p.call_v0("os", "system", "id"),
    p.stack_call("builtins", "eval", "1"),
    p.proto(5) + p.EMPTY_DICT + p.text("k") + p.binbytes(b"v") + p.SETITEM + p.STOP,
    p.torch_zip(p.proto(2) + p.EMPTY_DICT + p.STOP),
    p.npy_object(p.call("os", "system", "id")),
    b"\x93NUMPY\x01\x00" + struct.pack("<H", 6) + b"{}    ",
    c.gguf({"general.architecture": "llama", "tokenizer.chat_template": "{{ m.x }}"}, 1),
    c.safetensors({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8),
    c.onnx_model((("Add", ""), ("X", "com.x")), external=("w.bin",)),
    c.keras_archive({"class_name": "Sequential", "config": {"layers": []}}),
    c.zip_with({"a.json": b"{}", "../b": b"x"}),
    c.tar_with({"a.json": b"{}"}),
    b'{"chat_template": "{{ x }}"}',
    b"\x89HDF\r\n\x1a\n" + b"\0" * 64,
]


def _verdict_of(data: bytes) -> Verdict:
    blob = Blob(path="fuzz", member=None, size=len(data), opener=lambda: io.BytesIO(data))
    result = scan_blob(blob)
    assert result.verdict in set(Verdict)
    if result.verdict is Verdict.UNSCANNABLE:
        assert result.reasons
    if result.verdict is Verdict.CLEAN:
        assert not result.findings
    return result.verdict


@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes_end_in_a_verdict(data: bytes) -> None:
    _verdict_of(data)


@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_SEEDS), st.lists(
    st.tuples(st.integers(min_value=0, max_value=4095), st.integers(min_value=0, max_value=255)),
    min_size=1, max_size=6), st.integers(min_value=0, max_value=4096))
def test_mutated_samples_end_in_a_verdict(seed: bytes, flips: list[tuple[int, int]],
                                          cut: int) -> None:
    data = bytearray(seed)
    for index, value in flips:
        data[index % len(data)] = value
    _verdict_of(bytes(data[: max(1, len(data) - cut % 16)]))


@settings(max_examples=100, deadline=2000)
@given(st.sampled_from([s for s in _SEEDS if not s.startswith(b"PK")]),
       st.integers(min_value=0, max_value=255))
def test_mutated_member_inside_zip(seed: bytes, value: int) -> None:
    data = bytearray(seed)
    data[len(data) // 2] = value
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("m/x.bin", bytes(data))
    _verdict_of(out.getvalue())


def test_seeds_are_not_all_clean(tmp_path: pathlib.Path) -> None:
    # the fuzz seeds include malicious and malformed samples: they must not pass
    verdicts = [_verdict_of(seed) for seed in _SEEDS]
    assert Verdict.FINDINGS in verdicts
    assert Verdict.CLEAN in verdicts


@settings(max_examples=200, deadline=2000)
@given(st.text(alphabet=st.sampled_from(list("{}%#()[]|.'\"_~ abcxyz=,\n\\")), max_size=200))
def test_template_checker_never_raises(template: str) -> None:
    from kastell.scan.chat_template import check_template

    for issue in check_template(template):
        assert issue.rule_id.startswith("KS-TEMPLATE-")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=2000)
@given(st.dictionaries(st.sampled_from(["a", "b", "__metadata__"]), _JSON, max_size=3),
       st.integers(min_value=0, max_value=64))
def test_safetensors_header_checks_never_raise(header: dict[str, object], size: int) -> None:
    from kastell.scan.safetensors_file import safetensors_problems

    problems = safetensors_problems(header, size)
    assert all(isinstance(problem, str) for problem in problems)


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=256))
def test_onnx_parser_either_parses_or_says_why(data: bytes) -> None:
    from kastell.scan.interface import UnscannableInputError
    from kastell.scan.onnx_file import parse_onnx

    why = ""
    try:
        facts = parse_onnx(b"\x08\x07" + data)
    except UnscannableInputError as error:
        why = error.message
    else:
        assert facts.has_graph
        assert facts.ir_version > 0
    assert why or facts.has_graph
