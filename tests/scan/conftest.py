"""Fixtures of the scanner tests."""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import pytest

from kastell.scan import FileResult, scan_file

Scan = Callable[[str, bytes], FileResult]


@pytest.fixture
def scan_bytes(tmp_path: pathlib.Path) -> Scan:
    """Write ``data`` to ``tmp_path/name`` and scan it."""

    def run(name: str, data: bytes) -> FileResult:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return scan_file(path)

    return run
