"""Malicious pickles built opcode by opcode: each technique must be seen (never unpickled)."""

from __future__ import annotations

import base64
import struct

import pytest

from kastell.scan import Verdict
from kastell.types import Severity

from . import _pickles as p
from .conftest import Scan


def _rules(result: object) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for finding in result.findings:  # type: ignore[attr-defined]
        found.setdefault(finding.rule_id, []).append(finding.message)
    return found


def _assert_critical(result: object, needle: str, rule: str = "KS-PICKLE-DANGEROUS-CALLABLE"):
    assert result.verdict is Verdict.FINDINGS, result  # type: ignore[attr-defined]
    rules = _rules(result)
    assert rule in rules, rules
    assert any(needle in message for message in rules[rule]), rules[rule]
    severities = {f.severity for f in result.findings if f.rule_id == rule}  # type: ignore[attr-defined]
    assert Severity.CRITICAL in severities


# --- 1-20: known-dangerous callables, each reached through a different opcode path ----------

DANGEROUS_CALLS = [
    ("os", "system", "id"),
    ("posix", "system", "id"),
    ("nt", "system", "dir"),
    ("subprocess", "Popen", "sh"),
    ("subprocess", "check_output", "id"),
    ("builtins", "exec", "import os"),
    ("builtins", "eval", "1+1"),
    ("builtins", "compile", "x"),
    ("builtins", "open", "/etc/passwd"),
    ("importlib", "import_module", "os"),
    ("runpy", "run_path", "x.py"),
    ("timeit", "timeit", "import os"),
    ("cProfile", "run", "import os"),
    ("profile", "run", "import os"),
    ("code", "interact", "x"),
    ("marshal", "loads", "x"),
    ("types", "FunctionType", "x"),
    ("ctypes", "CDLL", "libc.so.6"),
    ("shutil", "rmtree", "/"),
    ("webbrowser", "open", "http://evil"),
    ("socket", "create_connection", "evil"),
    ("pty", "spawn", "/bin/sh"),
    ("builtins", "__import__", "os"),
    ("builtins", "getattr", "x"),
    ("functools", "partial", "x"),
    ("operator", "attrgetter", "system"),
]


@pytest.mark.parametrize(("module", "name", "arg"), DANGEROUS_CALLS,
                         ids=[f"{m}.{n}" for m, n, _ in DANGEROUS_CALLS])
def test_dangerous_callable_via_global_reduce(scan_bytes: Scan, module: str, name: str,
                                              arg: str) -> None:
    result = scan_bytes("model.pkl", p.call(module, name, arg))
    _assert_critical(result, f"{module}.{name}")


def test_protocol0_text_pickle(scan_bytes: Scan) -> None:
    result = scan_bytes("weights.bin", p.call_v0("os", "system", "touch /tmp/x"))
    assert result.format == "pickle"
    _assert_critical(result, "os.system")


def test_protocol4_stack_global(scan_bytes: Scan) -> None:
    _assert_critical(scan_bytes("m.pkl", p.stack_call("subprocess", "run", "id")),
                     "subprocess.run")


def test_stack_global_operands_from_memo(scan_bytes: Scan) -> None:
    # module and name strings are memoized first, then fetched back with BINGET
    data = (p.proto(4) + p.text("os") + p.binput(0) + p.POP + p.text("system") + p.binput(1)
            + p.POP + p.binget(0) + p.binget(1) + p.STACK_GLOBAL + p.MARK + p.text("id")
            + p.TUPLE + p.REDUCE + p.STOP)
    _assert_critical(scan_bytes("m.pkl", data), "os.system")


def test_stack_global_operands_memoized_with_memoize(scan_bytes: Scan) -> None:
    data = (p.proto(4) + p.text("posix") + p.MEMOIZE + p.text("system") + p.MEMOIZE
            + p.STACK_GLOBAL + p.text("id") + p.TUPLE1 + p.REDUCE + p.STOP)
    _assert_critical(scan_bytes("m.pkl", data), "posix.system")


