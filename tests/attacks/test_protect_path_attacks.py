"""Hole 5: `kastell protect` never reads or writes outside its folders, whatever they hold."""

from __future__ import annotations

import base64
import json
import os
import pathlib
from typing import Any

import pytest

from kastell.errors import UsageError
from kastell.integrity.dsse import sign_envelope
from kastell.integrity.keys import KeyAlgorithm, generate_private_key
from kastell.protect import (
    LocalKeyFile,
    decrypt_tree,
    encrypt_tree,
    generate_kek_file,
    rotate_tree,
    verify_tree,
)
from kastell.protect.dataset import MANIFEST_NAME
from kastell.protect.interface import (
    ManifestError,
    ProtectError,
    SignatureError,
    UnsafePathError,
)
from kastell.protect.manifest import PAYLOAD_TYPE

OWNER = generate_private_key(KeyAlgorithm.ED25519)
TRUSTED = [OWNER.public_key]


@pytest.fixture
def kek(tmp_path: pathlib.Path) -> LocalKeyFile:
    return generate_kek_file(tmp_path / "kek.key")


@pytest.fixture
def enc(tmp_path: pathlib.Path, kek: LocalKeyFile) -> pathlib.Path:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("alpha")
    (data / "sub" / "b.txt").write_text("bravo")
    encrypt_tree(data, tmp_path / "enc", kek, OWNER)
    return tmp_path / "enc"


def _payload(enc: pathlib.Path) -> dict[str, Any]:
    envelope = json.loads((enc / MANIFEST_NAME).read_bytes())
    document: dict[str, Any] = json.loads(base64.b64decode(envelope["payload"]))
    return document


def _sign(enc: pathlib.Path, payload: dict[str, Any], *, resign: bool = True) -> None:
    raw = json.dumps(payload).encode()
    if resign:  # the owner's own tool never writes these; a stolen signing key could
        document = sign_envelope(raw, PAYLOAD_TYPE, OWNER).to_dict()
    else:
        document = json.loads((enc / MANIFEST_NAME).read_bytes())
        document["payload"] = base64.b64encode(raw).decode()
    (enc / MANIFEST_NAME).write_text(json.dumps(document))


def test_symlink_traversal_of_the_original_report_writes_nothing_outside(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path
) -> None:
    """`lnk/../../pwned` through a symlink in the encrypted folder (issue 15, hole 5)."""
    (enc / "data-1" / "lnk").symlink_to(tmp_path)
    (enc / "data-1" / "lnk2").symlink_to(enc / "data-1" / "a.txt.kenc")
    payload = _payload(enc)
    payload["files"][0]["path"] = "lnk/../../pwned"
    out = tmp_path / "work" / "out"
    for resign in (False, True):
        _sign(enc, payload, resign=resign)
        with pytest.raises((SignatureError, ManifestError)):
            decrypt_tree(enc, out, kek, TRUSTED)
        with pytest.raises((SignatureError, ManifestError)):
            verify_tree(enc, TRUSTED)
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "work" / "pwned").exists()


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", "", "a\x00b", "a\\..\\b",
     "a\nb", "\udcff"],
)
def test_unsafe_manifest_paths_are_refused_even_when_signed(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path, path: str
) -> None:
    payload = _payload(enc)
    payload["files"][0]["path"] = path
    try:
        _sign(enc, payload)
    except UnicodeEncodeError:  # a lone surrogate cannot even be written as UTF-8 JSON
        return
    with pytest.raises(ManifestError):
        verify_tree(enc, TRUSTED)
    with pytest.raises(ManifestError):
        decrypt_tree(enc, tmp_path / "out", kek, TRUSTED)


@pytest.mark.parametrize(
    ("first", "second"),
    [("a.txt", "a.txt"), ("a.txt", "A.TXT"), ("caf\u00e9", "cafe\u0301"), ("a.txt", "a.txt/x"),
     ("a", "a.kenc/x")],
)
def test_duplicate_and_colliding_entries_are_refused(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path, first: str, second: str
) -> None:
    payload = _payload(enc)
    payload["files"][0]["path"] = first
    payload["files"][1]["path"] = second
    _sign(enc, payload)
    with pytest.raises(ManifestError):
        decrypt_tree(enc, tmp_path / "out", kek, TRUSTED)


