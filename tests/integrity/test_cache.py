from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

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
    cache = JsonDigestCache()
    hash_tree(tree, OPTIONS, cache=cache)
    weights = tree / "weights.bin"
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
