"""Attacks on the verifying loaders: ways to get tensors back from files that do not match.

Issue 15 holes 3 (the signature read twice) and 4 (a FIFO hangs the loader), and the other
ways a loader could read something other than what it verified.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

from kastell.errors import KastellError
from kastell.integrity.keys import read_private_key
from kastell.integrity.signing import sign_model
from kastell.provenance.interface import DigestMismatchError
from kastell.provenance.verified import (
    load_verified_gguf,
    load_verified_safetensors,
    open_verified,
)

from ._provenance_fixtures import conftest, no_hang

KeyFiles = conftest.KeyFiles
keys = conftest.keys

_SWAP: dict[str, Any] = {"path": None, "replacement": b"", "opens": 0, "busy": False}


def _swap_on_second_open(event: str, args: tuple[Any, ...]) -> None:
    """Audit hook: the second time the watched file is opened, its content is replaced first."""
    if event != "open" or _SWAP["path"] is None or _SWAP["busy"]:
        return
    target = args[0]
    if isinstance(target, int) or os.fsdecode(target) != _SWAP["path"]:
        return
    _SWAP["opens"] += 1
    if _SWAP["opens"] == 2:
        _SWAP["busy"] = True
        try:
            Path(_SWAP["path"]).write_bytes(_SWAP["replacement"])
        finally:
            _SWAP["busy"] = False


sys.addaudithook(_swap_on_second_open)


def _model(root: Path, version: int) -> Path:
    root.mkdir()
    save_file({"w": np.full(4, version, dtype=np.float32)}, str(root / "model.safetensors"))
    (root / "config.json").write_text(f'{{"version": {version}}}')
    return root


@pytest.fixture
def versions(tmp_path: Path, keys: dict[str, KeyFiles]) -> dict[str, Path]:
    key = read_private_key(keys["ml"].private)
    v1, v2 = _model(tmp_path / "v1", 1), _model(tmp_path / "v2", 2)
    (tmp_path / "v1.sig").write_bytes(sign_model(v1, key).bundle.to_json())
    (tmp_path / "v2.sig").write_bytes(sign_model(v2, key).bundle.to_json())
    policy = conftest.write_policy(tmp_path / "trust.yaml", keys, conftest.DEFAULT_TRUST)
    return {"v1": v1, "v2": v2, "policy": policy, "root": tmp_path}


def test_signature_swapped_between_reads_returns_no_tensors(versions: dict[str, Path]) -> None:
    root = versions["root"]
    # a mixed directory: v1 weights, v2 config; the signature file says v1, then v2
    mixed = root / "mixed"
    mixed.mkdir()
    (mixed / "model.safetensors").write_bytes((versions["v1"] / "model.safetensors").read_bytes())
    (mixed / "config.json").write_bytes((versions["v2"] / "config.json").read_bytes())
    signature = root / "served.sig"
    signature.write_bytes((root / "v1.sig").read_bytes())
    _SWAP.update(path=str(signature), replacement=(root / "v2.sig").read_bytes(), opens=0)
    try:
        with pytest.raises(DigestMismatchError, match="config.json"):
            load_verified_safetensors(mixed, signature, versions["policy"])
    finally:
        _SWAP["path"] = None
    assert _SWAP["opens"] == 1  # the signature file was read once


@pytest.mark.parametrize("victim", ["model.safetensors", "config.json"])
def test_fifo_in_place_of_a_model_file_does_not_hang(
    versions: dict[str, Path], victim: str
) -> None:
    model = versions["v1"]
    (model / victim).unlink()
    os.mkfifo(model / victim)
    with no_hang(), pytest.raises(KastellError):
        load_verified_safetensors(model, versions["root"] / "v1.sig", versions["policy"])


def test_fifo_in_place_of_the_signature_does_not_hang(versions: dict[str, Path]) -> None:
    signature = versions["root"] / "fifo.sig"
    os.mkfifo(signature)
    with no_hang(), pytest.raises(KastellError, match="not a regular file"):
        open_verified(versions["v1"], signature, versions["policy"])
    with no_hang(), pytest.raises(KastellError, match="not a regular file"):
        load_verified_gguf(versions["v1"], signature, versions["policy"], "model.safetensors")


def test_device_behind_a_symlink_is_refused(versions: dict[str, Path]) -> None:
    model = versions["v1"]
    (model / "model.safetensors").unlink()
    (model / "model.safetensors").symlink_to("/dev/zero")
    with no_hang(), pytest.raises(KastellError):
        load_verified_safetensors(model, versions["root"] / "v1.sig", versions["policy"])


def test_symlink_to_a_genuine_copy_outside_when_links_were_not_signed(
    versions: dict[str, Path],
) -> None:
    # the content matches, but the signer did not allow links: the verifier may not follow one
    # (the next write to the outside file would change what the model loads)
    model = versions["v1"]
    outside = versions["root"] / "outside.safetensors"
    outside.write_bytes((model / "model.safetensors").read_bytes())
    (model / "model.safetensors").unlink()
    (model / "model.safetensors").symlink_to(outside)
    with pytest.raises(KastellError):
        load_verified_safetensors(model, versions["root"] / "v1.sig", versions["policy"])


def test_weights_of_another_signed_version(versions: dict[str, Path]) -> None:
    model = versions["v1"]
    (model / "model.safetensors").write_bytes(
        (versions["v2"] / "model.safetensors").read_bytes()
    )
    with pytest.raises(DigestMismatchError):
        load_verified_safetensors(model, versions["root"] / "v1.sig", versions["policy"])


def test_unsigned_extra_file_beside_the_weights(versions: dict[str, Path]) -> None:
    (versions["v1"] / "loader.py").write_text("import os\n")
    with pytest.raises(DigestMismatchError, match="loader.py"):
        load_verified_safetensors(versions["v1"], versions["root"] / "v1.sig", versions["policy"])
