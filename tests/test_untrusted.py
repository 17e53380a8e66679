"""kastell._untrusted: regular files only, and JSON/YAML that parses one way."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kastell._untrusted import DuplicateKeyError, load_json, load_yaml, open_regular, read_regular

_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
_DOCS = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                 max_size=3),
    max_leaves=10,
)  # fmt: skip


@settings(max_examples=300)
@given(_DOCS)
def test_json_without_duplicates_parses_as_json_does(document: Any) -> None:
    text = json.dumps(document)
    assert load_json(text) == json.loads(text)


@settings(max_examples=300)
@given(_DOCS)
def test_yaml_without_duplicates_parses_as_pyyaml_does(document: Any) -> None:
    text = yaml.safe_dump(document)
    assert load_yaml(text) == yaml.safe_load(text)


@settings(max_examples=200)
@given(st.text(min_size=1, max_size=4), _SCALARS, _SCALARS)
def test_duplicate_keys_are_refused_wherever_they_are(key: str, first: Any, second: Any) -> None:
    inner = f"{{{json.dumps(key)}: {json.dumps(first)}, {json.dumps(key)}: {json.dumps(second)}}}"
    with pytest.raises(json.JSONDecodeError, match="duplicate key"):
        load_json(f'{{"outer": [1, {inner}]}}')
    with pytest.raises(DuplicateKeyError):
        load_yaml(f"outer: [1, {inner}]")


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_any_text_is_yaml_or_a_yaml_error(text: str) -> None:
    with contextlib.suppress(yaml.YAMLError):  # any other exception fails the test
        load_yaml(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x [1, *x]\n",
        "a: &x {b: {c: *x}}\n",
        "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n",
        "a: {x: 1}\nb: {<<: {y: 2}}\n",
        "1: a\n1.0: b\n",
        "? [1]\n: 2\n? [1]\n: 3\n",
    ],
)
def test_yaml_alias_bombs_merges_and_equal_keys(text: str) -> None:
    with pytest.raises(yaml.YAMLError):
        load_yaml(text)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_numbers(constant: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        load_json(f'{{"a": {constant}}}')


def test_special_files_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        read_regular(fifo, limit=10)
    with pytest.raises(OSError, match="not a regular file"):
        open_regular(Path("/dev/null"))
    with pytest.raises(IsADirectoryError):
        read_regular(tmp_path, limit=10)
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "sock"))
        with pytest.raises(OSError, match="not a regular file"):
            read_regular(tmp_path / "sock", limit=10)
    finally:
        server.close()


def test_size_limit_and_symlinks(tmp_path: Path) -> None:
    target = tmp_path / "big"
    target.write_bytes(b"x" * 11)
    with pytest.raises(OSError, match="larger than 10 bytes"):
        read_regular(target, limit=10)
    assert read_regular(target, limit=11) == b"x" * 11
    link = tmp_path / "link"
    link.symlink_to(target)
    with open_regular(link) as handle:
        assert handle.read() == b"x" * 11
    with pytest.raises(OSError, match="not a regular file"):
        open_regular(link, follow_symlinks=False)


def test_shared_values_written_by_pyyaml_load() -> None:
    place = {"country": "DE"}
    text = yaml.safe_dump({"weights": place, "data": place})
    assert "*id" in text  # PyYAML writes an alias for the shared value
    assert load_yaml(text) == {"weights": place, "data": place}
