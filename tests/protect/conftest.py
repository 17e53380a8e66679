from __future__ import annotations

import pathlib

import pytest

from kastell.integrity.keys import KeyAlgorithm, PrivateKey, generate_private_key
from kastell.protect import LocalKeyFile, generate_kek_file


@pytest.fixture
def kek(tmp_path: pathlib.Path) -> LocalKeyFile:
    return generate_kek_file(tmp_path / "kek.key")


@pytest.fixture
def other_kek(tmp_path: pathlib.Path) -> LocalKeyFile:
    return generate_kek_file(tmp_path / "other.key")


@pytest.fixture(scope="session")
def owner() -> PrivateKey:
    """The data owner's signing key (Ed25519: fast)."""
    return generate_private_key(KeyAlgorithm.ED25519)


@pytest.fixture(scope="session")
def intruder() -> PrivateKey:
    """Someone else's signing key."""
    return generate_private_key(KeyAlgorithm.ED25519)