def test_symlinked_folder_inside_the_encrypted_dataset_is_not_followed(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path
) -> None:
    """data-1/sub replaced by a symlink to a copy elsewhere: read refused, verify fails."""
    elsewhere = tmp_path / "elsewhere"
    (enc / "data-1" / "sub").rename(elsewhere)
    (enc / "data-1" / "sub").symlink_to(elsewhere)
    problems = verify_tree(enc, TRUSTED).problems
    assert any("symlink" in p for p in problems)
    with pytest.raises(ProtectError):
        decrypt_tree(enc, tmp_path / "out", kek, TRUSTED)


def test_symlink_planted_in_the_output_folder_is_not_followed(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path
) -> None:
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir()
    (victim_dir / "b.txt").write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(victim_dir)  # a folder component
    with pytest.raises(UnsafePathError):
        decrypt_tree(enc, out, kek, TRUSTED)
    assert (victim_dir / "b.txt").read_text() == "keep me"
    (out / "sub").unlink()
    (out / "a.txt").unlink()  # written before the refusal: authenticated, inside the root
    (out / "a.txt").symlink_to(victim_dir / "b.txt")  # the final name: replaced, not followed
    decrypt_tree(enc, out, kek, TRUSTED)
    assert (victim_dir / "b.txt").read_text() == "keep me"
    assert not (out / "a.txt").is_symlink()
    assert (out / "a.txt").read_text() == "alpha"


def test_rotate_does_not_write_through_a_symlinked_file(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path
) -> None:
    outside = tmp_path / "outside.kenc"
    sealed = enc / "data-1" / "a.txt.kenc"
    outside.write_bytes(sealed.read_bytes())
    sealed.unlink()
    sealed.symlink_to(outside)
    before = outside.read_bytes()
    new_kek = generate_kek_file(tmp_path / "new.key")
    with pytest.raises(UnsafePathError):
        rotate_tree(enc, kek, new_kek, OWNER)
    with pytest.raises(UnsafePathError):
        rotate_tree(enc, kek, new_kek, OWNER, rekey=True)
    assert outside.read_bytes() == before


def test_fifo_in_place_of_an_encrypted_file_does_not_hang(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path
) -> None:
    sealed = enc / "data-1" / "a.txt.kenc"
    sealed.unlink()
    os.mkfifo(sealed)
    assert any("a.txt.kenc" in p for p in verify_tree(enc, TRUSTED).problems)
    with pytest.raises(ProtectError):
        decrypt_tree(enc, tmp_path / "out", kek, TRUSTED)


def test_encrypt_refuses_links_and_colliding_names(
    tmp_path: pathlib.Path, kek: LocalKeyFile
) -> None:
    data = tmp_path / "src"
    data.mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key").write_text("do not encrypt me")
    (data / "lnk").symlink_to(tmp_path / "secret")  # a symlinked folder, not just a file
    with pytest.raises(UsageError, match="not a regular file"):
        encrypt_tree(data, tmp_path / "e1", kek, OWNER)
    (data / "lnk").unlink()
    (data / "Name.txt").write_text("1")
    (data / "name.TXT").write_text("2")
    with pytest.raises(UsageError, match="collide"):
        encrypt_tree(data, tmp_path / "e2", kek, OWNER)
    (data / "name.TXT").unlink()
    (data / "Name.txt.kenc").mkdir()
    (data / "Name.txt.kenc" / "x").write_text("stored where Name.txt's ciphertext goes")
    with pytest.raises(UsageError, match="under another"):
        encrypt_tree(data, tmp_path / "e4", kek, OWNER)
    (data / "Name.txt.kenc" / "x").unlink()
    (data / "Name.txt.kenc").rmdir()
    (data / "bad\nname").write_text("3")
    with pytest.raises(UsageError, match="control"):
        encrypt_tree(data, tmp_path / "e3", kek, OWNER)


def test_encrypt_into_a_non_empty_folder_is_refused(
    tmp_path: pathlib.Path, kek: LocalKeyFile, enc: pathlib.Path
) -> None:
    with pytest.raises(UsageError, match="not empty"):
        encrypt_tree(tmp_path / "data", enc, kek, OWNER)


def test_rotate_does_not_write_through_a_hard_link(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path
) -> None:
    outside = tmp_path / "outside.kenc"
    os.link(enc / "data-1" / "a.txt.kenc", outside)
    before = outside.read_bytes()
    with pytest.raises(UnsafePathError, match="hard link"):
        rotate_tree(enc, kek, generate_kek_file(tmp_path / "new.key"), OWNER)
    assert outside.read_bytes() == before