def test_stack_global_from_computed_operands(scan_bytes: Scan) -> None:
    # the module name is the result of a call: it cannot be resolved statically
    data = (p.proto(4) + p.global_op("collections", "OrderedDict") + p.EMPTY_TUPLE + p.REDUCE
            + p.text("system") + p.STACK_GLOBAL + p.text("id") + p.TUPLE1 + p.REDUCE + p.STOP)
    result = scan_bytes("m.pkl", data)
    assert "KS-PICKLE-DYNAMIC-GLOBAL" in _rules(result)


def test_inst_opcode(scan_bytes: Scan) -> None:
    data = p.proto(0)[:0] + p.MARK + b"V id\n" + b"ios\nsystem\n" + p.STOP
    _assert_critical(scan_bytes("m.pkl", data), "os.system")


def test_obj_opcode(scan_bytes: Scan) -> None:
    data = p.proto(1) + p.MARK + p.global_op("os", "system") + p.text("id") + p.OBJ + p.STOP
    _assert_critical(scan_bytes("m.pkl", data), "os.system")


def test_newobj_opcode(scan_bytes: Scan) -> None:
    data = (p.proto(2) + p.global_op("subprocess", "Popen") + p.MARK + p.text("id") + p.TUPLE
            + p.NEWOBJ + p.STOP)
    _assert_critical(scan_bytes("m.pkl", data), "subprocess.Popen")


def test_newobj_ex_opcode(scan_bytes: Scan) -> None:
    data = (p.proto(4) + p.stack_global("subprocess", "Popen") + p.MARK + p.text("id")
            + p.TUPLE + p.EMPTY_DICT + p.NEWOBJ_EX + p.STOP)
    _assert_critical(scan_bytes("m.pkl", data), "subprocess.Popen")


def test_reduce_chain_getattr_then_call(scan_bytes: Scan) -> None:
    # getattr(__import__('os'), 'system')('id'): three REDUCEs, the last on a computed callable
    data = (p.proto(2) + p.global_op("builtins", "getattr") + p.global_op("builtins",
            "__import__") + p.text("os") + p.TUPLE1 + p.REDUCE + p.text("system") + p.TUPLE2
            + p.REDUCE + p.text("id") + p.TUPLE1 + p.REDUCE + p.STOP)
    result = scan_bytes("m.pkl", data)
    _assert_critical(result, "builtins.getattr")
    assert "KS-PICKLE-COMPUTED-CALL" in _rules(result)


def test_build_plants_setstate(scan_bytes: Scan) -> None:
    # an allowlisted object gets __setstate__ = exec via BUILD, a second BUILD would call it
    data = (p.proto(2) + p.global_op("collections", "OrderedDict") + p.EMPTY_TUPLE + p.REDUCE
            + p.NONE + p.EMPTY_DICT + p.text("__setstate__") + p.global_op("builtins", "exec")
            + p.SETITEM + p.TUPLE2 + p.BUILD + p.text("import os") + p.BUILD + p.STOP)
    result = scan_bytes("m.pkl", data)
    assert "KS-PICKLE-SETSTATE-OVERRIDE" in _rules(result)
    _assert_critical(result, "builtins.exec")


def test_build_dunder_dict_state_with_allowlisted_values(scan_bytes: Scan) -> None:
    data = (p.proto(2) + p.global_op("collections", "OrderedDict") + p.EMPTY_TUPLE + p.REDUCE
            + p.EMPTY_DICT + p.text("__reduce_ex__") + p.text("x") + p.SETITEM + p.BUILD
            + p.STOP)
    result = scan_bytes("m.pkl", data)
    assert result.verdict is Verdict.FINDINGS
    assert "KS-PICKLE-SETSTATE-OVERRIDE" in _rules(result)


@pytest.mark.parametrize("opcode", [b"\x82\x01", b"\x83\x01\x02", b"\x84\x01\x02\x03\x04"],
                         ids=["EXT1", "EXT2", "EXT4"])
