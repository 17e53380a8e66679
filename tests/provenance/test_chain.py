from __future__ import annotations

import json

import pytest

from .conftest import Chain, run


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
