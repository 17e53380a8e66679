from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import blake3
import pytest

from kastell.integrity.hashing import chunk_ranges, hash_tree, plan_tree
from kastell.integrity.interface import (
    MODEL_SIGNING_SHARD_SIZE,
    HashOptions,
    InvalidOptionError,
)
from kastell.integrity.merkle import file_digest

Writer = Callable[[Path, bytes], Path]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_small_files_get_plain_digests(tree: Path) -> None:
    result = hash_tree(tree)
    by_path = {entry.path: entry for entry in result.files}
    assert sorted(by_path) == [
        ".hidden",
        "config.json",
        "empty",
        "sub/deeper/part.bin",
        "weights.bin",
    ]
    for relative, entry in by_path.items():
        content = (tree / relative).read_bytes()
        assert entry.size == len(content)
        assert entry.digest.hex == _sha256(content)
        assert entry.is_plain
    assert by_path["empty"].chunks == ()


def test_git_is_ignored_by_default_and_hidden_files_are_kept(tree: Path) -> None:
    paths = [entry.path for entry in hash_tree(tree).files]
    assert ".hidden" in paths
    assert not any(path.startswith(".git/") for path in paths)
    with_git = hash_tree(tree, HashOptions(ignore=()))
    assert ".git/HEAD" in [entry.path for entry in with_git.files]


def test_chunk_digests_are_digests_of_byte_ranges(tmp_path: Path, put: Writer) -> None:
    data = os.urandom(10_000)
    put(tmp_path / "f.bin", data)
    result = hash_tree(tmp_path, HashOptions(chunk_size=4096, read_size=4096))
    (entry,) = result.files
    assert [(c.offset, c.length) for c in entry.chunks] == [(0, 4096), (4096, 4096), (8192, 1808)]
    for chunk in entry.chunks:
        assert chunk.digest.hex == _sha256(data[chunk.offset : chunk.end])
    assert not entry.is_plain
    raw = [bytes.fromhex(c.digest.hex) for c in entry.chunks]
    assert entry.digest == file_digest("sha256", len(data), 4096, raw)
    assert entry.digest.hex != _sha256(data)


def test_blake3_digests_match_the_reference(tmp_path: Path, put: Writer) -> None:
    data = os.urandom(9_000)
    put(tmp_path / "f.bin", data)
    whole = hash_tree(tmp_path, HashOptions(algorithm="blake3", chunk_size=None))
    assert whole.files[0].digest.hex == blake3.blake3(data).hexdigest()
    chunked = hash_tree(tmp_path, HashOptions(algorithm="blake3", chunk_size=4096))
    assert chunked.files[0].chunks[1].digest.hex == blake3.blake3(data[4096:8192]).hexdigest()


def test_chunk_boundaries_match_model_signing_shards() -> None:
    # model_signing 1.1.1: shards [0, s), [s, 2s), ..., last one shorter, none for empty files
    assert chunk_ranges(0, 10) == []
    assert chunk_ranges(10, 10) == [(0, 10)]
    assert chunk_ranges(11, 10) == [(0, 10), (10, 1)]
    assert chunk_ranges(25, 10) == [(0, 10), (10, 10), (20, 5)]
    assert chunk_ranges(25, None) == [(0, 25)]
    assert chunk_ranges(2 * MODEL_SIGNING_SHARD_SIZE + 1, MODEL_SIGNING_SHARD_SIZE)[-1] == (
        2 * MODEL_SIGNING_SHARD_SIZE,
        1,
    )


@pytest.mark.parametrize("algorithm", ["sha256", "blake3"])
def test_parallel_and_sequential_runs_agree(tmp_path: Path, algorithm: str, put: Writer) -> None:
    for index in range(12):
        put(tmp_path / f"d{index % 3}" / f"f{index}", os.urandom(1_000 + index * 977))
    options = HashOptions(algorithm=algorithm, chunk_size=4096, read_size=4096)
    one = hash_tree(tmp_path, HashOptions(algorithm=algorithm, chunk_size=4096, workers=1))
    many = hash_tree(tmp_path, HashOptions(**{**options.__dict__, "workers": 4}))
    assert one == many


def test_root_is_deterministic_and_sensitive(tmp_path: Path, put: Writer) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    names = ["z", "a", "m/n", "m/a", "B"]
    for name in names:
        put(first / name, name.encode())
    for name in reversed(names):  # different creation order, same content
        put(second / name, name.encode())
    assert hash_tree(first).root == hash_tree(second).root
    (second / "m" / "n").write_bytes(b"N")
    assert hash_tree(first).root != hash_tree(second).root
    (second / "m" / "n").write_bytes(b"m/n")
    assert hash_tree(first).root == hash_tree(second).root
    (second / "m" / "n").rename(second / "m" / "o")  # a rename alone changes the root
    assert hash_tree(first).root != hash_tree(second).root