def test_extension_registry_codes(scan_bytes: Scan, opcode: bytes) -> None:
    data = p.proto(2) + opcode + p.text("id") + p.TUPLE1 + p.REDUCE + p.STOP
    result = scan_bytes("m.pkl", data)
    assert "KS-PICKLE-EXTENSION-CODE" in _rules(result)
    assert result.worst is Severity.CRITICAL


def test_nested_pickle_loads_bytes(scan_bytes: Scan) -> None:
    inner = p.call("os", "system", "id")
    data = (p.proto(3) + p.global_op("pickle", "loads") + p.binbytes(inner) + p.TUPLE1
            + p.REDUCE + p.STOP)
    result = scan_bytes("m.pkl", data)
    rules = _rules(result)
    assert "KS-PICKLE-NESTED" in rules
    nested = [m for m in rules["KS-PICKLE-DANGEROUS-CALLABLE"] if "os.system" in m]
    assert nested
    assert "nested pickle" in nested[0]


def test_nested_pickle_behind_base64(scan_bytes: Scan) -> None:
    inner = p.call("subprocess", "getoutput", "id")
    encoded = base64.b64encode(inner).decode()
    data = (p.proto(2) + p.global_op("_pickle", "loads") + p.global_op("base64", "b64decode")
            + p.text(encoded) + p.TUPLE1 + p.REDUCE + p.TUPLE1 + p.REDUCE + p.STOP)
    result = scan_bytes("m.pkl", data)
    _assert_critical(result, "subprocess.getoutput")


def test_nested_pickle_protocol2_codecs_bytes(scan_bytes: Scan) -> None:
    # protocol 2 writes bytes as _codecs.encode(latin-1 text): the nested pickle hides there
    inner = p.call("os", "system", "id").decode("latin-1")
    data = (p.proto(2) + p.global_op("pickle", "loads") + p.global_op("_codecs", "encode")
            + p.text(inner) + p.text("latin1") + p.TUPLE2 + p.REDUCE + p.TUPLE1 + p.REDUCE
            + p.STOP)
    _assert_critical(scan_bytes("m.pkl", data), "os.system")


def test_nested_pickle_twice(scan_bytes: Scan) -> None:
    inner = p.call("runpy", "run_module", "x")
    middle = (p.proto(3) + p.global_op("pickle", "loads") + p.binbytes(inner) + p.TUPLE1
              + p.REDUCE + p.STOP)
    outer = (p.proto(3) + p.global_op("pickle", "loads") + p.binbytes(middle) + p.TUPLE1
             + p.REDUCE + p.STOP)
    _assert_critical(scan_bytes("m.pkl", outer), "runpy.run_module")


def test_unlisted_callable_is_high(scan_bytes: Scan) -> None:
    result = scan_bytes("m.pkl", p.call("mypkg.evil", "run", "x"))
    assert result.verdict is Verdict.FINDINGS
    assert [f.severity for f in result.findings] == [Severity.HIGH]
    assert result.findings[0].rule_id == "KS-PICKLE-UNLISTED-CALLABLE"


def test_dotted_qualname_reaching_dunder(scan_bytes: Scan) -> None:
    data = (p.proto(4) + p.stack_global("collections", "OrderedDict.__init__.__globals__")
            + p.STOP)
    _assert_critical(scan_bytes("m.pkl", data), "OrderedDict.__init__")


def test_allowlisted_module_with_unlisted_dotted_name(scan_bytes: Scan) -> None:
    data = p.proto(4) + p.stack_global("torch._utils", "_rebuild_tensor_v2.x") + p.STOP
    assert scan_bytes("m.pkl", data).verdict is Verdict.FINDINGS


def test_second_concatenated_pickle(scan_bytes: Scan) -> None:
    benign = p.proto(2) + p.EMPTY_DICT + p.STOP
    result = scan_bytes("m.pkl", benign + p.call("os", "system", "id"))
    _assert_critical(result, "os.system")


def test_trailing_garbage_after_pickle(scan_bytes: Scan) -> None:
    result = scan_bytes("m.pkl", p.proto(2) + p.EMPTY_DICT + p.STOP + b"\xff\xfe junk")
    assert "KS-PICKLE-TRAILING-DATA" in _rules(result)


