from __future__ import annotations

import hashlib
import json
import os
import pathlib
import stat

import pytest

from kastell.errors import UsageError
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
from kastell.protect.interface import FormatError, KeyFileError, TamperedError, WrongKeyError


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
    tmp_path: pathlib.Path, dataset: pathlib.Path, kek: LocalKeyFile
) -> None:
    manifest = encrypt_tree(dataset, tmp_path / "enc", kek, chunk_size=128)
    assert [f.path for f in manifest.files] == [".hidden", "empty.txt", "train/a.jsonl",
                                                "train/b.jsonl"]
    for entry in manifest.files:
        plain = (dataset / entry.path).read_bytes()
        assert entry.plaintext_sha256 == hashlib.sha256(plain).hexdigest()
        assert entry.plaintext_size == len(plain)
        assert plain not in (tmp_path / "enc" / (entry.path + ".kenc")).read_bytes() or not plain
    assert verify_tree(tmp_path / "enc") == []
    decrypt_tree(tmp_path / "enc", tmp_path / "out", kek)
    for entry in manifest.files:
        assert (tmp_path / "out" / entry.path).read_bytes() == (dataset / entry.path).read_bytes()


def test_single_file(tmp_path: pathlib.Path, dataset: pathlib.Path, kek: LocalKeyFile) -> None:
    manifest = encrypt_tree(dataset / "train" / "a.jsonl", tmp_path / "enc", kek)
    assert [f.path for f in manifest.files] == ["a.jsonl"]


def test_verify_without_key_finds_changed_missing_extra(
    tmp_path: pathlib.Path, dataset: pathlib.Path, kek: LocalKeyFile
) -> None:
    enc = tmp_path / "enc"
    encrypt_tree(dataset, enc, kek, chunk_size=128)
    sealed = enc / "train" / "b.jsonl.kenc"
    raw = bytearray(sealed.read_bytes())
    raw[-1] ^= 1
    sealed.write_bytes(bytes(raw))
    (enc / "empty.txt.kenc").unlink()
    (enc / "stray.kenc").write_bytes(b"x")
    problems = verify_tree(enc)
    assert "missing: empty.txt.kenc" in problems
    assert "extra: stray.kenc" in problems
    assert any(p.startswith("changed: train/b.jsonl.kenc") for p in problems)


def test_whole_file_replaced_is_detected_at_decrypt(
    tmp_path: pathlib.Path, dataset: pathlib.Path, kek: LocalKeyFile
) -> None:
    enc = tmp_path / "enc"
    encrypt_tree(dataset, enc, kek)
    (enc / "train" / "a.jsonl.kenc").write_bytes((enc / "train" / "b.jsonl.kenc").read_bytes())
    with pytest.raises(TamperedError, match="train/a.jsonl"):
        decrypt_tree(enc, tmp_path / "out", kek)
    assert not (tmp_path / "out" / "train" / "a.jsonl").exists()  # nothing half-written


def test_tampered_chunk_leaves_no_plaintext(
    tmp_path: pathlib.Path, dataset: pathlib.Path, kek: LocalKeyFile
) -> None:
    enc = tmp_path / "enc"
    encrypt_tree(dataset, enc, kek, chunk_size=64)
    sealed = enc / "train" / "a.jsonl.kenc"
    raw = bytearray(sealed.read_bytes())
    raw[-40] ^= 1
    sealed.write_bytes(bytes(raw))
    with pytest.raises(TamperedError):
        decrypt_tree(enc, tmp_path / "out", kek)
    leftovers = [p.name for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert "a.jsonl" not in leftovers
    assert not any(n.endswith(".partial") for n in leftovers)


def test_missing_encrypted_file_at_decrypt(
    tmp_path: pathlib.Path, dataset: pathlib.Path, kek: LocalKeyFile
) -> None:
    enc = tmp_path / "enc"
    encrypt_tree(dataset, enc, kek)
    (enc / "empty.txt.kenc").unlink()
    with pytest.raises(IntegrityMismatchError, match=r"empty\.txt\.kenc is missing"):
        decrypt_tree(enc, tmp_path / "out", kek)


def test_rotate_rewraps_without_reencrypting(
    tmp_path: pathlib.Path, dataset: pathlib.Path, kek: LocalKeyFile, other_kek: LocalKeyFile
) -> None:
    enc = tmp_path / "enc"
    before = encrypt_tree(dataset, enc, kek, chunk_size=128)
    rotated = rotate_tree(enc, kek, other_kek)
    assert rotated.kek_id == other_kek.key_id
    assert [f.ciphertext_sha256 for f in rotated.files] == [
        f.ciphertext_sha256 for f in before.files
    ]
    assert verify_tree(enc) == []
    with pytest.raises(WrongKeyError):
        decrypt_tree(enc, tmp_path / "old", kek)
    decrypt_tree(enc, tmp_path / "new", other_kek)
    assert (tmp_path / "new" / ".hidden").read_text() == "kept"


def test_wrapped_for_another_kek(
    tmp_path: pathlib.Path, dataset: pathlib.Path, kek: LocalKeyFile, other_kek: LocalKeyFile
) -> None:
    encrypt_tree(dataset, tmp_path / "enc", kek)
    with pytest.raises(WrongKeyError, match="wrapped by KEK"):
        decrypt_tree(tmp_path / "enc", tmp_path / "out", other_kek)


def test_manifest_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FormatError, match="no kastell-protect.json"):
        load_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(FormatError, match="invalid manifest"):
        load_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"chunk_size": 1, "kek_id": "k"}))
    with pytest.raises(FormatError, match="files"):
        load_manifest(tmp_path)


def test_manifest_path_escape_is_refused(
    tmp_path: pathlib.Path, dataset: pathlib.Path, kek: LocalKeyFile
) -> None:
    enc = tmp_path / "enc"
    encrypt_tree(dataset, enc, kek)
    doc = json.loads((enc / MANIFEST_NAME).read_text())
    doc["files"][0]["path"] = "../../etc/passwd"
    (enc / MANIFEST_NAME).write_text(json.dumps(doc))
    with pytest.raises(FormatError, match="escapes"):
        decrypt_tree(enc, tmp_path / "out", kek)


def test_non_regular_files_refused(tmp_path: pathlib.Path, kek: LocalKeyFile) -> None:
    root = tmp_path / "d"
    root.mkdir()
    os.mkfifo(root / "pipe")
    with pytest.raises(UsageError, match="not a regular file"):
        encrypt_tree(root, tmp_path / "enc", kek)
    with pytest.raises(UsageError, match="no such file"):
        encrypt_tree(tmp_path / "absent", tmp_path / "enc", kek)


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
