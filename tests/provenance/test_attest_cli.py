"""attest training / deployment: what they record, and every bad input is a clear exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from kastell.provenance.deployment import Residency
from kastell.provenance.interface import ProvenanceUsageError
from kastell.provenance.statement import file_sha256, read_signed_statement

from .conftest import RESIDENCY, Chain, KeyFiles, run


def _training(chain: Chain, keys: dict[str, KeyFiles], *extra: object) -> int:
    return run(
        "attest",
        "training",
        "--signature",
        chain.signature,
        "--dataset-attestation",
        chain.dataset,
        "--builder-id",
        "https://ci.example/t",
        "--key",
        keys["ml"].private,
        "--output",
        chain.root / "t2.json",
        *extra,
    )


TIMES = ("--started", "2026-01-01T00:00:00Z", "--finished", "2026-01-01T02:00:00+01:00")


def test_training_statement_is_slsa_v1(chain: Chain) -> None:
    signed = read_signed_statement(chain.training)
    assert signed.statement["predicateType"] == "https://slsa.dev/provenance/v1"
    build = signed.predicate["buildDefinition"]
    assert build["externalParameters"] == {"epochs": "3"}
    dep = build["resolvedDependencies"][0]
    dataset_subject = read_signed_statement(chain.dataset).statement["subject"][0]
    assert dep["digest"] == dataset_subject["digest"]
    assert dep["annotations"]["kastellAttestation"] == {
        "uri": "dataset.json",
        "digest": {"sha256": file_sha256(chain.dataset).hex},
    }
    run_details = signed.predicate["runDetails"]
    assert run_details["builder"]["id"] == "https://ci.example/trainer"
    assert run_details["metadata"]["startedOn"] == "2026-01-01T00:00:00Z"


def test_base_model_and_params_file(
    chain: Chain, keys: dict[str, KeyFiles], tmp_path: Path
) -> None:
    params = tmp_path / "p.json"
    params.write_text('{"lr": 0.001, "epochs": 1}')
    assert (
        _training(
            chain,
            keys,
            *TIMES,
            "--params-file",
            params,
            "--param",
            "epochs=2",
            "--base-model-digest",
            "sha256:" + "ab" * 32,
        )
        == 0
    )
    predicate = read_signed_statement(chain.root / "t2.json").predicate
    assert predicate["buildDefinition"]["externalParameters"] == {"lr": 0.001, "epochs": "2"}
    base = predicate["buildDefinition"]["resolvedDependencies"][-1]
    assert base == {"name": "base-model:base", "digest": {"sha256": "ab" * 32}}
    assert predicate["runDetails"]["metadata"]["finishedOn"] == "2026-01-01T01:00:00Z"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--started", "2026-01-02T00:00:00Z", "--finished", "2026-01-01T00:00:00Z"), "finished"),
        (
            ("--started", "2026-01-01T00:00:00", "--finished", "2026-01-01T01:00:00"),
            "need a time zone",
        ),
        (("--started", "yesterday", "--finished", "2026-01-01T01:00:00Z"), "not an RFC 3339"),
        ((*TIMES, "--param", "novalue"), "is not KEY=VALUE"),
        ((*TIMES, "--model-digest", "sha256:" + "00" * 32), "the model options disagree"),
        ((*TIMES, "--base-model-digest", "md5:00"), "unsupported digest algorithm"),
    ],
)
def test_training_bad_input(
    chain: Chain,
    keys: dict[str, KeyFiles],
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...],
    message: str,
) -> None:
    assert _training(chain, keys, *extra) == 2
    assert message in capsys.readouterr().err


def test_training_params_file_not_object(
    chain: Chain, keys: dict[str, KeyFiles], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "p.json"
    params.write_text("[1]")
    assert _training(chain, keys, *TIMES, "--params-file", params) == 2
    assert "must hold a JSON object" in capsys.readouterr().err


def test_training_with_non_dataset_attestation(
    chain: Chain, keys: dict[str, KeyFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        "attest",
        "training",
        "--signature",
        chain.signature,
        "--dataset-attestation",
        chain.training,
        "--builder-id",
        "b",
        *TIMES,
        "--key",
        keys["ml"].private,
        "--output",
        chain.root / "t3.json",
    )
    assert code == 2
    assert "not a dataset attestation" in capsys.readouterr().err


def test_training_without_model(
    chain: Chain, keys: dict[str, KeyFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        "attest",
        "training",
        "--dataset-attestation",
        chain.dataset,
        "--builder-id",
        "b",
        *TIMES,
        "--key",
        keys["ml"].private,
        "--output",
        chain.root / "t4.json",
    )
    assert code == 2
    assert "no model given" in capsys.readouterr().err


def test_model_dir_and_signature_agree(chain: Chain, keys: dict[str, KeyFiles]) -> None:
    assert _training(chain, keys, *TIMES, "--model-dir", chain.model_dir) == 0


def test_deployment_records_residency_and_guard_policy(
    chain: Chain, keys: dict[str, KeyFiles], tmp_path: Path
) -> None:
    guard = tmp_path / "guard.yaml"
    guard.write_text("rules: []\n")
    residency = tmp_path / "r.yaml"
    residency.write_text(RESIDENCY)
    out = chain.root / "d2.json"
    assert (
        run(
            "attest",
            "deployment",
            "--signature",
            chain.signature,
            "--training",
            chain.training,
            "--endpoint",
            "https://x.example/v1",
            "--guard-policy",
            guard,
            "--residency",
            residency,
            "--key",
            keys["ops"].private,
            "--output",
            out,
        )
        == 0
    )
    predicate = read_signed_statement(out).predicate
    assert predicate["guardPolicy"] == {"digest": {"sha256": file_sha256(guard).hex}}
    assert predicate["residency"]["keys"]["provider"] == "self-hosted HSM"
    assert predicate["modelSignature"]["uri"] == "model.sig"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("weights: {country: DE, provider: x, jurisdiction: EU}", "residency of 'data'"),
        ("[1, 2]", "must be a mapping"),
        (RESIDENCY.replace("country: DE", "country: Germany", 1), "not an ISO 3166"),
        (RESIDENCY + "logs: {country: DE, provider: x, jurisdiction: EU}\n", "unknown residency"),
        ("weights: [", "cannot read --residency"),
    ],
)
def test_deployment_bad_residency(
    chain: Chain,
    keys: dict[str, KeyFiles],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    document: str,
    message: str,
) -> None:
    residency = tmp_path / "r.yaml"
    residency.write_text(document)
    code = run(
        "attest",
        "deployment",
        "--signature",
        chain.signature,
        "--endpoint",
        "e",
        "--residency",
        residency,
        "--key",
        keys["ops"].private,
        "--output",
        chain.root / "d3.json",
    )
    assert code == 2
    assert message in capsys.readouterr().err


def test_residency_parse_api() -> None:
    with pytest.raises(ProvenanceUsageError, match="needs country, provider and jurisdiction"):
        Residency.parse({"weights": {"country": "DE"}})


def test_model_dir_differs_from_signature_exit_1(
    chain: Chain, keys: dict[str, KeyFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    (chain.model_dir / "weights.bin").write_bytes(b"retrained")
    assert _training(chain, keys, *TIMES, "--model-dir", chain.model_dir) == 1
    assert "changed: weights.bin" in capsys.readouterr().err


def test_blake3_signature_with_model_dir(
    chain: Chain, keys: dict[str, KeyFiles], tmp_path: Path
) -> None:
    (chain.model_dir / ".git").mkdir()
    (chain.model_dir / ".git" / "HEAD").write_text("x")
    signature = tmp_path / "b3.sig"
    assert (
        run(
            "sign",
            chain.model_dir,
            "--key",
            keys["ml"].private,
            "--output",
            signature,
            "--algorithm",
            "blake3",
        )
        == 0
    )
    code = run(
        "attest",
        "training",
        "--signature",
        signature,
        "--model-dir",
        chain.model_dir,
        "--dataset-attestation",
        chain.dataset,
        "--builder-id",
        "b",
        *TIMES,
        "--key",
        keys["ml"].private,
        "--output",
        tmp_path / "t.json",
    )
    assert code == 0


def test_model_dir_alone_matches_kastell_sign(
    chain: Chain, keys: dict[str, KeyFiles], tmp_path: Path
) -> None:
    (chain.model_dir / ".gitignore").write_text("*.tmp")
    signature = tmp_path / "s.sig"
    assert run("sign", chain.model_dir, "--key", keys["ml"].private, "--output", signature) == 0
    out = tmp_path / "t.json"
    assert (
        run(
            "attest",
            "training",
            "--model-dir",
            chain.model_dir,
            "--dataset-attestation",
            chain.dataset,
            "--builder-id",
            "b",
            *TIMES,
            "--key",
            keys["ml"].private,
            "--output",
            out,
        )
        == 0
    )
    assert (
        read_signed_statement(out).subject_digests[0][1]
        == read_signed_statement(signature).subject_digests[0][1]
    )
