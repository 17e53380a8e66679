from __future__ import annotations

import hashlib
import json
import os
import pathlib
import stat

import pytest

from kastell.errors import UsageError
from kastell.integrity.keys import PrivateKey
from kastell.protect import (
    LocalKeyFile,
    decrypt_tree,
    encrypt_tree,
    generate_kek_file,
    load_manifest,
    rotate_tree,
    verify_tree,
)
from kastell.protect.dataset import MANIFEST_NAME, IntegrityMismatchError
from kastell.protect.interface import (
    FormatError,
    KeyFileError,
    ManifestError,
    SignatureError,
    TamperedError,
    WrongKeyError,
)


@pytest.fixture
def dataset(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "data"
    (root / "train").mkdir(parents=True)
    (root / "train" / "a.jsonl").write_text('{"text": "hello"}\n' * 50)
    (root / "train" / "b.jsonl").write_bytes(os.urandom(1000))
    (root / ".hidden").write_text("kept")
    (root / "empty.txt").write_bytes(b"")
    return root


def test_tree_round_trip_records_both_digests(
    tmp_path: pathlib.Path, dataset: pathlib.Path, kek: LocalKeyFile,
    owner: PrivateKey,
) -> None:
    manifest = encrypt_tree(dataset, tmp_path / "enc", kek, owner, chunk_size=128)
    assert [f.path for f in manifest.files] == [".hidden", "empty.txt", "train/a.jsonl",
                                                "train/b.jsonl"]
    for entry in manifest.files:
        plain = (dataset / entry.path).read_bytes()
        assert entry.plaintext_sha256 == hashlib.sha256(plain).hexdigest()
        assert entry.plaintext_size == len(plain)
        sealed = (tmp_path / "enc" / "data-1" / (entry.path + ".kenc")).read_bytes()
        assert plain not in sealed or not plain
    assert verify_tree(tmp_path / "enc", [owner.public_key]).problems == ()
    decrypt_tree(tmp_path / "enc", tmp_path / "out", kek, [owner.public_key])
    for entry in manifest.files:
        assert (tmp_path / "out" / entry.path).read_bytes() == (dataset / entry.path).read_bytes()


def test_single_file(
    tmp_path: pathlib.Path, dataset: pathlib.Path, kek: LocalKeyFile, owner: PrivateKey
) -> None:
    manifest = encrypt_tree(dataset / "train" / "a.jsonl", tmp_path / "enc", kek, owner)
    assert [f.path for f in manifest.files] == ["a.jsonl"]


def test_verify_without_key_finds_changed_missing_extra(
    tmp_path: pathlib.Path, dataset: pathlib.Path, kek: LocalKeyFile,
    owner: PrivateKey,
) -> None:
    enc = tmp_path / "enc"
    encrypt_tree(dataset, enc, kek, owner, chunk_size=128)
    sealed = enc / "data-1" / "train" / "b.jsonl.kenc"
    raw = bytearray(sealed.read_bytes())
    raw[-1] ^= 1
    sealed.write_bytes(bytes(raw))
    (enc / "data-1" / "empty.txt.kenc").unlink()
    (enc / "data-1" / "stray.kenc").write_bytes(b"x")
    problems = verify_tree(enc, [owner.public_key]).problems
    assert "missing: data-1/empty.txt.kenc" in problems
    assert "extra: data-1/stray.kenc" in problems
    assert any(p.startswith("changed: data-1/train/b.jsonl.kenc") for p in problems)


def test_whole_file_replaced_is_detected_at_decrypt(
    tmp_path: pathlib.Path, dataset: pathlib.Path, kek: LocalKeyFile,
    owner: PrivateKey,
) -> None:
    enc = tmp_path / "enc"
    encrypt_tree(dataset, enc, kek, owner)
    sealed = enc / "data-1" / "train"
    (sealed / "a.jsonl.kenc").write_bytes((sealed / "b.jsonl.kenc").read_bytes())
    with pytest.raises(TamperedError, match="train/a.jsonl"):
        decrypt_tree(enc, tmp_path / "out", kek, [owner.public_key])
    assert not (tmp_path / "out" / "train" / "a.jsonl").exists()  # nothing half-written


def test_tampered_chunk_leaves_no_plaintext(
    tmp_path: pathlib.Path, dataset: pathlib.Path, kek: LocalKeyFile,
    owner: PrivateKey,
) -> None:
    enc = tmp_path / "enc"
    encrypt_tree(dataset, enc, kek, owner, chunk_size=64)
    sealed = enc / "data-1" / "train" / "a.jsonl.kenc"
    raw = bytearray(sealed.read_bytes())
    raw[-40] ^= 1
    sealed.write_bytes(bytes(raw))
    with pytest.raises(TamperedError):
        decrypt_tree(enc, tmp_path / "out", kek, [owner.public_key])
    leftovers = [p.name for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert "a.jsonl" not in leftovers
    assert not any(n.endswith(".partial") for n in leftovers)


def test_missing_encrypted_file_at_decrypt(
    tmp_path: pathlib.Path, dataset: pathlib.Path, kek: LocalKeyFile,
    owner: PrivateKey,
) -> None:
    enc = tmp_path / "enc"
    encrypt_tree(dataset, enc, kek, owner)
    (enc / "data-1" / "empty.txt.kenc").unlink()
    with pytest.raises(IntegrityMismatchError, match=r"empty\.txt\.kenc is missing"):
        decrypt_tree(enc, tmp_path / "out", kek, [owner.public_key])


def test_rotate_rewraps_without_reencrypting(
    tmp_path: pathlib.Path, dataset: pathlib.Path, kek: LocalKeyFile, other_kek: LocalKeyFile,
    owner: PrivateKey,
) -> None:
    enc = tmp_path / "enc"
    before = encrypt_tree(dataset, enc, kek, owner, chunk_size=128)
    rotated = rotate_tree(enc, kek, other_kek, owner)
    assert rotated.kek_id == other_kek.key_id
    assert [f.ciphertext_sha256 for f in rotated.files] == [
        f.ciphertext_sha256 for f in before.files
    ]
    assert verify_tree(enc, [owner.public_key]).problems == ()
    with pytest.raises(WrongKeyError):
        decrypt_tree(enc, tmp_path / "old", kek, [owner.public_key])
    decrypt_tree(enc, tmp_path / "new", other_kek, [owner.public_key])
    assert (tmp_path / "new" / ".hidden").read_text() == "kept"


def test_wrapped_for_another_kek(
    tmp_path: pathlib.Path, dataset: pathlib.Path, kek: LocalKeyFile, other_kek: LocalKeyFile,
    owner: PrivateKey,
) -> None:
    encrypt_tree(dataset, tmp_path / "enc", kek, owner)
    with pytest.raises(WrongKeyError, match="wrapped by KEK"):
        decrypt_tree(tmp_path / "enc", tmp_path / "out", other_kek, [owner.public_key])


def test_manifest_errors(tmp_path: pathlib.Path, owner: PrivateKey) -> None:
    keys = [owner.public_key]
    with pytest.raises(FormatError, match="no kastell-protect.json"):
        load_manifest(tmp_path, keys)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest(tmp_path, keys)
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"chunk_size": 1, "kek_id": "k"}))
    with pytest.raises(ManifestError, match="not a signed manifest"):
        load_manifest(tmp_path, keys)
    with pytest.raises(SignatureError, match="no trusted key"):
        load_manifest(tmp_path, [])