def test_pytorch_zip_named_pytorch_model_bin(scan_bytes: Scan) -> None:
    result = scan_bytes("pytorch_model.bin", p.torch_zip(p.call("os", "system", "id")))
    assert result.format == "pytorch-zip"
    _assert_critical(result, "os.system")
    assert any(f.location and f.location.member == "archive/data.pkl" for f in result.findings)


def test_pytorch_zip_second_pickle_member(scan_bytes: Scan) -> None:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("m/data.pkl", p.proto(2) + p.EMPTY_DICT + p.STOP)
        archive.writestr("m/extra/constants.pkl", p.call("builtins", "eval", "1"))
    _assert_critical(scan_bytes("model.pt", out.getvalue()), "builtins.eval")


def test_legacy_torch_format_object_pickle(scan_bytes: Scan) -> None:
    magic = p.proto(2) + b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little") + p.STOP
    small = p.proto(2) + b"M\xe9\x03" + p.STOP
    info = p.proto(2) + p.EMPTY_DICT + p.STOP
    data = magic + small + info + p.call("os", "system", "id") + p.proto(2) + b"]" + p.STOP
    result = scan_bytes("old.pt", data + b"\0" * 32)
    assert result.format == "pytorch-legacy"
    _assert_critical(result, "os.system")


def test_numpy_object_array_payload(scan_bytes: Scan) -> None:
    result = scan_bytes("arr.npy", p.npy_object(p.call("os", "system", "id")))
    _assert_critical(result, "os.system")


def test_npz_member_object_array(scan_bytes: Scan) -> None:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.npy", p.npy_object(p.call("subprocess", "call", "id")))
    result = scan_bytes("data.npz", out.getvalue())
    assert result.format == "npz"
    _assert_critical(result, "subprocess.call")


