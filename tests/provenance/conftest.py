"""Fixtures: keys, a small dataset, a small model directory and a complete signed chain."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from kastell.cli.main import main
from kastell.integrity.keys import KeyAlgorithm, generate_private_key
from kastell.provenance import _model_signature

RESIDENCY = """\
weights: {country: DE, provider: Hetzner, jurisdiction: EU}
data: {country: FR, provider: OVHcloud, jurisdiction: EU}
keys: {country: DE, provider: self-hosted HSM, jurisdiction: EU}
"""


@dataclasses.dataclass
class KeyFiles:
    private: Path
    public: Path


def _key(directory: Path, name: str, algorithm: KeyAlgorithm) -> KeyFiles:
    key = generate_private_key(algorithm)
    private, public = directory / f"{name}.pem", directory / f"{name}.pub"
    private.write_bytes(key.pem())
    public.write_bytes(key.public_key.pem())
    return KeyFiles(private, public)


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyFiles]:
    directory = tmp_path_factory.mktemp("keys")
    return {
        "data": _key(directory, "data", KeyAlgorithm.ED25519),
        "ml": _key(directory, "ml", KeyAlgorithm.ECDSA_P256),
        "ops": _key(directory, "ops", KeyAlgorithm.ED25519),
        "rogue": _key(directory, "rogue", KeyAlgorithm.ED25519),
    }


def write_policy(path: Path, keys: dict[str, KeyFiles], trust: dict[str, object]) -> Path:
    document = {
        "version": 1,
        "keys": {name: str(files.public) for name, files in keys.items() if name != "rogue"},
        "trust": trust,
    }
    path.write_text(json.dumps(document))  # JSON is YAML
    return path


DEFAULT_TRUST = {
    "dataset": "data",
    "training": {"all_of": ["ml"]},
    "model-signature": "ml",
    "deployment": {"any_of": ["ops", {"all_of": ["ml", "data"]}]},
}


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "train.jsonl").write_text('{"a": 1}\n{"a": 2}\n\n{"a": 3}\n')
    (root / "sub" / "table.csv").write_text('q,a\n"multi\nline",x\ny,z\n')
    (root / "notes.txt").write_text("one\ntwo")
    (root / "blob.bin").write_bytes(b"\x00\x01")
    return root


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    root.mkdir()
    (root / "config.json").write_text('{"layers": 2}')
    (root / "weights.bin").write_bytes(bytes(range(256)) * 8)
    return root


def run(*args: object) -> int:
    return main([str(a) for a in args])


@dataclasses.dataclass
class Chain:
    root: Path
    dataset: Path
    signature: Path
    training: Path
    deployment: Path
    policy: Path
    model_dir: Path
    dataset_dir: Path


@pytest.fixture
def chain(tmp_path: Path, keys: dict[str, KeyFiles], dataset_dir: Path, model_dir: Path) -> Chain:
    out = tmp_path / "att"
    out.mkdir()
    signature = out / "model.sig"
    signature.write_bytes(_model_signature.sign_model_dir(model_dir, _load(keys["ml"].private)))
    assert (
        run(
            "attest",
            "dataset",
            dataset_dir,
            "--key",
            keys["data"].private,
            "--output",
            out / "dataset.json",
            "--license",
            "CC-BY-4.0",
        )
        == 0
    )
    assert (
        run(
            "attest",
            "training",
            "--signature",
            signature,
            "--dataset-attestation",
            out / "dataset.json",
            "--builder-id",
            "https://ci.example/trainer",
            "--started",
            "2026-01-01T00:00:00Z",
            "--finished",
            "2026-01-02T00:00:00Z",
            "--param",
            "epochs=3",
            "--key",
            keys["ml"].private,
            "--output",
            out / "training.json",
        )
        == 0
    )
    residency = tmp_path / "residency.yaml"
    residency.write_text(RESIDENCY)
    assert (
        run(
            "attest",
            "deployment",
            "--signature",
            signature,
            "--training",
            out / "training.json",
            "--endpoint",
            "https://llm.example/v1",
            "--residency",
            residency,
            "--key",
            keys["ops"].private,
            "--output",
            out / "deployment.json",
        )
        == 0
    )
    policy = write_policy(tmp_path / "trust.yaml", keys, DEFAULT_TRUST)
    return Chain(
        out,
        out / "dataset.json",
        signature,
        out / "training.json",
        out / "deployment.json",
        policy,
        model_dir,
        dataset_dir,
    )


def _load(path: Path):  # type: ignore[no-untyped-def]
    from kastell.integrity.keys import read_private_key

    return read_private_key(path)
