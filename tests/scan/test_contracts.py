"""Contracts: registered scanners, rules and catalog mappings, identification, policy files."""

from __future__ import annotations

import io
import pathlib
import zipfile

import pytest
import yaml

from kastell.scan import (
    PicklePolicy,
    PolicyFileError,
    ScanTargetError,
    UnsafeModelFileError,
    Verdict,
    load_policy,
    require_clean,
    scan_file,
    scan_paths,
)
from kastell.scan.engine import scan_blob
from kastell.scan.identify import identify
from kastell.scan.interface import Blob
from kastell.scan.pickle_policy import CallableClass
from kastell.scan.registry import REGISTRY, registered_scanners, scanner_for
from kastell.scan.rules import RULES

from . import _containers as c
from . import _pickles as p

_CATALOG = pathlib.Path(__file__).resolve().parents[2] / "src/kastell/comply/data/controls.yaml"


def _catalog_ids() -> set[str]:
    document = yaml.safe_load(_CATALOG.read_text(encoding="utf-8"))
    return {control["id"] for control in document["controls"]}


@pytest.mark.parametrize("scanner", registered_scanners(),
                         ids=[s.meta.name for s in registered_scanners()])
def test_scanner_metadata(scanner: object) -> None:
    meta = scanner.meta  # type: ignore[attr-defined]
    assert meta.name
    assert meta.formats
    assert meta.version.count(".") == 2
    assert meta.description
    assert set(meta.rules) <= set(RULES), set(meta.rules) - set(RULES)
    for fmt in meta.formats:
        assert scanner_for(fmt) is scanner
    table = {formats for _, name, formats in REGISTRY if name == type(scanner).__name__}
    assert table == {meta.formats}


def test_every_rule_mapping_exists_in_catalog() -> None:
    known = _catalog_ids()
    for rule in RULES.values():
        assert rule.mappings, rule.rule_id
        missing = set(rule.mappings) - known
        assert not missing, f"{rule.rule_id} maps to unknown controls {missing}"


def test_every_identified_format_has_a_scanner() -> None:
    produced = {"zip", "tar", "pickle", "numpy", "gguf", "hdf5", "safetensors", "onnx", "json",
                "joblib-zlib", "joblib-gzip", "joblib-bz2", "joblib-xz", "joblib-lzma",
                "pytorch-zip", "pytorch-tar", "keras", "npz"}
    for fmt in produced:
        assert scanner_for(fmt) is not None


@pytest.mark.parametrize(("data", "expected"), [
    (p.call("os", "system", "x"), "pickle"),
    (p.call_v0("os", "system", "x"), "pickle"),
    (c.safetensors({}, b""), "safetensors"),
    (c.gguf({}), "gguf"),
    (c.onnx_model((("Add", ""),)), "onnx"),
    (b"\x93NUMPY\x01\x00", "numpy"),
    (b"PK\x03\x04rest", "zip"),
    (b"\x89HDF\r\n\x1a\n", "hdf5"),
    (b'{"a": 1}', "json"),
    (b"", "empty"),
    (b"hello world", "unknown"),
])
def test_identify_by_content(data: bytes, expected: str) -> None:
    assert identify(data[:4096], len(data)) == expected


