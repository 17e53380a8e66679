"""The transformers hook verifies the directory before from_pretrained reads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kastell.integrity.keys import read_private_key
from kastell.provenance import _model_signature
from kastell.provenance.hf import verified_from_pretrained
from kastell.provenance.interface import DigestMismatchError
from kastell.provenance.trust import load_trust_policy

from .conftest import DEFAULT_TRUST, KeyFiles, write_policy

transformers = pytest.importorskip("transformers")


@pytest.fixture
def hf_dir(tmp_path: Path, keys: dict[str, KeyFiles]) -> tuple[Path, Path, Path]:
    model = tmp_path / "hf"
    model.mkdir()
    config = {
        "model_type": "llama",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 128,
        "vocab_size": 100,
    }
    (model / "config.json").write_text(json.dumps(config))
    signature = tmp_path / "sig"
    signature.write_bytes(
        _model_signature.sign_model_dir(model, read_private_key(keys["ml"].private))
    )
    return model, signature, write_policy(tmp_path / "t.yaml", keys, DEFAULT_TRUST)


@pytest.mark.slow
def test_loads_after_verification(hf_dir: tuple[Path, Path, Path]) -> None:
    model, signature, policy = hf_dir
    config = verified_from_pretrained(
        transformers.AutoConfig, model, signature, load_trust_policy(policy)
    )
    assert config.hidden_size == 64


@pytest.mark.slow
def test_refuses_modified_directory(hf_dir: tuple[Path, Path, Path]) -> None:
    model, signature, policy = hf_dir
    (model / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 8}))
    with pytest.raises(DigestMismatchError, match="config.json"):
        verified_from_pretrained(
            transformers.AutoConfig, model, signature, load_trust_policy(policy)
        )
