from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import uuid

import pytest

from kastell.bom.builder import BomInputs, build_bom, validate_bom
from kastell.bom.environment import python_packages
from kastell.bom.interface import BomMismatchError, BomSchemaError, BomUsageError, PythonPackage
from kastell.bom.modelcard import ModelCard, load_model_card
from kastell.provenance.statement import file_sha256, read_signed_statement
from kastell.provenance.trust import load_trust_policy
from kastell.provenance.verified import read_model_signature

from .conftest import Signed, run

CARD = """\
modelParameters:
  approach: {type: supervised}
  task: text-generation
  architecture_family: llama
  inputs: [{format: string}]
  outputs: [{format: string}]
quantitativeAnalysis:
  performanceMetrics:
    - {type: accuracy, value: 0.71, confidenceInterval: {lowerBound: "0.69", upperBound: "0.73"}}
considerations:
  useCases: [customer support drafts]
  technicalLimitations: [English only]
  ethicalConsiderations: [{name: hallucination, mitigationStrategy: human review}]
"""


def _build(signed: Signed, **changes: object) -> dict:  # type: ignore[type-arg]
    inputs = BomInputs(
        model_dir=signed.model_dir,
        signature=signed.signature,
        output=signed.tmp / "bom.json",
        dataset_attestations=(signed.dataset,),
        attestations=(signed.training,),
        model_card=ModelCard(),
        packages=(PythonPackage("numpy", "2.0.0"),),
        trust=load_trust_policy(signed.policy),
    )
    for key, value in changes.items():
        object.__setattr__(inputs, key, value)
    return build_bom(
        inputs, clock=lambda: dt.datetime(2026, 1, 1, tzinfo=dt.UTC), serial=uuid.UUID(int=1)
    )


def test_hashes_equal_signed_digests(signed: Signed) -> None:
    document = _build(signed)
    model = document["metadata"]["component"]
    assert model["type"] == "machine-learning-model"
    signature = read_model_signature(signed.signature, None)
    assert model["hashes"] == [{"alg": "SHA-256", "content": signature.digest.hex}]
    files = {c["name"]: c["hashes"][0]["content"] for c in model["components"]}
    assert files == {name: d.hex for name, d in signature.files.items()}
    dataset = next(c for c in document["components"] if c["type"] == "data")
    subject = read_signed_statement(signed.dataset).subject_digests[0][1]
    assert dataset["hashes"] == [{"alg": "BLAKE3", "content": subject.hex}]
    assert dataset["data"] == [
        {"type": "dataset", "name": "data", "contents": {"url": "https://data.example/corpus"}}
    ]
    assert dataset["licenses"][0]["license"]["id"] == "CC-BY-4.0"


def test_attestations_are_pinned_external_references(signed: Signed) -> None:
    document = _build(signed)
    model = document["metadata"]["component"]
    refs = {r["url"]: r for r in model["externalReferences"]}
    assert set(refs) == {"model.sig", "training.json"}
    assert all(r["type"] == "attestation" for r in refs.values())
    assert refs["training.json"]["hashes"][0]["content"] == file_sha256(signed.training).hex


def test_model_card_inserted_and_schema_valid(signed: Signed) -> None:
    path = signed.tmp / "card.yaml"
    path.write_text(CARD)
    document = _build(signed, model_card=load_model_card(path))
    card = document["metadata"]["component"]["modelCard"]
    assert card["modelParameters"]["architectureFamily"] == "llama"
    assert card["modelParameters"]["datasets"] == [{"ref": "dataset:data"}]
    metric = card["quantitativeAnalysis"]["performanceMetrics"][0]
    assert metric == {
        "type": "accuracy",
        "value": "0.71",
        "confidenceInterval": {"lowerBound": "0.69", "upperBound": "0.73"},
    }
    validate_bom(document)  # independent re-check of the returned document


def test_schema_validation_catches_a_bad_card(signed: Signed) -> None:
    document = _build(signed)
    document["metadata"]["component"]["modelCard"]["modelParameters"]["approach"] = {"type": "x"}
    with pytest.raises(BomSchemaError, match="CycloneDX 1.6"):
        validate_bom(document)


