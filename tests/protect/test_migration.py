"""Folders of the unsigned v1 format: refused with a hint, and migrated by `protect migrate`.

The v1 folders here are built byte by byte from the v1 layout (header without path or
dataset id, slot generation not in the wrap context, unsigned JSON manifest).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kastell.cli.main import main
from kastell.integrity.keys import PrivateKey
from kastell.protect import LocalKeyFile, decrypt_stream, decrypt_tree, verify_tree
from kastell.protect import _format as fmt
from kastell.protect.dataset import MANIFEST_NAME
from kastell.protect.interface import LegacyFormatError, ManifestError, TamperedError
from kastell.protect.migration import migrate_tree

FILES = {"a.txt": b"alpha " * 40, "sub/b.bin": os.urandom(150), "empty": b""}


def _v1_file(data: bytes, kek: LocalKeyFile, chunk: int) -> tuple[bytes, dict[str, object]]:
    file_id, prefix = os.urandom(16), os.urandom(7)
    header = json.dumps(
        {"chunk_size": chunk, "cipher": "AES-256-GCM", "file_id": file_id.hex(),
         "format": "kastell.enc/v1", "nonce_prefix": prefix.hex()},
        sort_keys=True, separators=(",", ":"),
    ).encode()
    head = fmt.MAGIC + struct.pack(">I", len(header)) + header
    digest = hashlib.sha256(head).digest()
    key = AESGCM.generate_key(bit_length=256)
    slot = fmt.encode_slot(1, kek.wrap(key, file_id + digest))
    parts = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
    body = b""
    for index, part in enumerate(parts):
        flag = b"\x01" if index == len(parts) - 1 else b"\x00"
        nonce = prefix + struct.pack(">I", index) + flag
        body += AESGCM(key).encrypt(nonce, part, digest + struct.pack(">Q", index) + flag)
    entry = {
        "plaintext_sha256": hashlib.sha256(data).hexdigest(), "plaintext_size": len(data),
        "ciphertext_sha256": hashlib.sha256(head + body).hexdigest(),
        "ciphertext_size": len(head) + len(body), "chunks": len(parts),
    }
    return head + slot + b"\x00" * fmt.SLOT_SIZE + body, entry


@pytest.fixture
def v1(tmp_path: pathlib.Path, kek: LocalKeyFile) -> pathlib.Path:
    root = tmp_path / "v1"
    entries = []
    for path, data in FILES.items():
        sealed, entry = _v1_file(data, kek, 64)
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / (path + ".kenc")).write_bytes(sealed)
        entries.append({"path": path, **entry})
    manifest = {"format": "kastell.protect-manifest/v1", "cipher": "AES-256-GCM",
                "chunk_size": 64, "kek_id": kek.key_id, "files": entries}
    (root / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))
    return root


def test_v1_folder_and_file_are_refused_with_the_migration_hint(
    v1: pathlib.Path, owner: PrivateKey, kek: LocalKeyFile
) -> None:
    with pytest.raises(LegacyFormatError) as caught:
        verify_tree(v1, [owner.public_key])
    assert "kastell protect migrate" in caught.value.diagnostics()
    with pytest.raises(LegacyFormatError):
        decrypt_stream(io.BytesIO((v1 / "a.txt.kenc").read_bytes()), io.BytesIO(), kek)


def test_migrate_round_trip(
    v1: pathlib.Path, tmp_path: pathlib.Path, kek: LocalKeyFile, owner: PrivateKey
) -> None:
    result = migrate_tree(v1, tmp_path / "v2", kek, owner)
    raw = (v1 / MANIFEST_NAME).read_bytes()
    assert result.v1_manifest_sha256 == hashlib.sha256(raw).hexdigest()
    assert verify_tree(tmp_path / "v2", [owner.public_key]).problems == ()
    decrypt_tree(tmp_path / "v2", tmp_path / "out", kek, [owner.public_key])
    for path, data in FILES.items():
        assert (tmp_path / "out" / path).read_bytes() == data


def test_migrate_refuses_tampered_v1_data_and_paths(
    v1: pathlib.Path, tmp_path: pathlib.Path, kek: LocalKeyFile, owner: PrivateKey
) -> None:
    sealed = v1 / "a.txt.kenc"
    raw = bytearray(sealed.read_bytes())
    raw[-20] ^= 1
    sealed.write_bytes(bytes(raw))
    with pytest.raises(TamperedError):
        migrate_tree(v1, tmp_path / "v2", kek, owner)
    assert not (tmp_path / "v2" / "data-1" / "a.txt.kenc").exists()
    manifest = json.loads((v1 / MANIFEST_NAME).read_text())
    manifest["files"][0]["path"] = "../escape"
    (v1 / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ManifestError):
        migrate_tree(v1, tmp_path / "v3", kek, owner)


def test_cli_migrate(
    v1: pathlib.Path, tmp_path: pathlib.Path, owner: PrivateKey,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "owner.pem").write_bytes(owner.pem())
    assert main(["protect", "migrate", str(v1), "--kek", str(tmp_path / "kek.key"),
                 "--signing-key", str(tmp_path / "owner.pem"), "-o", str(tmp_path / "v2"),
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = hashlib.sha256((v1 / MANIFEST_NAME).read_bytes()).hexdigest()
    assert out["v1_manifest_sha256"] == expected
