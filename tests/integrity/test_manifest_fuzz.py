"""Fuzz the manifest parser: any input gives a manifest or a ManifestFormatError, nothing else."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kastell.integrity.interface import ChunkDigest, FileDigest, ManifestFormatError, TreeDigest
from kastell.integrity.manifest import manifest_document, manifest_json, parse_manifest
from kastell.integrity.merkle import file_digest, tree_root
from kastell.types import Digest

_SETTINGS = settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


def _valid() -> TreeDigest:
    chunks_raw = [bytes([i]) * 32 for i in range(3)]
    chunks = tuple(
        ChunkDigest(i * 10, 10 if i < 2 else 5, Digest("sha256", raw.hex()))
        for i, raw in enumerate(chunks_raw)
    )
    big = FileDigest("a/big", 25, 10, chunks, file_digest("sha256", 25, 10, chunks_raw))
    small = FileDigest(
        "b", 3, 10, (ChunkDigest(0, 3, Digest("sha256", "cd" * 32)),), Digest("sha256", "cd" * 32)
    )
    files = (big, small)
    return TreeDigest("sha256", 10, files, (), tree_root("sha256", files), (".git",), False)


_VALID_TEXT = manifest_json(_valid())

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _parse_or_reject(data: bytes | str) -> None:
    rejected: ManifestFormatError | None = None
    try:
        result = parse_manifest(data)
    except ManifestFormatError as error:
        rejected = error
    if rejected is not None:
        assert rejected.message
        assert rejected.exit_code == 3
        return
    # anything accepted is self-consistent and round-trips
    assert parse_manifest(manifest_json(result)) == result


def test_the_valid_seed_parses() -> None:
    assert parse_manifest(_VALID_TEXT) == _valid()


@_SETTINGS
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data: bytes) -> None:
    _parse_or_reject(data)


@_SETTINGS
@given(st.integers(min_value=0, max_value=len(_VALID_TEXT) - 1), st.binary(min_size=1, max_size=8))
def test_corrupted_valid_manifest(position: int, junk: bytes) -> None:
    data = _VALID_TEXT.encode()
    _parse_or_reject(data[:position] + junk + data[position + len(junk) :])


def _paths(document: dict[str, Any]) -> list[list[Any]]:
    paths: list[list[Any]] = [[key] for key in document]
    for i, entry in enumerate(document["files"]):
        paths += [["files", i, key] for key in entry]
        paths += [["files", i, "chunks", j, k] for j, c in enumerate(entry["chunks"]) for k in c]
    return paths


@_SETTINGS
@given(st.data())
def test_replaced_field(data: st.DataObject) -> None:
    document = manifest_document(_valid())
    path = data.draw(st.sampled_from(_paths(document)))
    holder: Any = document
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = data.draw(_json_values)
    _parse_or_reject(json.dumps(document))
