"""Attacks on `kastell protect` (issue 15 holes 5-7, item 2): every way it could say yes wrongly.

The attacker controls the encrypted folder (files, manifest, symlinks) and may hold an old
KEK or their own KEK and signing key; they hold neither the current KEK nor the owner's key.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pathlib
from typing import Any

import pytest

from kastell.integrity.dsse import sign_envelope
from kastell.integrity.keys import KeyAlgorithm, PrivateKey, generate_private_key
from kastell.protect import (
    LocalKeyFile,
    decrypt_tree,
    encrypt_tree,
    generate_kek_file,
    rotate_tree,
    verify_tree,
)
from kastell.protect import _format as fmt
from kastell.protect.dataset import MANIFEST_NAME, IntegrityMismatchError
from kastell.protect.interface import (
    ProtectError,
    SignatureError,
    TamperedError,
)
from kastell.protect.manifest import PAYLOAD_TYPE

OWNER = generate_private_key(KeyAlgorithm.ED25519)
INTRUDER = generate_private_key(KeyAlgorithm.ED25519)
TRUSTED = [OWNER.public_key]


@pytest.fixture
def kek(tmp_path: pathlib.Path) -> LocalKeyFile:
    return generate_kek_file(tmp_path / "kek.key")


@pytest.fixture
def enc(tmp_path: pathlib.Path, kek: LocalKeyFile) -> pathlib.Path:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("alpha " * 30)
    (data / "b.txt").write_text("bravo " * 30)
    (data / "sub" / "c.bin").write_bytes(os.urandom(300))
    encrypt_tree(data, tmp_path / "enc", kek, OWNER, chunk_size=64)
    return tmp_path / "enc"


def _envelope(enc: pathlib.Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((enc / MANIFEST_NAME).read_bytes())
    return document


def _payload(enc: pathlib.Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(base64.b64decode(_envelope(enc)["payload"]))
    return document


def _write(enc: pathlib.Path, payload: dict[str, Any] | bytes, key: PrivateKey | None) -> None:
    """Write ``payload`` as the manifest: signed by ``key``, or with the old signature kept."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    if key is None:
        document = _envelope(enc)
        document["payload"] = base64.b64encode(raw).decode()
    else:
        document = sign_envelope(raw, PAYLOAD_TYPE, key).to_dict()
    (enc / MANIFEST_NAME).write_text(json.dumps(document))


def _fails_everywhere(enc: pathlib.Path, kek: LocalKeyFile, out: pathlib.Path) -> None:
    """The tampered folder fails verify (without the KEK) and decrypt, and releases nothing."""
    outcome: ProtectError | tuple[str, ...]
    try:
        outcome = verify_tree(enc, TRUSTED).problems
    except ProtectError as error:
        outcome = error
    if isinstance(outcome, ProtectError):
        assert outcome.exit_code in (1, 2)
    else:
        assert outcome, "verify said the tampered folder is clean"
    with pytest.raises(ProtectError) as caught:
        decrypt_tree(enc, out, kek, TRUSTED)
    assert caught.value.exit_code in (1, 2)


def _sealed(enc: pathlib.Path, name: str, epoch: int = 1) -> pathlib.Path:
    return enc / f"data-{epoch}" / (name + ".kenc")


# --- hole 6: the manifest is authenticated --------------------------------------------------


def test_swapping_two_files_with_their_entries_fails(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path
) -> None:
    a, b = _sealed(enc, "a.txt"), _sealed(enc, "b.txt")
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)
    payload = _payload(enc)
    first, second = payload["files"][0], payload["files"][1]
    first["path"], second["path"] = second["path"], first["path"]
    _write(enc, payload, None)
    _fails_everywhere(enc, kek, tmp_path / "out")
    assert not (tmp_path / "out" / "a.txt").exists()


def test_swapping_files_and_resigning_with_an_untrusted_key_fails(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path
) -> None:
    a, b = _sealed(enc, "a.txt"), _sealed(enc, "b.txt")
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)
    payload = _payload(enc)
    payload["files"][0]["path"], payload["files"][1]["path"] = "b.txt", "a.txt"
    _write(enc, payload, INTRUDER)
    with pytest.raises(SignatureError):
        verify_tree(enc, TRUSTED)
    _fails_everywhere(enc, kek, tmp_path / "out")


def test_swapping_only_the_files_fails_by_their_authenticated_headers(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path
) -> None:
    a, b = _sealed(enc, "a.txt"), _sealed(enc, "b.txt")
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)
    assert any("another path" in p for p in verify_tree(enc, TRUSTED).problems)
    with pytest.raises(TamperedError, match="another path"):
        decrypt_tree(enc, tmp_path / "out", kek, TRUSTED)


def test_deleting_a_file_and_its_entry_fails(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path
) -> None:
    _sealed(enc, "b.txt").unlink()
    payload = _payload(enc)
    payload["files"] = [f for f in payload["files"] if f["path"] != "b.txt"]
    _write(enc, payload, None)
    _fails_everywhere(enc, kek, tmp_path / "out")


def test_adding_a_file_with_or_without_an_entry_fails(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path
) -> None:
    _sealed(enc, "z.txt").write_bytes(_sealed(enc, "a.txt").read_bytes())
    assert "extra: data-1/z.txt.kenc" in verify_tree(enc, TRUSTED).problems
    with pytest.raises(IntegrityMismatchError, match="z.txt"):
        decrypt_tree(enc, tmp_path / "out", kek, TRUSTED)
    payload = _payload(enc)
    payload["files"].append(dict(payload["files"][0], path="z.txt"))
    _write(enc, payload, None)
    _fails_everywhere(enc, kek, tmp_path / "out2")


