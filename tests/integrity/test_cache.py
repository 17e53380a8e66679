from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kastell.integrity.cache import JsonDigestCache
from kastell.integrity.hashing import hash_tree
from kastell.integrity.interface import (
    CacheFormatError,
    CacheNotAllowedError,
    HashOptions,
    WriteError,
)

Writer = Callable[[Path, bytes], Path]
OPTIONS = HashOptions(chunk_size=4096)


def test_unchanged_files_are_not_read_again(tree: Path, tmp_path: Path) -> None:
    cache_file = tmp_path / "cache.json"
    cache = JsonDigestCache.load(cache_file)
    first = hash_tree(tree, OPTIONS, cache=cache)
    cache.save(cache_file)
    assert oct(cache_file.stat().st_mode & 0o777) == "0o600"

    reloaded = JsonDigestCache.load(cache_file)
    assert len(reloaded) == len(first.files)
    second = hash_tree(tree, OPTIONS, cache=reloaded)
    assert second == first
    assert reloaded.hits == len(first.files)


def test_a_touched_file_is_hashed_again(tree: Path) -> None:
    weights = tree / "weights.bin"
    os.utime(weights, ns=(10**9, 10**9))  # so the rewrite below surely changes mtime
    cache = JsonDigestCache()
    hash_tree(tree, OPTIONS, cache=cache)
    weights.write_bytes(os.urandom(10_000))  # same size, new content and mtime
    after = hash_tree(tree, OPTIONS, cache=cache)
    assert cache.hits == len(after.files) - 1
    fresh = hash_tree(tree, OPTIONS)
    assert after == fresh


def test_other_algorithm_or_chunk_size_misses(tree: Path) -> None:
    cache = JsonDigestCache()
    hash_tree(tree, OPTIONS, cache=cache)
    hash_tree(tree, HashOptions(chunk_size=8192), cache=cache)
    hash_tree(tree, HashOptions(algorithm="blake3", chunk_size=4096), cache=cache)
    assert cache.hits == 0


def test_the_cache_is_trusted_when_recording_so_verification_refuses_it(tree: Path) -> None:
    cache = JsonDigestCache()
    honest = hash_tree(tree, OPTIONS, cache=cache)
    # a cache is metadata-keyed: a forged entry is believed when recording...
    key, entry = next(iter(cache._entries.values()))
    forged_digest = dataclasses.replace(entry.digest, hex="0" * 64)
    cache.put(key, dataclasses.replace(entry, digest=forged_digest, chunks=()))
    assert hash_tree(tree, OPTIONS, cache=cache).root != honest.root
    # ...which is why no verification path may use one
    with pytest.raises(CacheNotAllowedError) as caught:
        hash_tree(tree, OPTIONS, cache=cache, for_verification=True)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"not json", "corrupt"),
        (b"[]", "corrupt"),
        (b'{"format": "kastell-digest-cache", "version": 2, "entries": []}', "corrupt"),
        (b'{"format": "kastell-digest-cache", "version": 1, "entries": [{"path": 1}]}', "corrupt"),
    ],
)
def test_corrupt_cache_file(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "cache.json"
    path.write_bytes(content)
    with pytest.raises(CacheFormatError, match=needle) as caught:
        JsonDigestCache.load(path)
    assert caught.value.exit_code == 3
    assert "Delete the cache file" in caught.value.diagnostics()


def test_inconsistent_cache_entry_is_rejected(tree: Path, tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    cache = JsonDigestCache()
    hash_tree(tree, OPTIONS, cache=cache)
    cache.save(path)
    document = json.loads(path.read_text())
    weights = next(e for e in document["entries"] if e["path"].endswith("weights.bin"))
    weights["chunks"][0] = "0" * 64
    path.write_text(json.dumps(document))
    with pytest.raises(CacheFormatError, match="inconsistent"):
        JsonDigestCache.load(path)


def test_missing_cache_file_is_empty(tmp_path: Path) -> None:
    assert len(JsonDigestCache.load(tmp_path / "none.json")) == 0


def test_unwritable_cache_location(tmp_path: Path) -> None:
    with pytest.raises(WriteError):
        JsonDigestCache().save(tmp_path / "no" / "such" / "dir" / "cache.json")


@settings(
    max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=600) | st.text(max_size=300).map(str.encode))
def test_fuzz_cache_file_loads_or_is_rejected(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz-cache.json"
    path.write_bytes(data)
    rejected: CacheFormatError | None = None
    try:
        cache = JsonDigestCache.load(path)
    except CacheFormatError as error:
        rejected = error
    if rejected is None:
        cache.save(path)  # whatever loads, saves and loads again
        assert len(JsonDigestCache.load(path)) == len(cache)
    else:
        assert rejected.exit_code == 3


@settings(
    max_examples=100, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(
        [
            "path",
            "device",
            "inode",
            "size",
            "mtime_ns",
            "ctime_ns",
            "algorithm",
            "chunk_size",
            "digest",
            "chunks",
        ]
    ),
    value=st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=70)
    | st.lists(st.text(max_size=64), max_size=3),
)
def test_fuzz_cache_entry_fields(tmp_path: Path, field: str, value: object) -> None:
    entry = {
        "path": "/m/w.bin",
        "device": 1,
        "inode": 2,
        "size": 3,
        "mtime_ns": 4,
        "ctime_ns": 5,
        "algorithm": "sha256",
        "chunk_size": 4096,
        "digest": hashlib.sha256(b"abc").hexdigest(),
        "chunks": [hashlib.sha256(b"abc").hexdigest()],
    }
    entry[field] = value
    path = tmp_path / "fuzz-entry.json"
    path.write_text(
        json.dumps({"format": "kastell-digest-cache", "version": 1, "entries": [entry]})
    )
    try:
        cache = JsonDigestCache.load(path)
    except CacheFormatError:
        return
    assert len(cache) == 1
