"""Every bad input gets a one-line error, a hint, the right exit code and no traceback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kastell.cli.main import main
from kastell.integrity.hashing import hash_tree
from kastell.integrity.interface import (
    BrokenSymlinkError,
    FileChangedError,
    HashOptions,
    IntegrityError,
    PathNotFoundError,
    SpecialFileError,
    SymlinkEscapeError,
    SymlinkLoopError,
    UnsupportedPathError,
)

Writer = Callable[[Path, bytes], Path]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["manifest", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err


def _assert_one_line_error(err: str, needle: str) -> None:
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: ")
    assert needle in lines[0]
    assert lines[1].startswith("  what to do: ")
    assert len(lines) == 2


def test_nonexistent_path_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(PathNotFoundError):
        hash_tree(tmp_path / "missing")
    code, err = _cli(capsys, str(tmp_path / "missing"))
    assert code == 2
    _assert_one_line_error(err, "no such file or directory")


def _run_without_read_privilege(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "kastell.cli.main", *args]
    if os.geteuid() == 0:  # root reads everything: drop the capabilities that let it
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        command = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_unreadable_file_is_a_check_error(tmp_path: Path, put: Writer) -> None:
    put(tmp_path / "ok", b"fine")
    secret = put(tmp_path / "secret", b"no")
    secret.chmod(0)
    try:
        result = _run_without_read_privilege("manifest", str(tmp_path))
    finally:
        secret.chmod(0o600)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    _assert_one_line_error(result.stderr, "permission denied")
    assert "secret" in result.stderr


def test_unlistable_directory_is_a_check_error(tmp_path: Path, put: Writer) -> None:
    put(tmp_path / "locked" / "inner", b"x")
    (tmp_path / "locked").chmod(0)
    try:
        result = _run_without_read_privilege("manifest", str(tmp_path))
    finally:
        (tmp_path / "locked").chmod(0o700)
    assert result.returncode == 3, result.stderr
    _assert_one_line_error(result.stderr, "permission denied")


def test_fifo_is_rejected_without_being_opened(tmp_path: Path, put: Writer) -> None:
    put(tmp_path / "ok", b"fine")
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(SpecialFileError, match="FIFO"):
        hash_tree(tmp_path)
    # a separate process with a timeout: opening the FIFO would block forever
    result = subprocess.run(
        [sys.executable, "-m", "kastell.cli.main", "manifest", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3
    _assert_one_line_error(result.stderr, "FIFO")


def test_fifo_can_be_ignored(tmp_path: Path, put: Writer) -> None:
    put(tmp_path / "ok", b"fine")
    os.mkfifo(tmp_path / "pipe")
    assert [f.path for f in hash_tree(tmp_path, HashOptions(ignore=("pipe",))).files] == ["ok"]


def test_fifo_as_the_path_itself(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(tmp_path / "pipe")
    code, err = _cli(capsys, str(tmp_path / "pipe"))
    assert code == 3
    _assert_one_line_error(err, "FIFO")


def test_socket_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(tmp_path / "sock"))
        code, err = _cli(capsys, str(tmp_path))
    finally:
        server.close()
    assert code == 3
    _assert_one_line_error(err, "socket")


def test_device_file_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        os.mknod(tmp_path / "null", 0o600 | 0o020000, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    code, err = _cli(capsys, str(tmp_path))
    assert code == 3
    _assert_one_line_error(err, "character device")


def test_directory_symlink_loop_when_following(
    tmp_path: Path, put: Writer, capsys: pytest.CaptureFixture[str]
) -> None:
    put(tmp_path / "a" / "file", b"x")
    (tmp_path / "a" / "up").symlink_to("..", target_is_directory=True)
    with pytest.raises(SymlinkLoopError):
        hash_tree(tmp_path, HashOptions(follow_symlinks=True))
    code, err = _cli(capsys, "--follow-symlinks", str(tmp_path))
    assert code == 3
    _assert_one_line_error(err, "loop")


def test_self_referencing_symlink_when_following(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "me").symlink_to("me")
    code, err = _cli(capsys, "--follow-symlinks", str(tmp_path))
    assert code == 3
    _assert_one_line_error(err, "symbolic links")


def test_symlink_loop_is_recorded_when_not_following(tmp_path: Path, put: Writer) -> None:
    put(tmp_path / "a" / "file", b"x")
    (tmp_path / "a" / "up").symlink_to("..", target_is_directory=True)
    (tmp_path / "me").symlink_to("me")
    result = hash_tree(tmp_path)
    assert [(s.path, s.target) for s in result.symlinks] == [("a/up", ".."), ("me", "me")]


def test_symlink_escaping_the_root(
    tmp_path: Path, put: Writer, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = put(tmp_path / "outside.txt", b"not part of the model")
    root = tmp_path / "model"
    put(root / "w.bin", b"w")
    (root / "leak").symlink_to(outside)
    with pytest.raises(SymlinkEscapeError):
        hash_tree(root, HashOptions(follow_symlinks=True))
    code, err = _cli(capsys, "--follow-symlinks", str(root))
    assert code == 3
    _assert_one_line_error(err, "points outside")
    # not following: the link is recorded, its target never read
    assert [s.target for s in hash_tree(root).symlinks] == [str(outside)]


def test_relative_symlink_escaping_through_parent(tmp_path: Path, put: Writer) -> None:
    put(tmp_path / "secret", b"s")
    put(tmp_path / "model" / "w.bin", b"w")
    (tmp_path / "model" / "up").symlink_to("../secret")
    with pytest.raises(SymlinkEscapeError):
        hash_tree(tmp_path / "model", HashOptions(follow_symlinks=True))


def test_broken_symlink_when_following(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "dangling").symlink_to("nowhere")
    with pytest.raises(BrokenSymlinkError):
        hash_tree(tmp_path, HashOptions(follow_symlinks=True))
    code, err = _cli(capsys, "--follow-symlinks", str(tmp_path))
    assert code == 3
    _assert_one_line_error(err, "points to nothing")


def test_non_utf8_file_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = os.fsencode(tmp_path) + b"/bad-\xff-name"
    with open(name, "wb") as handle:
        handle.write(b"x")
    with pytest.raises(UnsupportedPathError):
        hash_tree(tmp_path)
    code, err = _cli(capsys, str(tmp_path))
    assert code == 3
    _assert_one_line_error(err, "not valid UTF-8")


def _mutating(action: Callable[[], None]) -> Callable[[int], None]:
    done = []

    def on_bytes(count: int) -> None:
        if not done:
            done.append(count)
            action()

    return on_bytes


def _grown(path: Path) -> None:
    with path.open("ab") as handle:
        handle.write(b"more")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_grown, id="appended"),
        pytest.param(lambda path: os.truncate(path, 100), id="truncated"),
        pytest.param(lambda path: path.write_bytes(os.urandom(50_000)), id="rewritten"),
        pytest.param(lambda path: os.utime(path, ns=(1, 1)), id="same-size-new-mtime"),
        pytest.param(
            lambda path: (
                path.with_name("other").write_bytes(b"x" * 50_000),
                os.replace(path.with_name("other"), path),
            ),
            id="replaced",
        ),
    ],
)
def test_file_changing_while_hashed_fails(
    tmp_path: Path, put: Writer, change: Callable[[Path], object]
) -> None:
    target = put(tmp_path / "big.bin", os.urandom(50_000))
    # an old mtime, so a same-size rewrite within one coarse timestamp tick is still visible
    os.utime(target, ns=(10**9, 10**9))
    options = HashOptions(chunk_size=8192, read_size=4096, workers=1)
    with pytest.raises(FileChangedError, match="changed while it was being hashed") as caught:
        hash_tree(tmp_path, options, on_bytes=_mutating(lambda: change(target)))
    assert caught.value.exit_code == 3


def test_file_deleted_after_walk(tmp_path: Path, put: Writer) -> None:
    put(tmp_path / "a", os.urandom(20_000))
    victim = put(tmp_path / "b", os.urandom(20_000))
    options = HashOptions(workers=1, read_size=4096)
    with pytest.raises(FileChangedError):
        hash_tree(tmp_path, options, on_bytes=_mutating(victim.unlink))


def test_errors_are_integrity_errors_with_hints(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(IntegrityError) as caught:
        hash_tree(tmp_path)
    assert "--ignore" in caught.value.diagnostics()


def _swap_before_listing(
    monkeypatch: pytest.MonkeyPatch, directory: Path, swap: Callable[[], None]
) -> None:
    """Run ``swap`` just before the walk opens ``directory`` (a race, made deterministic)."""
    real_open = os.open
    swapped = []

    def racing_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if not swapped and os.fspath(path) == os.path.realpath(directory):
            swapped.append(True)
            swap()
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", racing_open)


def test_directory_swapped_for_a_link_mid_walk(
    tmp_path: Path, put: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(tmp_path / "outside" / "secret", b"s")
    root = tmp_path / "model"
    put(root / "sub" / "w.bin", b"w")

    def swap() -> None:
        (root / "sub").rename(root / "sub.old")
        (root / "sub").symlink_to(tmp_path / "outside", target_is_directory=True)

    _swap_before_listing(monkeypatch, root / "sub", swap)
    with pytest.raises(FileChangedError, match="changed while the tree was walked"):
        hash_tree(root)


def test_directory_replaced_by_another_mid_walk(
    tmp_path: Path, put: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "model"
    put(root / "sub" / "w.bin", b"w")
    put(tmp_path / "other" / "x.bin", b"x")

    def swap() -> None:
        (root / "sub").rename(tmp_path / "sub.old")
        (tmp_path / "other").rename(root / "sub")

    _swap_before_listing(monkeypatch, root / "sub", swap)
    with pytest.raises(FileChangedError):
        hash_tree(root)
