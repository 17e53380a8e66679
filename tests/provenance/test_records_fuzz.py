"""Dataset files are untrusted: counting fails only with our errors."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.errors import KastellError
from kastell.provenance.records import count_records


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=300), st.sampled_from(["a.csv", "a.jsonl", "a.txt", "a.parquet"]))
def test_random_dataset_file(data: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / name).write_bytes(data)
        with contextlib.suppress(KastellError):
            (count,) = count_records(Path(tmp), [name])
            assert count.records is None or count.records >= 0
