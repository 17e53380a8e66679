"""Readers: every format, every record, strict errors that name the record, never a skip."""

from __future__ import annotations

import io
import json
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.datascan import _linefiles
from kastell.datascan.interface import DatasetReadError, MalformedDatasetError
from kastell.datascan.readers import DataFile, DatasetFiles, list_dataset, read_records

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _all(root: pathlib.Path, **kwargs: object) -> list[tuple[str, int | None, tuple[str, ...]]]:
    dataset = list_dataset(root, **kwargs)  # type: ignore[arg-type]
    return [(r.id, r.line, tuple(f.text for f in r.fields))
            for item in dataset.files for r in read_records(dataset, item)]


def test_every_format_and_every_text_field(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.jsonl").write_text(
        '{"messages": [{"role": "user", "content": "hi"}], "meta": {"t": "x"}}\n\n'
        '{"text": "two", "n": 3}\n', encoding="utf-8")
    (tmp_path / "b.csv").write_text('q,a\n"multi\nline",y\n', encoding="utf-8")
    (tmp_path / "c.txt").write_text("one\n\ntwo", encoding="utf-8")
    pq.write_table(pa.table({"text": ["p"], "tags": [["t1", "t2"]]}), tmp_path / "d.parquet")
    split = tmp_path / "hf"
    split.mkdir()
    table = pa.table({"text": ["h1", "h2"]})
    with pa.OSFile(str(split / "data-00000-of-00001.arrow"), "wb") as sink:
        writer = pa.ipc.new_stream(sink, table.schema)
        writer.write_table(table)
        writer.close()
    (split / "state.json").write_text(
        json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    (split / "dataset_info.json").write_text("{}")
    assert _all(tmp_path) == [
        ("a.jsonl#0", 1, ("user", "hi", "x")),
        ("a.jsonl#1", 3, ("two",)),
        ("b.csv#0", 2, ("multi\nline", "y")),
        ("c.txt#0", 1, ("one",)),
        ("c.txt#1", 2, ("",)),
        ("c.txt#2", 3, ("two",)),
        ("d.parquet#0", None, ("p", "t1", "t2")),
        ("hf/data-00000-of-00001.arrow#0", None, ("h1",)),
        ("hf/data-00000-of-00001.arrow#1", None, ("h2",)),
    ]


@pytest.mark.parametrize(("content", "fragment"), [
    (b'{"a": 1}\n{"a": \n', "a.jsonl:2: invalid JSON"),
    (b'{"a": 1, "a": 2}\n', "duplicate key"),
    (b'[1, 2]\n', "must be an object"),
    (b'{"a": NaN}\n', "NaN"),
    (b'{"a": "\xff"}\n', "not UTF-8"),
    (b'{"a": "\\ud800"}\n', "surrogate"),
])
def test_malformed_jsonl_names_the_line(tmp_path: pathlib.Path, content: bytes,
                                        fragment: str) -> None:
    (tmp_path / "a.jsonl").write_bytes(content)
    with pytest.raises(MalformedDatasetError, match=fragment):
        _all(tmp_path)


@pytest.mark.parametrize(("content", "fragment"), [
    (b"a,b\n1,2,3\n", "row has 3 fields"),
    (b"a,a\n1,2\n", "repeats a column"),
    (b"", "empty CSV"),
    (b'a,b\n"1,2\n', "unexpected end of data|EOF"),
])
def test_malformed_csv(tmp_path: pathlib.Path, content: bytes, fragment: str) -> None:
    (tmp_path / "x.csv").write_bytes(content)
    with pytest.raises(MalformedDatasetError, match=fragment):
        _all(tmp_path)


def test_unknown_file_is_an_error_unless_excluded(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"t": "x"}\n')
    (tmp_path / "README.md").write_text("# data\n")
    with pytest.raises(MalformedDatasetError, match="README.md: unsupported"):
        list_dataset(tmp_path)
    dataset = list_dataset(tmp_path, exclude=("*.md",))
    assert dataset.excluded == ("README.md",)
    assert [f.path for f in dataset.files] == ["a.jsonl"]


def test_arrow_file_not_listed_in_state_is_an_error(tmp_path: pathlib.Path) -> None:
    (tmp_path / "state.json").write_text(json.dumps({"_data_files": [{"filename": "a.arrow"}]}))
    (tmp_path / "a.arrow").write_bytes(b"")
    (tmp_path / "b.arrow").write_bytes(b"")
    with pytest.raises(MalformedDatasetError, match="state.json lists"):
        list_dataset(tmp_path)


def test_corrupt_parquet_is_an_error(tmp_path: pathlib.Path) -> None:
    (tmp_path / "x.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(MalformedDatasetError, match="unreadable Parquet"):
        _all(tmp_path)


def test_bytes_that_differ_from_the_manifest_void_the_run(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"t": "x"}\n')
    dataset = list_dataset(tmp_path)
    (tmp_path / "a.jsonl").write_text('{"t": "y"}\n')  # same size, other bytes
    with pytest.raises(DatasetReadError, match="changed while it was screened"):
        list(read_records(dataset, dataset.files[0]))


def test_symlink_is_not_screened(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"t": "x"}\n')
    (tmp_path / "b.jsonl").symlink_to(tmp_path / "a.jsonl")
    with pytest.raises(MalformedDatasetError, match="symbolic link"):
        list_dataset(tmp_path)


_READERS = [_linefiles.read_jsonl, _linefiles.read_csv, _linefiles.read_text]


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=300), which=st.integers(0, 2))
def test_line_readers_raise_only_typed_errors(data: bytes, which: int) -> None:
    try:
        for _line, value in _READERS[which](io.BytesIO(data), "fuzz"):
            assert isinstance(value, dict)
    except MalformedDatasetError:
        pass


def test_manifest_digest_is_what_attest_signs(tmp_path: pathlib.Path) -> None:
    from kastell.provenance.dataset import build_dataset_statement

    (tmp_path / "a.jsonl").write_text('{"t": "x"}\n')
    statement = build_dataset_statement(tmp_path)
    dataset = list_dataset(tmp_path)
    assert dataset.digest.hex == statement["subject"][0]["digest"]["blake3"]
    assert isinstance(dataset.files[0], DataFile)
    assert isinstance(dataset, DatasetFiles)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=400), arrow=st.booleans())
def test_columnar_readers_raise_only_typed_errors(data: bytes, arrow: bool) -> None:
    from kastell.datascan import _columnar

    reader = _columnar.read_arrow_stream if arrow else _columnar.read_parquet
    try:
        for _line, value in reader(io.BytesIO(data), "fuzz"):
            assert isinstance(value, dict)
    except MalformedDatasetError:
        pass


def test_truncated_parquet_is_an_error(tmp_path: pathlib.Path) -> None:
    pq.write_table(pa.table({"text": ["a" * 100] * 50}), tmp_path / "x.parquet")
    data = (tmp_path / "x.parquet").read_bytes()
    (tmp_path / "x.parquet").write_bytes(data[: len(data) // 2] + data[-8:])
    with pytest.raises(MalformedDatasetError):
        _all(tmp_path)


def test_long_csv_field_is_read_whole(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.csv").write_text('t\n"' + "x" * 200_000 + '"\n', encoding="utf-8")
    [(_id, _line, texts)] = _all(tmp_path)
    assert texts == ("x" * 200_000,)