def test_environment_packages_have_purls(signed: Signed) -> None:
    document = _build(signed, packages=python_packages())
    libraries = {c["name"]: c for c in document["components"] if c["type"] == "library"}
    version = importlib.metadata.version("cyclonedx-python-lib")
    assert libraries["cyclonedx-python-lib"]["purl"] == f"pkg:pypi/cyclonedx-python-lib@{version}"
    deps = {d["ref"]: d.get("dependsOn", []) for d in document["dependencies"]}
    assert "dataset:data" in deps["model"]


def test_modified_model_file_is_refused(signed: Signed) -> None:
    (signed.model_dir / "config.json").write_text('{"n": 2}')
    with pytest.raises(BomMismatchError, match="config.json"):
        _build(signed)


def test_untrusted_dataset_attestation(signed: Signed) -> None:
    policy = json.loads(signed.policy.read_text())
    del policy["trust"]["dataset"]
    signed.policy.write_text(json.dumps(policy))
    with pytest.raises(BomMismatchError, match="no rule for dataset"):
        _build(signed)


def test_dataset_given_as_attestation(signed: Signed) -> None:
    with pytest.raises(BomUsageError, match="dataset statement"):
        _build(signed, attestations=(signed.dataset,))


def test_cli_writes_valid_bom(signed: Signed, capsys: pytest.CaptureFixture[str]) -> None:
    card = signed.tmp / "card.yaml"
    card.write_text(CARD)
    out = signed.tmp / "bom.json"
    code = run(
        "bom",
        signed.model_dir,
        "--signature",
        signed.signature,
        "--dataset-attestation",
        signed.dataset,
        "--attestation",
        signed.training,
        "--model-card",
        card,
        "--trust",
        signed.policy,
        "--output",
        out,
        "--format",
        "json",
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["signature_trusted"] is True
    document = json.loads(out.read_text())
    assert document["specVersion"] == "1.6"
    validate_bom(document)


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ("modelParameters: {approach: {type: magic}}", "approach.type"),
        ("modelParameters: {colour: red}", "colour"),
        ("considerations: [1]", "considerations"),
        ("modelParameters: [", "not valid YAML"),
    ],
)
def test_bad_model_card(
    signed: Signed, card: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = signed.tmp / "card.yaml"
    path.write_text(card)
    code = run(
        "bom",
        signed.model_dir,
        "--signature",
        signed.signature,
        "--model-card",
        path,
        "--output",
        signed.tmp / "b.json",
    )
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_signature_not_found(signed: Signed, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(
        "bom",
        signed.model_dir,
        "--signature",
        signed.tmp / "nope",
        "--output",
        signed.tmp / "b.json",
    )
    assert code == 2
    assert "cannot read" in capsys.readouterr().err


def test_python_packages_normalized() -> None:
    class Dist:
        def __init__(self, name: str, version: str) -> None:
            self.metadata = {"Name": name}
            self.version = version

    found = python_packages([Dist("Foo_Bar", "1"), Dist("foo-bar", "2"), Dist("", "1")])  # type: ignore[list-item]
    assert found == (PythonPackage("foo-bar", "1"),)


def test_cli_modified_model_exit_1(signed: Signed, capsys: pytest.CaptureFixture[str]) -> None:
    (signed.model_dir / "weights.gguf").write_bytes(b"GGUF" + bytes(61))
    code = run(
        "bom",
        signed.model_dir,
        "--signature",
        signed.signature,
        "--no-environment",
        "--output",
        signed.tmp / "b.json",
    )
    assert code == 1
    assert "changed: weights.gguf" in capsys.readouterr().err
    assert not (signed.tmp / "b.json").exists()


def test_cli_without_trust_notes_it(signed: Signed, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(
        "bom",
        signed.model_dir,
        "--signature",
        signed.signature,
        "--no-environment",
        "--output",
        signed.tmp / "b.json",
    )
    assert code == 0
    captured = capsys.readouterr()
    assert "signers were not checked" in captured.err
    document = json.loads((signed.tmp / "b.json").read_text())
    assert [c for c in document.get("components", []) if c["type"] == "library"] == []


def test_cli_missing_dataset_attestation(
    signed: Signed, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        "bom",
        signed.model_dir,
        "--signature",
        signed.signature,
        "--dataset-attestation",
        signed.tmp / "nope.json",
        "--no-environment",
        "--output",
        signed.tmp / "b.json",
    )
    assert code == 2
    assert "nope.json" in capsys.readouterr().err
