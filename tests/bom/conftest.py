"""Fixtures: a signed model directory, a dataset attestation and a trust policy."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from kastell.cli.main import main
from kastell.integrity.keys import KeyAlgorithm, generate_private_key, read_private_key
from kastell.provenance import _model_signature


def run(*args: object) -> int:
    return main([str(a) for a in args])


@dataclasses.dataclass
class Signed:
    model_dir: Path
    signature: Path
    dataset: Path
    training: Path
    policy: Path
    key: Path
    tmp: Path


@pytest.fixture
def signed(tmp_path: Path) -> Signed:
    key = generate_private_key(KeyAlgorithm.ED25519)
    private, public = tmp_path / "k.pem", tmp_path / "k.pub"
    private.write_bytes(key.pem())
    public.write_bytes(key.public_key.pem())
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"n": 1}')
    (model / "weights.gguf").write_bytes(b"GGUF" + bytes(60))
    signature = tmp_path / "model.sig"
    signature.write_bytes(_model_signature.sign_model_dir(model, read_private_key(private)))
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text('{"a": 1}\n{"a": 2}\n')
    dataset = tmp_path / "dataset.json"
    assert (
        run(
            "attest",
            "dataset",
            data,
            "--key",
            private,
            "--output",
            dataset,
            "--license",
            "CC-BY-4.0",
            "--origin-uri",
            "https://data.example/corpus",
        )
        == 0
    )
    training = tmp_path / "training.json"
    assert (
        run(
            "attest",
            "training",
            "--signature",
            signature,
            "--dataset-attestation",
            dataset,
            "--builder-id",
            "https://ci.example",
            "--started",
            "2026-01-01T00:00:00Z",
            "--finished",
            "2026-01-01T01:00:00Z",
            "--key",
            private,
            "--output",
            training,
        )
        == 0
    )
    policy = tmp_path / "trust.yaml"
    policy.write_text(
        json.dumps(
            {
                "version": 1,
                "keys": {"k": str(public)},
                "trust": {
                    "dataset": "k",
                    "training": "k",
                    "model-signature": "k",
                    "deployment": "k",
                },
            }
        )
    )
    return Signed(model, signature, dataset, training, policy, private, tmp_path)
