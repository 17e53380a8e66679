"""Signatures written by `kastell sign` feed verify-at-load and verify-chain unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from kastell.provenance.interface import DigestMismatchError, ProvenanceUsageError
from kastell.provenance.trust import load_trust_policy
from kastell.provenance.verified import load_verified_safetensors, open_verified

from .conftest import DEFAULT_TRUST, KeyFiles, run, write_policy


@pytest.fixture
def policy(tmp_path: Path, keys: dict[str, KeyFiles]) -> Path:
    return write_policy(tmp_path / "trust.yaml", keys, DEFAULT_TRUST)


def test_cli_signed_directory_with_signature_and_git_inside(
    tmp_path: Path, keys: dict[str, KeyFiles], policy: Path
) -> None:
    model = tmp_path / "m"
    (model / ".git").mkdir(parents=True)
    (model / ".git" / "HEAD").write_text("ref")
    save_file({"w": np.ones(3, np.float32)}, str(model / "model.safetensors"))
    signature = model / "model.sig"  # inside the model: skipped, as `kastell verify` does
    assert (
        run(
            "sign",
            model,
            "--key",
            keys["ml"].private,
            "--output",
            signature,
            "--algorithm",
            "blake3",
        )
        == 0
    )
    files = open_verified(model, signature, policy)
    assert [f.path for f in files] == ["model.safetensors"]
    assert load_verified_safetensors(model, signature, policy)["w"].tolist() == [1, 1, 1]


def test_single_file_model(tmp_path: Path, keys: dict[str, KeyFiles], policy: Path) -> None:
    model = tmp_path / "only.gguf"
    model.write_bytes(b"GGUF" + bytes(40))
    signature = tmp_path / "only.sig"
    assert run("sign", model, "--key", keys["ml"].private, "--output", signature) == 0
    files = open_verified(model, signature, load_trust_policy(policy))
    assert [(f.path, f.size) for f in files] == [(".", 44)]
    model.write_bytes(b"GGUF" + bytes(41))
    with pytest.raises(DigestMismatchError):
        open_verified(model, signature, policy)


def test_sharded_signature_verifies_but_cannot_stream_load(
    tmp_path: Path, keys: dict[str, KeyFiles], policy: Path
) -> None:
    model = tmp_path / "m"
    model.mkdir()
    save_file({"w": np.ones(64, np.float32)}, str(model / "model.safetensors"))
    signature = tmp_path / "s.sig"
    assert (
        run(
            "sign", model, "--key", keys["ml"].private, "--output", signature, "--shard-size", "100"
        )
        == 0
    )
    files = open_verified(model, signature, policy)
    assert files[0].digest is None
    with pytest.raises(ProvenanceUsageError, match="signs shards"):
        load_verified_safetensors(model, signature, policy)
