"""Hole 7: rotation is crash-safe and resumable, and an interrupted one never passes as done."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from kastell.errors import UsageError
from kastell.integrity.keys import KeyAlgorithm, generate_private_key
from kastell.protect import (
    LocalKeyFile,
    _paths,
    _pipe,
    decrypt_tree,
    encrypt_tree,
    generate_kek_file,
    rotate_tree,
    rotation,
    verify_tree,
)
from kastell.protect import _format as fmt
from kastell.protect.dataset import IntegrityMismatchError
from kastell.protect.interface import ProtectError, ProtectIOError, WrongKeyError
from kastell.protect.stream import read_envelope

OWNER = generate_private_key(KeyAlgorithm.ED25519)
TRUSTED = [OWNER.public_key]
FILES = {"a.txt": "alpha " * 40, "b.txt": "bravo " * 40, "sub/c.txt": "charlie " * 40}


@pytest.fixture
def kek(tmp_path: pathlib.Path) -> LocalKeyFile:
    return generate_kek_file(tmp_path / "kek.key")


@pytest.fixture
def new_kek(tmp_path: pathlib.Path) -> LocalKeyFile:
    return generate_kek_file(tmp_path / "new.key")


@pytest.fixture
def enc(tmp_path: pathlib.Path, kek: LocalKeyFile) -> pathlib.Path:
    data = tmp_path / "data"
    for name, text in FILES.items():
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_text(text)
    encrypt_tree(data, tmp_path / "enc", kek, OWNER, chunk_size=64)
    return tmp_path / "enc"


def _decrypts(enc: pathlib.Path, key: LocalKeyFile, out: pathlib.Path) -> None:
    decrypt_tree(enc, out, key, TRUSTED)
    for name, text in FILES.items():
        assert (out / name).read_text() == text


def _fail_on_call(monkeypatch: pytest.MonkeyPatch, name: str, failing: int) -> list[int]:
    module = _pipe if name == "encrypt_stream" else rotation
    calls: list[int] = []
    real = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == failing:
            raise ProtectIOError("simulated crash (disk full)")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def test_rekey_interrupted_then_resumed(
    enc: pathlib.Path, kek: LocalKeyFile, new_kek: LocalKeyFile, tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fail_on_call(monkeypatch, "encrypt_stream", 2)
    with pytest.raises(ProtectIOError, match="simulated"):
        rotate_tree(enc, kek, new_kek, OWNER, rekey=True)
    # the old signed state is intact, and the half-done re-key is named, never passed as clean
    assert (enc / "data-1").is_dir()
    assert (enc / "data-2" / "a.txt.kenc").is_file()
    problems = verify_tree(enc, TRUSTED).problems
    assert problems
    assert all(p.startswith("extra: data-2/") for p in problems)
    with pytest.raises(IntegrityMismatchError, match="data-2"):
        decrypt_tree(enc, tmp_path / "o1", kek, TRUSTED)
    with pytest.raises(UsageError, match="interrupted"):
        rotate_tree(enc, kek, new_kek, OWNER)  # a plain rotation first is refused
    monkeypatch.undo()
    calls = _fail_on_call(monkeypatch, "encrypt_stream", 0)
    manifest = rotate_tree(enc, kek, new_kek, OWNER, rekey=True)
    assert len(calls) == 2  # a.txt was reused after authenticating it under the new KEK
    assert (manifest.epoch, manifest.generation, manifest.kek_id) == (2, 2, new_kek.key_id)
    assert not (enc / "data-1").exists()
    assert verify_tree(enc, TRUSTED).problems == ()
    _decrypts(enc, new_kek, tmp_path / "o2")
    with pytest.raises(WrongKeyError):
        decrypt_tree(enc, tmp_path / "o3", kek, TRUSTED)


def test_rekey_resume_does_not_reuse_a_planted_file(
    enc: pathlib.Path, kek: LocalKeyFile, new_kek: LocalKeyFile, tmp_path: pathlib.Path,
) -> None:
    """A file under data-2 not made with the new KEK is re-done, not trusted."""
    (enc / "data-2").mkdir()
    evil_kek = generate_kek_file(tmp_path / "evil.key")
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "a.txt").write_text("poison")
    encrypt_tree(evil, tmp_path / "evil.enc", evil_kek, OWNER, chunk_size=64)
    planted = (tmp_path / "evil.enc" / "data-1" / "a.txt.kenc").read_bytes()
    (enc / "data-2" / "a.txt.kenc").write_bytes(planted)
    rotate_tree(enc, kek, new_kek, OWNER, rekey=True)
    _decrypts(enc, new_kek, tmp_path / "out")


_KILL = textwrap.dedent(
    """
    import os, sys
    from kastell.integrity.keys import load_private_key
    from kastell.protect import LocalKeyFile, _pipe, rotate_tree
    calls = []
    real = _pipe.encrypt_stream
    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os._exit(9)  # killed: no cleanup, no finally blocks
        return real(*args, **kwargs)
    _pipe.encrypt_stream = dying
    owner = load_private_key(open(sys.argv[2], "rb").read())
    rotate_tree(sys.argv[1], LocalKeyFile.load(sys.argv[3]), LocalKeyFile.load(sys.argv[4]),
                owner, rekey=True)
    """
)


def test_rekey_killed_midway_then_resumed(
    enc: pathlib.Path, kek: LocalKeyFile, new_kek: LocalKeyFile, tmp_path: pathlib.Path,
) -> None:
    (tmp_path / "owner.pem").write_bytes(OWNER.pem())
    killed = subprocess.run(
        [sys.executable, "-c", _KILL, str(enc), str(tmp_path / "owner.pem"),
         str(tmp_path / "kek.key"), str(tmp_path / "new.key")],
        capture_output=True, text=True, check=False,
    )
    assert killed.returncode == 9, killed.stderr
    assert verify_tree(enc, TRUSTED).problems  # half-done: named, not clean
    rotate_tree(enc, kek, new_kek, OWNER, rekey=True)
    assert verify_tree(enc, TRUSTED).problems == ()
    _decrypts(enc, new_kek, tmp_path / "out")


def test_rekey_interrupted_after_the_switch_is_finished_by_a_rerun(
    enc: pathlib.Path, kek: LocalKeyFile, new_kek: LocalKeyFile, tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def crash(*_: Any) -> None:
        raise ProtectIOError("simulated crash after the switch")

    monkeypatch.setattr(_paths, "remove_tree", crash)
    with pytest.raises(ProtectIOError):
        rotate_tree(enc, kek, new_kek, OWNER, rekey=True)
    assert any(p.startswith("extra: data-1/") for p in verify_tree(enc, TRUSTED).problems)
    monkeypatch.undo()
    manifest = rotate_tree(enc, kek, new_kek, OWNER, rekey=True)
    assert manifest.epoch == 2  # finished, not re-keyed a second time
    assert verify_tree(enc, TRUSTED).problems == ()
    _decrypts(enc, new_kek, tmp_path / "out")


def test_kek_rotation_interrupted_then_resumed(
    enc: pathlib.Path, kek: LocalKeyFile, new_kek: LocalKeyFile, tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fail_on_call(monkeypatch, "rewrap_slot", 2)
    with pytest.raises(ProtectIOError):
        rotate_tree(enc, kek, new_kek, OWNER)
    problems = verify_tree(enc, TRUSTED).problems
    assert len(problems) == 1
    assert "a.txt" in problems[0]
    monkeypatch.undo()
    manifest = rotate_tree(enc, kek, new_kek, OWNER)
    assert (manifest.generation, manifest.kek_id) == (2, new_kek.key_id)
    assert verify_tree(enc, TRUSTED).problems == ()
    _decrypts(enc, new_kek, tmp_path / "out")
    with pytest.raises(WrongKeyError):
        decrypt_tree(enc, tmp_path / "o2", kek, TRUSTED)


def test_kek_rotation_crash_between_slot_write_and_erase(
    enc: pathlib.Path, kek: LocalKeyFile, new_kek: LocalKeyFile, tmp_path: pathlib.Path,
) -> None:
    """Both slots valid (new written, old not yet erased): refused until resumed, then clean."""
    path = enc / "data-1" / "a.txt.kenc"
    with open(path, "r+b") as handle:
        header, slots, _ = read_envelope(handle)
        slot = slots[0]
        key = kek.unwrap(slot.wrapped, header.wrap_context(slot.generation))
        encoded = fmt.encode_slot(2, new_kek.wrap(key, header.wrap_context(2)))
        handle.seek(len(header.prefix_bytes()) + (1 - slot.index) * fmt.SLOT_SIZE)
        handle.write(encoded)
    assert any("stale" in p for p in verify_tree(enc, TRUSTED).problems)
    with pytest.raises(ProtectError):
        decrypt_tree(enc, tmp_path / "o1", kek, TRUSTED)
    rotate_tree(enc, kek, new_kek, OWNER)
    assert verify_tree(enc, TRUSTED).problems == ()
    _decrypts(enc, new_kek, tmp_path / "o2")


def test_generation_exhausted_is_a_clear_error(
    enc: pathlib.Path, kek: LocalKeyFile, new_kek: LocalKeyFile, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fmt, "MAX_GENERATION", 1)
    with pytest.raises(UsageError, match="exhausted"):
        rotate_tree(enc, kek, new_kek, OWNER)
