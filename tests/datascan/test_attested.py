"""The attested-dataset predicate reader: only typed errors on whatever a predicate holds."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.datascan import attested
from kastell.datascan.interface import DatascanUsageError, MalformedDatasetError

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(predicate=st.dictionaries(st.sampled_from(["manifest", "name", "x"]), _JSON, max_size=3)
       | st.fixed_dictionaries({"manifest": st.dictionaries(
           st.sampled_from(["files", "algorithm", "root", "chunkSize", "symlinks"]), _JSON)}))
def test_manifest_reader_raises_only_typed_errors(predicate: dict[str, Any]) -> None:
    try:
        algorithm, root, files = attested._manifest(predicate, "fuzz")
    except (MalformedDatasetError, DatascanUsageError):
        return
    assert algorithm in ("blake3", "sha256")
    assert isinstance(root, str)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())


def test_repeated_manifest_path_is_refused() -> None:
    entry = {"path": "a.jsonl", "digest": "00"}
    with pytest.raises(MalformedDatasetError, match="repeated"):
        attested._manifest({"manifest": {"algorithm": "blake3", "root": "00", "chunkSize": None,
                                         "files": [entry, entry]}}, "x")
