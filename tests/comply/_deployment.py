"""Builds a small, really signed and attested deployment in a directory (via the CLI)."""

from __future__ import annotations

import json
import pathlib

import yaml

from kastell.cli.main import main


def _run(*argv: str) -> None:
    code = main(list(argv))
    if code != 0:
        raise RuntimeError(f"kastell {' '.join(argv)} exited {code}")


def build_deployment(root: pathlib.Path, **overrides: object) -> pathlib.Path:
    """A signed model, a dataset/training/deployment chain and a descriptor; returns its path."""
    key = root / "keys" / "signer"
    (root / "keys").mkdir(parents=True)
    _run("keygen", "--type", "ecdsa-p256", "--output", str(key))
    model = root / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}\n')
    header = json.dumps({"w": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}}).encode()
    header += b" " * (-len(header) % 8)
    blob = len(header).to_bytes(8, "little") + header + bytes(range(8))
    (model / "weights.safetensors").write_bytes(blob)
    dataset = root / "dataset"
    dataset.mkdir()
    (dataset / "train.jsonl").write_text(json.dumps({"q": "hi", "a": "hello"}) + "\n")
    att = root / "att"
    att.mkdir()
    _run("sign", str(model), "--key", f"{key}.pem", "--output", str(root / "model.sig"))
    _run(
        "attest",
        "dataset",
        str(dataset),
        "--key",
        f"{key}.pem",
        "--output",
        str(att / "dataset.json"),
        "--name",
        "faq",
    )
    _run(
        "attest",
        "training",
        "--model-dir",
        str(model),
        "--signature",
        str(root / "model.sig"),
        "--dataset-attestation",
        str(att / "dataset.json"),
        "--builder-id",
        "https://b.example",
        "--started",
        "2026-11-01T08:00:00Z",
        "--finished",
        "2026-11-01T09:00:00Z",
        "--key",
        f"{key}.pem",
        "--output",
        str(att / "training.json"),
    )
    place = {"country": "DE", "provider": "self", "jurisdiction": "DE"}
    (root / "residency.yaml").write_text(
        yaml.safe_dump({p: place for p in ("weights", "data", "keys")})
    )
    _run(
        "attest",
        "deployment",
        "--model-dir",
        str(model),
        "--signature",
        str(root / "model.sig"),
        "--training",
        str(att / "training.json"),
        "--endpoint",
        "http://127.0.0.1:8080/v1",
        "--residency",
        str(root / "residency.yaml"),
        "--key",
        f"{key}.pem",
        "--output",
        str(att / "deployment.json"),
    )
    (root / "trust.yaml").write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "keys": {"signer": "keys/signer.pub"},
                "trust": {
                    k: "signer" for k in ("dataset", "training", "deployment", "model-signature")
                },
            }
        )
    )
    (root / "policy.md").write_text("# AI policy\n")
    descriptor = {
        "name": "unit-deployment",
        "model": {"path": "model", "signature": "model.sig", "trusted_keys": ["keys/signer.pub"]},
        "provenance": {
            "deployment": "att/deployment.json",
            "trust_policy": "trust.yaml",
            "dataset_dirs": ["dataset"],
        },
        "bom": {"dataset_attestations": ["att/dataset.json"], "include_environment": False},
        "redteam": {"enabled": False, "reason": "unit test: no model to attack"},
        "guard": {"enabled": False, "reason": "unit test: no gateway"},
        "residency": {
            "assets": [
                {
                    "name": "w",
                    "kind": "weights",
                    "country": "DE",
                    "provider": "self",
                    "provider_jurisdiction": "DE",
                }
            ]
        },
        "evidence": {
            "store": "evidence.sqlite",
            "manual": [{"kind": "documentation", "path": "policy.md", "title": "AI use policy",
                        "controls": ["AIA-4", "NIS2-20.1"], "attester": "A. Person",
                        "attester_role": "CISO", "approver": "B. Person",
                        "approver_role": "Managing director", "valid_until": "2027-06-30"}],
        },
        "output": {"dir": "report"},
        **overrides,
    }
    path = root / "deployment.yaml"
    path.write_text(yaml.safe_dump(descriptor))
    return path
