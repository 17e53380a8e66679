from __future__ import annotations

import pathlib

import pytest

from kastell.protect import LocalKeyFile, generate_kek_file


@pytest.fixture
def kek(tmp_path: pathlib.Path) -> LocalKeyFile:
    return generate_kek_file(tmp_path / "kek.key")


@pytest.fixture
def other_kek(tmp_path: pathlib.Path) -> LocalKeyFile:
    return generate_kek_file(tmp_path / "other.key")