def test_extension_is_ignored(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(p.call("os", "system", "id"))
    result = scan_file(path)
    assert result.format == "pickle"
    assert result.verdict is Verdict.FINDINGS


def test_every_file_counted_and_empty_file_unscannable(tmp_path: pathlib.Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "empty.bin").write_bytes(b"")
    (tmp_path / "ok.pkl").write_bytes(p.proto(2) + p.EMPTY_DICT + p.STOP)
    (tmp_path / "link.pkl").symlink_to(tmp_path / "ok.pkl")
    (tmp_path / "dirlink").symlink_to(tmp_path / "sub")
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    report = scan_paths([tmp_path])
    by_name = {pathlib.Path(r.path).name: r for r in report.files}
    assert set(by_name) == {"empty.bin", "ok.pkl", "link.pkl", "dirlink", "dangling"}
    assert by_name["empty.bin"].verdict is Verdict.UNSCANNABLE
    assert by_name["link.pkl"].verdict is Verdict.CLEAN
    assert by_name["dirlink"].reasons == ("directory symlink not followed",)
    assert by_name["dangling"].reasons == ("dangling symlink",)
    assert sum(report.counts().values()) == len(report.files) == 5
    document = report.to_dict()
    assert document["summary"]["files"] == 5
    assert document["passed"] is False
    assert report.passed(allow_unscannable=True)


def test_scan_paths_missing(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ScanTargetError) as caught:
        scan_paths([tmp_path / "missing"])
    assert caught.value.exit_code == 2
    assert "exist" in caught.value.diagnostics()


def test_scan_file_on_directory(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ScanTargetError):
        scan_file(tmp_path)


def test_require_clean(tmp_path: pathlib.Path) -> None:
    good = tmp_path / "good.pkl"
    good.write_bytes(p.proto(2) + p.EMPTY_DICT + p.STOP)
    assert require_clean(good).verdict is Verdict.CLEAN
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(p.call("os", "system", "id"))
    with pytest.raises(UnsafeModelFileError) as caught:
        require_clean(bad)
    assert caught.value.exit_code == 1
    assert "CRITICAL" in caught.value.message
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(p.proto(2) + p.EMPTY_DICT)
    with pytest.raises(UnsafeModelFileError, match="unscannable"):
        require_clean(broken)


def test_torch_zip_payloads_are_never_read() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", p.proto(2) + p.EMPTY_DICT + p.STOP)
        archive.writestr("archive/data/0", b"\x07" * (8 << 20))
        archive.writestr("archive/version", "3\n")
    data = out.getvalue()

    class Counting(io.BytesIO):
        total = 0

        def read(self, size: int | None = -1) -> bytes:
            chunk = super().read(size)
            Counting.total += len(chunk)
            return chunk

    blob = Blob(path="big.pt", member=None, size=len(data), opener=lambda: Counting(data))
    result = scan_blob(blob)
    assert result.verdict is Verdict.CLEAN
    assert Counting.total < 1 << 20, Counting.total


# --- policy ----------------------------------------------------------------------------------


def test_policy_classes() -> None:
    policy = PicklePolicy()
    assert policy.classify("torch._utils", "_rebuild_tensor_v2") == CallableClass.ALLOWED
    assert policy.classify("collections", "OrderedDict") == CallableClass.ALLOWED
    assert policy.classify("sklearn.linear_model._logistic",
                           "LogisticRegression") == CallableClass.ALLOWED
    assert policy.classify("sklearn.utils", "run_code") == CallableClass.UNLISTED
    assert policy.classify("os", "system") == CallableClass.DANGEROUS
    assert policy.classify("builtins", "set") == CallableClass.ALLOWED
    assert policy.classify("builtins", "reversed") == CallableClass.DANGEROUS
    assert policy.classify("mypkg", "Thing") == CallableClass.UNLISTED


def test_user_deny_wins_over_default_allow(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\ndeny: [collections.OrderedDict]\n")
    policy = load_policy(path)
    assert policy.classify("collections", "OrderedDict") == CallableClass.DANGEROUS


@pytest.mark.parametrize(("text", "needle"), [
    ("version: 2\nallow: []\n", "'version' must be 1"),
    ("[1, 2]\n", "must be a mapping"),
    ("version: 1\nallow: notalist\n", "must be a list"),
    ("version: 1\nallow: [nodots]\n", "not a 'module.name' pattern"),
    ("version: 1\nextra: 1\n", "unknown keys"),
    ("version: 1\nallow: [builtins.eval]\n", "dangerous"),
    ("version: [1\n", "not valid YAML"),
], ids=["version", "mapping", "list", "pattern", "keys", "dangerous", "yaml"])
def test_policy_file_errors(tmp_path: pathlib.Path, text: str, needle: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PolicyFileError) as caught:
        load_policy(path)
    assert needle in caught.value.message
    assert caught.value.exit_code == 2
    assert caught.value.diagnostics()


def test_policy_file_missing(tmp_path: pathlib.Path) -> None:
    with pytest.raises(PolicyFileError, match="cannot read"):
        load_policy(tmp_path / "absent.yaml")


@pytest.mark.parametrize("value", [7, 3.5, "text", b"raw", None, True, [1], {"a": 1}],
                         ids=["int", "float", "str", "bytes", "none", "bool", "list", "dict"])
@pytest.mark.parametrize("protocol", [0, 1])
def test_old_protocol_pickles_of_any_value_are_identified(value: object, protocol: int) -> None:
    import pickle

    data = pickle.dumps(value, protocol=protocol)
    assert identify(data, len(data)) == "pickle"