def test_paths_are_sorted_posix_relative(tmp_path: Path, put: Writer) -> None:
    for name in ["b/x", "a.txt", "a/b", "A", "é"]:
        put(tmp_path / name, b"1")
    paths = [entry.path for entry in hash_tree(tmp_path).files]
    assert paths == sorted(paths, key=lambda path: path.encode())
    assert "a/b" in paths
    assert "é" in paths


def test_a_single_file_is_named_by_its_basename(tmp_path: Path, put: Writer) -> None:
    path = put(tmp_path / "model.gguf", b"GGUF....")
    result = hash_tree(path)
    assert [entry.path for entry in result.files] == ["model.gguf"]
    assert result.files[0].digest.hex == _sha256(b"GGUF....")


def test_ignore_patterns(tmp_path: Path, put: Writer) -> None:
    for name in ["keep.bin", "x.tmp", "sub/y.tmp", "data/raw/a", "data/clean/a", "top", "sub/top"]:
        put(tmp_path / name, b"1")
    options = HashOptions(ignore=("*.tmp", "data/raw", "/top"))
    paths = [entry.path for entry in hash_tree(tmp_path, options).files]
    assert paths == ["data/clean/a", "keep.bin", "sub/top"]


def test_symlinks_are_recorded_not_followed(tmp_path: Path, put: Writer) -> None:
    put(tmp_path / "real.bin", b"content")
    (tmp_path / "link").symlink_to("real.bin")
    result = hash_tree(tmp_path)
    assert [entry.path for entry in result.files] == ["real.bin"]
    assert [(s.path, s.target) for s in result.symlinks] == [("link", "real.bin")]
    before = result.root
    (tmp_path / "link").unlink()
    (tmp_path / "link").symlink_to("elsewhere")
    assert hash_tree(tmp_path).root != before  # retargeting a link changes the root


def test_followed_symlinks_inside_the_root_are_hashed(tmp_path: Path, put: Writer) -> None:
    put(tmp_path / "real" / "w.bin", b"weights")
    (tmp_path / "alias").symlink_to("real", target_is_directory=True)
    (tmp_path / "w-link").symlink_to("real/w.bin")
    result = hash_tree(tmp_path, HashOptions(follow_symlinks=True))
    assert [entry.path for entry in result.files] == ["alias/w.bin", "real/w.bin", "w-link"]
    assert len({entry.digest for entry in result.files}) == 1
    assert result.symlinks == ()


def test_progress_reports_every_byte(tree: Path) -> None:
    seen: list[int] = []
    result = hash_tree(tree, HashOptions(chunk_size=4096, read_size=4096), on_bytes=seen.append)
    assert sum(seen) == result.total_bytes == plan_tree(tree, HashOptions()).total_bytes


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"algorithm": "md5"}, "md5"),
        ({"chunk_size": 0}, "chunk size"),
        ({"workers": 0}, "workers"),
        ({"read_size": 10}, "read size"),
        ({"ignore": ("",)}, "ignore pattern"),
    ],
)
def test_bad_options_are_usage_errors(options: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidOptionError, match=needle) as caught:
        HashOptions(**options)  # type: ignore[arg-type]
    assert caught.value.exit_code == 2
    assert caught.value.diagnostics()


def test_a_dominant_blake3_file_hashed_with_threads_matches_the_reference(
    tmp_path: Path, put: Writer
) -> None:
    # one file holding most of the bytes is hashed with blake3's own threads (>= 16 MiB)
    data = os.urandom(17 * 1024 * 1024 + 5)
    put(tmp_path / "weights.bin", data)
    put(tmp_path / "config.json", b"{}")
    result = hash_tree(tmp_path, HashOptions(algorithm="blake3", chunk_size=None, workers=2))
    by_path = {entry.path: entry.digest.hex for entry in result.files}
    assert by_path["weights.bin"] == blake3.blake3(data).hexdigest()
    assert by_path["config.json"] == blake3.blake3(b"{}").hexdigest()


@pytest.mark.slow
def test_memory_stays_bounded_on_a_file_larger_than_the_budget(tmp_path: Path) -> None:
    # a sparse 512 MiB file: more than the 200 MiB RSS budget, cheap to create
    big = tmp_path / "sparse.bin"
    with big.open("wb") as handle:
        handle.truncate(512 * 1024 * 1024)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so the child would report the
    # peak of the (large) pytest process that forked it
    code = (
        "import sys\n"
        "from kastell.integrity.hashing import hash_tree\n"
        "from kastell.integrity.interface import HashOptions\n"
        "tree = hash_tree(sys.argv[1], HashOptions(algorithm='blake3'))\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
        "print(tree.files[0].size, hwm.split()[1])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(big)], capture_output=True, text=True, check=True
    )
    size, rss_kib = map(int, result.stdout.split())
    assert size == 512 * 1024 * 1024
    assert rss_kib < 200 * 1024
