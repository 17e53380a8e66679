from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from kastell.integrity.hashing import hash_tree
from kastell.integrity.interface import HashOptions, InvalidOptionError
from kastell.integrity.merkle import (
    chunk_inclusion_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    verify_chunk,
    verify_inclusion,
)

Writer = Callable[[Path, bytes], Path]

# RFC 6962 / Certificate Transparency reference vectors: leaf inputs and the tree head of
# the first n leaves.
_LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _leaves(count: int) -> list[bytes]:
    return [leaf_hash("sha256", bytes.fromhex(value)) for value in _LEAVES[:count]]


@pytest.mark.parametrize("count", range(1, 9))
def test_root_matches_rfc6962_vectors(count: int) -> None:
    assert merkle_root("sha256", _leaves(count)).hex() == _ROOTS[count - 1]


def test_empty_tree_root_is_hash_of_nothing() -> None:
    assert merkle_root("sha256", []) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("count", [1, 2, 3, 5, 7, 8, 13])
def test_every_inclusion_proof_verifies_and_tampering_fails(count: int) -> None:
    leaves = [leaf_hash("sha256", bytes([i])) for i in range(count)]
    root = merkle_root("sha256", leaves)
    for index, leaf in enumerate(leaves):
        proof = inclusion_proof("sha256", leaves, index)
        assert verify_inclusion("sha256", leaf, index, count, proof, root)
        assert not verify_inclusion("sha256", leaf_hash("sha256", b"x"), index, count, proof, root)
        assert not verify_inclusion("sha256", leaf, index, count, proof, bytes(32))
        # (the tree size is not bound by the proof itself, as in RFC 6962; file digests bind
        # the size in their header: see the verify_chunk test)
        if proof:
            bad = (bytes(32),) + proof[1:]
            assert not verify_inclusion("sha256", leaf, index, count, bad, root)
        if count > 1:
            other = (index + 1) % count
            assert not verify_inclusion("sha256", leaf, other, count, proof, root)


def test_inclusion_proof_rejects_bad_index() -> None:
    with pytest.raises(InvalidOptionError):
        inclusion_proof("sha256", _leaves(3), 3)


@pytest.mark.parametrize("algorithm", ["sha256", "blake3"])
def test_one_chunk_verifies_against_the_file_digest_alone(
    tmp_path: Path, put: Writer, algorithm: str
) -> None:
    data = os.urandom(5 * 4096 + 100)
    put(tmp_path / "f", data)
    (entry,) = hash_tree(tmp_path, HashOptions(algorithm=algorithm, chunk_size=4096)).files
    for index, chunk in enumerate(entry.chunks):
        proof = chunk_inclusion_proof(entry, index)
        part = data[chunk.offset : chunk.end]
        common = {"digest": entry.digest, "size": len(data), "chunk_size": 4096, "proof": proof}
        assert verify_chunk(index=index, data=part, **common)  # type: ignore[arg-type]
        flipped = bytes([part[0] ^ 1]) + part[1:]
        assert not verify_chunk(index=index, data=flipped, **common)  # type: ignore[arg-type]
        assert not verify_chunk(index=index, data=part[:-1], **common)  # type: ignore[arg-type]
    wrong_size = {"digest": entry.digest, "size": len(data) + 1, "chunk_size": 4096}
    proof = chunk_inclusion_proof(entry, 0)
    assert not verify_chunk(index=0, data=data[:4096], proof=proof, **wrong_size)  # type: ignore[arg-type]
