from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kastell.integrity.hashing import hash_tree
from kastell.integrity.interface import HashOptions, ManifestFormatError, TreeDigest
from kastell.integrity.manifest import manifest_document, manifest_json, parse_manifest

Writer = Callable[[Path, bytes], Path]


@pytest.fixture
def digest_tree(tree: Path) -> TreeDigest:
    (tree / "link").symlink_to("weights.bin")
    return hash_tree(tree, HashOptions(chunk_size=4096))


def test_round_trip(digest_tree: TreeDigest) -> None:
    text = manifest_json(digest_tree)
    assert parse_manifest(text) == digest_tree
    assert parse_manifest(text.encode()) == digest_tree


def test_document_shape(digest_tree: TreeDigest) -> None:
    document = manifest_document(digest_tree)
    assert document["format"] == "kastell-manifest"
    assert document["version"] == 1
    assert document["root"] == str(digest_tree.root)
    weights = next(entry for entry in document["files"] if entry["path"] == "weights.bin")
    assert [c["offset"] for c in weights["chunks"]] == [0, 4096, 8192]
    assert document["symlinks"] == [{"path": "link", "target": "weights.bin"}]


def test_identical_trees_give_identical_manifests(tmp_path: Path, put: Writer) -> None:
    data = os.urandom(9000)
    for side in ("a", "b"):
        put(tmp_path / side / "w.bin", data)
        put(tmp_path / side / "c.json", b"{}")
    assert manifest_json(hash_tree(tmp_path / "a")) == manifest_json(hash_tree(tmp_path / "b"))


def _mutated(tree: TreeDigest, change: Callable[[dict[str, Any]], object]) -> str:
    document = manifest_document(tree)
    change(document)
    return json.dumps(document)


def _file(document: dict[str, Any], path: str = "weights.bin") -> dict[str, Any]:
    found: dict[str, Any] = next(e for e in document["files"] if e["path"] == path)
    return found


BAD_DOCUMENTS: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("unknown key", lambda d: d.update(extra=1), "Extra inputs"),
    ("missing key", lambda d: d.pop("root"), "root"),
    ("wrong format", lambda d: d.update(format="other"), "not a kastell-manifest"),
    ("future version", lambda d: d.update(version=2), "unsupported manifest version 2"),
    ("bool version", lambda d: d.update(version=True), "unsupported manifest version"),
    ("bad algorithm", lambda d: d.update(algorithm="md5"), "algorithm"),
    ("string size", lambda d: _file(d).update(size="10000"), "size"),
    ("negative size", lambda d: _file(d).update(size=-1), "size"),
    ("float size", lambda d: _file(d).update(size=1e4), "size"),
    ("int bool", lambda d: d.update(follow_symlinks=1), "follow_symlinks"),
    ("zero chunk size", lambda d: d.update(chunk_size=0), "chunk_size"),
    ("absolute path", lambda d: _file(d).update(path="/etc/passwd"), "normalized"),
    ("dot-dot path", lambda d: _file(d).update(path="a/../b"), "normalized"),
    ("empty component", lambda d: _file(d).update(path="a//b"), "normalized"),
    ("unsorted", lambda d: d["files"].reverse(), "not sorted"),
    ("duplicate", lambda d: d["files"].append(d["files"][-1]), "more than once"),
    ("short digest", lambda d: _file(d).update(digest="sha256:abcd"), "malformed"),
    ("no digest prefix", lambda d: _file(d).update(digest="ab" * 32), "algorithm prefix"),
    ("mixed algorithm", lambda d: _file(d).update(digest="blake3:" + "ab" * 32), "blake3"),
    ("missing chunk", lambda d: _file(d)["chunks"].pop(), "do not cover"),
    ("shifted chunk", lambda d: _file(d)["chunks"][1].update(offset=4095), "do not cover"),
    ("huge forged size", lambda d: _file(d).update(size=2**62), "do not cover"),
    (
        "edited chunk",
        lambda d: _file(d)["chunks"][0].update(digest="sha256:" + "0" * 64),
        "does not follow",
    ),
    (
        "edited small file",
        lambda d: _file(d, "config.json").update(digest="sha256:" + "1" * 64),
        "does not follow",
    ),
    (
        "edited small file and its chunk",
        lambda d: (
            _file(d, "config.json").update(digest="sha256:" + "1" * 64),
            _file(d, "config.json")["chunks"][0].update(digest="sha256:" + "1" * 64),
        ),
        "does not match",
    ),
    ("edited root", lambda d: d.update(root="sha256:" + "2" * 64), "does not match"),
    ("dropped file", lambda d: d["files"].pop(0), "does not match"),
    ("nul in target", lambda d: d["symlinks"][0].update(target="a\x00b"), "NUL"),
]


@pytest.mark.parametrize(
    ("change", "needle"),
    [pytest.param(change, needle, id=name) for name, change, needle in BAD_DOCUMENTS],
)
def test_malformed_documents_are_rejected(
    digest_tree: TreeDigest, change: Callable[[dict[str, Any]], object], needle: str
) -> None:
    with pytest.raises(ManifestFormatError) as caught:
        parse_manifest(_mutated(digest_tree, change), source="m.json")
    assert needle in caught.value.message
    assert caught.value.message.startswith("m.json: ")
    assert caught.value.exit_code == 3
    assert "\n" not in caught.value.message


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[]", "not a kastell-manifest"),
        (b'"kastell-manifest"', "not a kastell-manifest"),
        (b'{"format": "kastell-manifest", "version": 1, "x": NaN}', "NaN"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_non_manifests_are_rejected(data: bytes, needle: str) -> None:
    with pytest.raises(ManifestFormatError, match=needle):
        parse_manifest(data)
