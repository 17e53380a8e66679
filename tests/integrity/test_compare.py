from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.integrity.compare import compare_trees, options_of
from kastell.integrity.hashing import hash_tree
from kastell.integrity.interface import HashOptions
from kastell.integrity.merkle import inclusion_proof, leaf_hash, merkle_root, verify_inclusion

Writer = Callable[[Path, bytes], Path]


def test_identical_trees_match(tree: Path) -> None:
    recorded = hash_tree(tree)
    result = compare_trees(recorded, hash_tree(tree, options_of(recorded)))
    assert result.matches
    assert (result.changed, result.missing, result.extra) == ((), (), ())


def test_each_kind_of_difference(tmp_path: Path, put: Writer) -> None:
    put(tmp_path / "same", b"s")
    put(tmp_path / "edited", b"1")
    put(tmp_path / "gone", b"g")
    (tmp_path / "link").symlink_to("same")
    recorded = hash_tree(tmp_path)
    (tmp_path / "edited").write_bytes(b"2")
    (tmp_path / "gone").unlink()
    put(tmp_path / "new", b"n")
    (tmp_path / "link").unlink()
    (tmp_path / "link").symlink_to("new")
    result = compare_trees(recorded, hash_tree(tmp_path))
    assert not result.matches
    assert result.changed == ("edited", "link")
    assert result.missing == ("gone",)
    assert result.extra == ("new",)


def test_file_replaced_by_link_is_changed(tmp_path: Path, put: Writer) -> None:
    put(tmp_path / "target", b"t")
    put(tmp_path / "entry", b"t")
    recorded = hash_tree(tmp_path)
    (tmp_path / "entry").unlink()
    (tmp_path / "entry").symlink_to("target")
    assert compare_trees(recorded, hash_tree(tmp_path)).changed == ("entry",)


def test_options_of_reproduces_the_recording(tmp_path: Path, put: Writer) -> None:
    put(tmp_path / "w.bin", os.urandom(10_000))
    put(tmp_path / "skip.tmp", b"x")
    options = HashOptions(algorithm="blake3", chunk_size=4096, ignore=("*.tmp",))
    recorded = hash_tree(tmp_path, options)
    again = hash_tree(tmp_path, options_of(recorded))
    assert again == recorded
    # other settings: every common file reads as changed, never as a silent match
    other = hash_tree(tmp_path, HashOptions(algorithm="sha256", chunk_size=4096))
    assert compare_trees(recorded, other).changed == ("w.bin",)


@settings(max_examples=60, deadline=2000)
@given(st.integers(min_value=1, max_value=40), st.data())
def test_inclusion_proofs_for_any_tree_size(count: int, data: st.DataObject) -> None:
    leaves = [leaf_hash("blake3", i.to_bytes(4, "big")) for i in range(count)]
    root = merkle_root("blake3", leaves)
    index = data.draw(st.integers(min_value=0, max_value=count - 1))
    proof = inclusion_proof("blake3", leaves, index)
    assert len(proof) <= count.bit_length()
    assert verify_inclusion("blake3", leaves[index], index, count, proof, root)
    wrong = data.draw(
        st.integers(min_value=0, max_value=count - 1).filter(lambda i: i != index)
        if count > 1
        else st.just(index)
    )
    if wrong != index:
        assert not verify_inclusion("blake3", leaves[wrong], index, count, proof, root)
