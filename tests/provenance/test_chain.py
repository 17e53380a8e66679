from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Chain, KeyFiles, run


def test_complete_chain_verifies(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(
        "verify-chain",
        chain.deployment,
        "--trust",
        chain.policy,
        "--model-dir",
        chain.model_dir,
        "--dataset-dir",
        chain.dataset_dir,
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "chain verified" in out
    for kind in ("deployment", "model-signature", "training", "dataset"):
        assert f"ok {kind}:" in out


def test_chain_json_tree(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("verify-chain", chain.deployment, "--trust", chain.policy, "--format", "json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is True
    root = document["chain"]
    assert root["kind"] == "deployment"
    assert [c["kind"] for c in root["children"]] == ["model-signature", "training"]
    assert root["children"][1]["children"][0]["kind"] == "dataset"
    assert root["signers"] == ["ops"]


def test_references_relative_across_directories(
    tmp_path: Path, chain: Chain, keys: dict[str, KeyFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "release" / "v1"
    elsewhere.mkdir(parents=True)
    training, deployment = elsewhere / "training.json", elsewhere / "deployment.json"
    assert (
        run(
            "attest",
            "training",
            "--signature",
            chain.signature,
            "--dataset-attestation",
            chain.dataset,
            "--builder-id",
            "b",
            "--started",
            "2026-01-01T00:00:00Z",
            "--finished",
            "2026-01-01T00:00:01Z",
            "--key",
            keys["ml"].private,
            "--output",
            training,
        )
        == 0
    )
    residency = tmp_path / "residency.yaml"
    assert (
        run(
            "attest",
            "deployment",
            "--signature",
            chain.signature,
            "--training",
            training,
            "--endpoint",
            "e",
            "--residency",
            residency,
            "--key",
            keys["ops"].private,
            "--output",
            deployment,
        )
        == 0
    )
    capsys.readouterr()
    assert run("verify-chain", deployment, "--trust", chain.policy, "--format", "json") == 0
    document = json.loads(capsys.readouterr().out)
    dataset = document["chain"]["children"][1]["children"][0]
    assert Path(dataset["source"]).resolve() == chain.dataset.resolve()


def test_sarif_output(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("verify-chain", chain.deployment, "--trust", chain.policy, "--format", "sarif") == 0
    clean = json.loads(capsys.readouterr().out)
    assert clean["version"] == "2.1.0"
    assert clean["runs"][0]["results"] == []
    chain.dataset.unlink()
    assert run("verify-chain", chain.deployment, "--trust", chain.policy, "--format", "sarif") == 1
    broken = json.loads(capsys.readouterr().out)
    (result,) = broken["runs"][0]["results"]
    assert result["ruleId"] == "KS-PROVENANCE-BROKEN"
    assert "missing link" in result["message"]["text"]


def test_finding_mappings_exist_in_catalog() -> None:
    from importlib import resources

    import yaml

    from kastell.provenance.chain import _MAPPINGS

    catalog = yaml.safe_load(
        resources.files("kastell.comply").joinpath("data/controls.yaml").read_text()
    )
    ids = {control["id"] for control in catalog["controls"]}
    assert set(_MAPPINGS) <= ids
