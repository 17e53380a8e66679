from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

Writer = Callable[[Path, bytes], Path]


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def put() -> Writer:
    """Write bytes to a path, creating parent directories."""
    return write


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small model-like directory: nested files, an empty file, a hidden file, .git."""
    root = tmp_path / "model"
    write(root / "weights.bin", os.urandom(10_000))
    write(root / "config.json", b'{"layers": 2}\n')
    write(root / "sub" / "deeper" / "part.bin", os.urandom(3_000))
    write(root / "empty", b"")
    write(root / ".hidden", b"secret-ish\n")
    write(root / ".git" / "HEAD", b"ref: refs/heads/main\n")
    return root