def test_non_regular_files_refused(
    tmp_path: pathlib.Path, kek: LocalKeyFile, owner: PrivateKey
) -> None:
    root = tmp_path / "d"
    root.mkdir()
    os.mkfifo(root / "pipe")
    with pytest.raises(UsageError, match="not a regular file"):
        encrypt_tree(root, tmp_path / "enc", kek, owner)
    with pytest.raises(UsageError, match="no such file"):
        encrypt_tree(tmp_path / "absent", tmp_path / "enc", kek, owner)


def test_kek_file_mode_and_errors(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "k.key"
    provider = generate_kek_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert LocalKeyFile.load(path).key_id == provider.key_id
    with pytest.raises(KeyFileError, match="already exists"):
        generate_kek_file(path)
    with pytest.raises(KeyFileError, match="not found"):
        LocalKeyFile.load(tmp_path / "missing.key")
    (tmp_path / "bad.key").write_text("hello")
    with pytest.raises(KeyFileError, match="not a Kastell KEK"):
        LocalKeyFile.load(tmp_path / "bad.key")
    (tmp_path / "bad64.key").write_text("kastell-kek/v1:@@@")
    with pytest.raises(KeyFileError, match="base64"):
        LocalKeyFile.load(tmp_path / "bad64.key")
    (tmp_path / "short.key").write_text("kastell-kek/v1:AAAA")
    with pytest.raises(KeyFileError, match="32 bytes"):
        LocalKeyFile.load(tmp_path / "short.key")