def test_reencrypting_a_file_under_an_attacker_key_fails(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path
) -> None:
    """The attacker encrypts their own content for a.txt and fixes the manifest entry."""
    evil_kek = generate_kek_file(tmp_path / "evil.key")
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "a.txt").write_text("poisoned")
    encrypt_tree(evil, tmp_path / "evil.enc", evil_kek, INTRUDER, chunk_size=64)
    _sealed(enc, "a.txt").write_bytes(_sealed(tmp_path / "evil.enc", "a.txt").read_bytes())
    payload = _payload(enc)
    payload["files"][0] = _payload(tmp_path / "evil.enc")["files"][0]
    for key in (None, INTRUDER):
        _write(enc, payload, key)
        _fails_everywhere(enc, kek, tmp_path / "out")
    assert not (tmp_path / "out" / "a.txt").exists()


def test_file_spliced_from_another_dataset_of_the_same_owner_fails(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.txt").write_text("other dataset")
    encrypt_tree(other, tmp_path / "other.enc", kek, OWNER, chunk_size=64)
    _sealed(enc, "a.txt").write_bytes(_sealed(tmp_path / "other.enc", "a.txt").read_bytes())
    _fails_everywhere(enc, kek, tmp_path / "out")


def test_manifest_of_another_signed_dataset_fails(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path
) -> None:
    """Replaying another (smaller) dataset's valid manifest: the folder holds unlisted files."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.txt").write_text("x")
    encrypt_tree(other, tmp_path / "other.enc", kek, OWNER, chunk_size=64)
    (enc / MANIFEST_NAME).write_bytes((tmp_path / "other.enc" / MANIFEST_NAME).read_bytes())
    _fails_everywhere(enc, kek, tmp_path / "out")


def test_signature_by_an_untrusted_key_and_no_trusted_key(enc: pathlib.Path) -> None:
    with pytest.raises(SignatureError):
        verify_tree(enc, [INTRUDER.public_key])
    with pytest.raises(SignatureError, match="no trusted key"):
        verify_tree(enc, [])


# --- hole 7: key slots are authenticated; rotation -------------------------------------------


def _header(data: bytes) -> fmt.DataHeader:
    return fmt.read_header(io.BytesIO(data))


def _slots(path: pathlib.Path) -> tuple[int, bytes]:
    raw = path.read_bytes()
    return len(_header(raw).prefix_bytes()), raw


def test_reinserted_pre_rotation_slot_fails(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path
) -> None:
    start, before = _slots(_sealed(enc, "a.txt"))
    old_slot = before[start : start + fmt.SLOT_SIZE]
    new_kek = generate_kek_file(tmp_path / "new.key")
    rotate_tree(enc, kek, new_kek, OWNER)
    generation, wrapped = fmt.decode_slot(old_slot) or (0, None)
    assert wrapped is not None
    path = _sealed(enc, "a.txt")
    _, after = _slots(path)
    for slot_bytes in (old_slot, fmt.encode_slot(generation + 5, wrapped)):
        for position in (0, 1):  # beside the new slot, or in its place
            mutated = bytearray(after)
            at = start + position * fmt.SLOT_SIZE
            mutated[at : at + fmt.SLOT_SIZE] = slot_bytes
            path.write_bytes(bytes(mutated))
            assert verify_tree(enc, TRUSTED).problems
            for key in (kek, new_kek):
                with pytest.raises(ProtectError):
                    decrypt_tree(enc, tmp_path / "out", key, TRUSTED)
    assert not (tmp_path / "out" / "a.txt").exists()


def test_whole_folder_rolled_back_is_refused_with_min_generation(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path
) -> None:
    saved = {p: p.read_bytes() for p in enc.rglob("*") if p.is_file()}
    rotate_tree(enc, kek, generate_kek_file(tmp_path / "new.key"), OWNER)
    for path, data in saved.items():
        path.write_bytes(data)
    with pytest.raises(TamperedError, match="rolled back"):
        verify_tree(enc, TRUSTED, min_generation=2)
    with pytest.raises(TamperedError, match="rolled back"):
        decrypt_tree(enc, tmp_path / "out", kek, TRUSTED, min_generation=2)


def test_rekey_renews_data_keys_and_drops_the_old_epoch(
    enc: pathlib.Path, kek: LocalKeyFile, tmp_path: pathlib.Path
) -> None:
    before = _sealed(enc, "a.txt").read_bytes()
    manifest = rotate_tree(enc, kek, kek, OWNER, rekey=True)
    assert (manifest.epoch, manifest.generation) == (2, 2)
    assert not (enc / "data-1").exists()
    assert verify_tree(enc, TRUSTED).problems == ()
    # a leaked old data key no longer helps: the chunks are under a new key and nonce prefix
    old, new = _header(before), _header(_sealed(enc, "a.txt", 2).read_bytes())
    assert old.file_id != new.file_id
    assert old.nonce_prefix != new.nonce_prefix
    decrypt_tree(enc, tmp_path / "out", kek, TRUSTED)
    assert (tmp_path / "out" / "a.txt").read_text() == "alpha " * 30