def test_joblib_payload_hidden_after_array_bytes(scan_bytes: Scan) -> None:
    # a joblib NumpyArrayWrapper announces 16 float64 bytes; the payload follows the raw array
    dtype = (p.global_op("numpy", "dtype") + p.text("f8") + b"\x89\x88" + b"\x87" + p.REDUCE
             + p.MARK + b"K\x03" + p.text("<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00"
             + p.TUPLE + p.BUILD)
    state = (p.EMPTY_DICT + p.MARK + p.text("shape") + b"K\x02" + p.TUPLE1 + p.text("order")
             + p.text("C") + p.text("dtype") + dtype + p.text("allow_mmap") + b"\x88"
             + p.text("numpy_array_alignment_bytes") + b"K\x10" + b"u")
    wrapper = (p.global_op("joblib.numpy_pickle", "NumpyArrayWrapper") + p.EMPTY_TUPLE
               + p.NEWOBJ + state + p.BUILD)
    raw = b"\x03" + b"\xff" * 3 + struct.pack("<2d", 1.0, 2.0)
    evil = (p.POP + p.global_op("os", "system") + p.text("id") + p.TUPLE1 + p.REDUCE
            + p.STOP)
    result = scan_bytes("model.joblib", p.proto(4) + wrapper + raw + evil)
    assert result.format == "joblib"
    _assert_critical(result, "os.system")


def test_zlib_compressed_joblib(scan_bytes: Scan) -> None:
    import zlib

    result = scan_bytes("model.joblib", zlib.compress(p.call("os", "system", "id")))
    assert result.format == "joblib-zlib"
    _assert_critical(result, "os.system")


def test_gzip_compressed_pickle(scan_bytes: Scan) -> None:
    import gzip

    result = scan_bytes("m.pkl.gz", gzip.compress(p.call("pty", "spawn", "sh")))
    _assert_critical(result, "pty.spawn")


def test_pickle_inside_plain_zip(scan_bytes: Scan) -> None:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("inner/model.ckpt", p.call("os", "execv", "/bin/sh"))
    _assert_critical(scan_bytes("bundle.zip", out.getvalue()), "os.execv")


def test_pickle_inside_tar(scan_bytes: Scan) -> None:
    import io
    import tarfile

    out = io.BytesIO()
    payload = p.call("os", "popen", "id")
    with tarfile.open(fileobj=out, mode="w") as archive:
        info = tarfile.TarInfo("weights/model.bin")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    _assert_critical(scan_bytes("bundle.tar", out.getvalue()), "os.popen")


def test_raw_pickle_named_pytorch_model_bin(scan_bytes: Scan) -> None:
    # modelscan skipped exactly this file ("0 scanned, no issues"); content decides here
    result = scan_bytes("pytorch_model.bin", p.call("os", "system", "id"))
    assert result.format == "pickle"
    _assert_critical(result, "os.system")


def test_torchscript_archive_with_malicious_constants(scan_bytes: Scan) -> None:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("m/data.pkl", p.proto(2) + p.global_op("__torch__.M", "M")
                         + p.EMPTY_TUPLE + p.NEWOBJ + p.STOP)
        archive.writestr("m/code/__torch__/m.py", "def forward(self): pass\n")
        archive.writestr("m/constants.pkl", p.call("os", "system", "id"))
    result = scan_bytes("scripted.pt", out.getvalue())
    rules = {f.rule_id for f in result.findings}
    assert rules == {"KS-TORCHSCRIPT-CODE", "KS-PICKLE-DANGEROUS-CALLABLE"}


def test_torchscript_class_outside_torchscript_archive_is_unlisted(scan_bytes: Scan) -> None:
    data = p.proto(2) + p.global_op("__torch__.M", "M") + p.EMPTY_TUPLE + p.NEWOBJ + p.STOP
    result = scan_bytes("m.pkl", data)
    assert [f.rule_id for f in result.findings] == ["KS-PICKLE-UNLISTED-CALLABLE"]


def _joblib_wrapper(typestr: str, dstate: bytes) -> bytes:
    dtype = (p.global_op("numpy", "dtype") + p.text(typestr) + b"\x89\x88" + b"\x87" + p.REDUCE
             + p.MARK + b"K\x03" + p.text("<") + dstate + p.TUPLE + p.BUILD)
    state = (p.EMPTY_DICT + p.MARK + p.text("shape") + b"K\x02" + p.TUPLE1 + p.text("order")
             + p.text("C") + p.text("dtype") + dtype + b"u")
    return (p.proto(4) + p.global_op("joblib.numpy_pickle", "NumpyArrayWrapper")
            + p.EMPTY_TUPLE + p.NEWOBJ + state + p.BUILD)


@pytest.mark.parametrize(("typestr", "dstate"), [
    ("float64", b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00"),     # not a NumPy type string
    ("f8", b"NNNK\x40J\xff\xff\xff\xffK\x00"),                       # elsize 64 disagrees
    ("O8", b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00"),          # object without the flag
], ids=["typestr", "elsize", "object-flag"])
def test_joblib_wrapper_with_ambiguous_dtype_is_unscannable(scan_bytes: Scan, typestr: str,
                                                           dstate: bytes) -> None:
    # an emulator that sized the raw array differently from NumPy could be made to skip
    # opcodes joblib executes: ambiguous dtypes are refused
    result = scan_bytes("m.joblib", _joblib_wrapper(typestr, dstate) + b"\0" * 16 + p.STOP)
    assert result.verdict is Verdict.UNSCANNABLE


def test_joblib_second_build_does_not_skip_again(scan_bytes: Scan) -> None:
    # after the array bytes joblib has replaced the wrapper by the array: a second BUILD must
    # not make the emulator skip (and miss) the opcodes that follow
    data = (_joblib_wrapper("f8", b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00")
            + b"\0" * 16 + p.EMPTY_DICT + p.BUILD + p.POP
            + p.global_op("os", "system") + p.text("id") + p.TUPLE1 + p.REDUCE + p.STOP)
    _assert_critical(scan_bytes("m.joblib", data), "os.system")
