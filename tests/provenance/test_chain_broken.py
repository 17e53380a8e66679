"""Every way a chain can break gives exit 1 and names the broken link."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kastell.integrity.keys import read_private_key
from kastell.provenance.statement import (
    build_statement,
    file_sha256,
    read_signed_statement,
    write_signed_statement,
)
from kastell.types import Digest, Subject

from .conftest import DEFAULT_TRUST, Chain, KeyFiles, run, write_policy


def _verify(chain: Chain, capsys: pytest.CaptureFixture[str], *extra: object) -> tuple[int, str]:
    code = run("verify-chain", chain.deployment, "--trust", chain.policy, *extra)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _resign(path: Path, key: Path, edit) -> None:  # type: ignore[no-untyped-def]
    statement = json.loads(json.dumps(read_signed_statement(path).statement))
    edit(statement)
    write_signed_statement(statement, [read_private_key(key)], path)


def _repin(chain: Chain, keys: dict[str, KeyFiles], *, dataset: bool = True) -> None:
    """Re-sign the referrers so their pins match the files as they are now (a valid signer)."""
    if dataset:

        def pin_dataset(statement: dict) -> None:  # type: ignore[type-arg]
            dep = statement["predicate"]["buildDefinition"]["resolvedDependencies"][0]
            dep["annotations"]["kastellAttestation"]["digest"] = {
                "sha256": file_sha256(chain.dataset).hex
            }

        _resign(chain.training, keys["ml"].private, pin_dataset)
    _resign(
        chain.deployment,
        keys["ops"].private,
        lambda s: s["predicate"]["training"].update(
            digest={"sha256": file_sha256(chain.training).hex}
        ),
    )


def test_missing_dataset_attestation(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    chain.dataset.unlink()
    code = run("verify-chain", chain.deployment, "--trust", chain.policy, "--format", "json")
    document = json.loads(capsys.readouterr().out)
    assert code == 1
    assert document["ok"] is False
    assert [(c["kind"], c["ok"]) for c in document["chain"]["children"]] == [
        ("model-signature", True)
    ]
    code, out = _verify(chain, capsys)
    assert code == 1
    assert "missing link" in out
    assert "dataset.json" in out


def test_missing_training_reference(
    chain: Chain, keys: dict[str, KeyFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    _resign(chain.deployment, keys["ops"].private, lambda s: s["predicate"].update(training=None))
    code, out = _verify(chain, capsys)
    assert code == 1
    assert "missing link: no training provenance" in out


def test_cycle_is_detected(
    chain: Chain, keys: dict[str, KeyFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    def point_dataset_at_training(statement: dict) -> None:  # type: ignore[type-arg]
        dep = statement["predicate"]["buildDefinition"]["resolvedDependencies"][0]
        dep["annotations"]["kastellAttestation"] = {"uri": "training.json"}

    _resign(chain.training, keys["ml"].private, point_dataset_at_training)
    # the deployment pins the training file's digest: re-pin so only the cycle is wrong
    from kastell.provenance.statement import file_sha256

    pinned = file_sha256(chain.training).hex
    _resign(
        chain.deployment,
        keys["ops"].private,
        lambda s: s["predicate"]["training"]["digest"].update(sha256=pinned),
    )
    code, out = _verify(chain, capsys)
    assert code == 1
    assert "cycle" in out
    assert "training.json" in out


def test_statement_signed_by_key_not_trusted_for_its_kind(
    chain: Chain, keys: dict[str, KeyFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    # the ml key is trusted, but not for dataset statements
    statement = read_signed_statement(chain.dataset).statement
    write_signed_statement(statement, [read_private_key(keys["ml"].private)], chain.dataset)
    policy = write_policy(chain.policy, keys, DEFAULT_TRUST)
    code = run("verify-chain", chain.deployment, "--trust", policy)
    out = capsys.readouterr().out
    assert code == 1
    # the dataset file changed bytes, so the training statement's pin catches it first ...
    assert "dataset.json" in out
    # ... and without the pin the trust policy refuses it
    from kastell.provenance.chain import verify_chain
    from kastell.provenance.trust import load_trust_policy

    _repin(chain, keys)
    report = verify_chain(chain.deployment, load_trust_policy(policy))
    assert report.broken is not None
    assert "not trusted for dataset" in report.broken
    assert "no valid signature by data" in report.broken


def test_deployment_signed_by_unknown_key(
    chain: Chain, keys: dict[str, KeyFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    statement = read_signed_statement(chain.deployment).statement
    write_signed_statement(statement, [read_private_key(keys["rogue"].private)], chain.deployment)
    code, out = _verify(chain, capsys)
    assert code == 1
    assert "not trusted for deployment" in out
    assert "any_of" in out


def test_all_of_deployment_needs_both_cosigners(
    chain: Chain, keys: dict[str, KeyFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    statement = read_signed_statement(chain.deployment).statement
    ml, data = read_private_key(keys["ml"].private), read_private_key(keys["data"].private)
    write_signed_statement(statement, [ml], chain.deployment)
    code, out = _verify(chain, capsys)
    assert code == 1
    assert "no valid signature by data" in out
    write_signed_statement(statement, [ml, data], chain.deployment)
    code, out = _verify(chain, capsys)
    assert code == 0, out


def test_subject_digest_with_another_algorithm(
    chain: Chain, keys: dict[str, KeyFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    def sha512_subject(statement: dict) -> None:  # type: ignore[type-arg]
        statement["subject"][0]["digest"] = {"sha512": "ab" * 64}

    _resign(chain.training, keys["ml"].private, sha512_subject)
    _repin(chain, keys, dataset=False)
    code, out = _verify(chain, capsys)
    assert code == 1
    assert "uses sha512, the link expects sha256" in out


def test_training_for_another_model(
    chain: Chain, keys: dict[str, KeyFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    _resign(
        chain.training,
        keys["ml"].private,
        lambda s: s["subject"][0].update(digest={"sha256": "00" * 32}),
    )
    _repin(chain, keys, dataset=False)
    code, out = _verify(chain, capsys)
    assert code == 1
    assert "does not match the expected" in out


def test_referenced_file_replaced(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    chain.training.write_bytes(chain.training.read_bytes() + b" ")
    code, out = _verify(chain, capsys)
    assert code == 1
    assert "differs from the digest its referrer recorded" in out


def test_tampered_payload_fails_signature(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads(chain.deployment.read_bytes())
    import base64

    payload = json.loads(base64.b64decode(document["dsseEnvelope"]["payload"]))
    payload["predicate"]["endpoint"] = "https://evil.example/v1"
    document["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    chain.deployment.write_text(json.dumps(document))
    code, out = _verify(chain, capsys)
    assert code == 1
    assert "not trusted for deployment" in out


def test_modified_model_file(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    (chain.model_dir / "weights.bin").write_bytes(b"swapped")
    code, out = _verify(chain, capsys, "--model-dir", chain.model_dir)
    assert code == 1
    assert "changed: weights.bin" in out


def test_extra_model_file(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    (chain.model_dir / "extra.py").write_text("print('hi')")
    code, out = _verify(chain, capsys, "--model-dir", chain.model_dir)
    assert code == 1
    assert "unsigned: extra.py" in out


def test_modified_dataset(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    (chain.dataset_dir / "train.jsonl").write_text('{"poisoned": true}\n')
    code, out = _verify(chain, capsys, "--dataset-dir", chain.dataset_dir)
    assert code == 1
    assert "matches no attested dataset" in out


def test_wrong_statement_kind_in_slot(
    chain: Chain, keys: dict[str, KeyFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _verify(chain, capsys, "--signature", chain.training)
    assert code == 1
    assert "expected a model-signature statement, found a training statement" in out


def test_kind_without_rule_is_untrusted(
    chain: Chain, keys: dict[str, KeyFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    trust = {k: v for k, v in DEFAULT_TRUST.items() if k != "training"}
    write_policy(chain.policy, keys, trust)
    code, out = _verify(chain, capsys)
    assert code == 1
    assert "no rule for training statements" in out


def test_deployment_file_missing_is_usage_error(
    chain: Chain, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run("verify-chain", chain.root / "nope.json", "--trust", chain.policy)
    assert code == 2
    assert "does not exist" in capsys.readouterr().err


def test_garbage_upstream_file(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    chain.signature.write_text("not json")
    code, out = _verify(chain, capsys, "--signature", chain.signature)
    assert code == 1
    assert "model.sig" in out


def test_root_garbage_is_broken_with_message(
    chain: Chain, capsys: pytest.CaptureFixture[str]
) -> None:
    chain.deployment.write_text('{"mediaType": "x"}')
    code, out = _verify(chain, capsys)
    assert code == 1
    assert "deployment.json" in out


def test_training_subject_other_model(
    tmp_path: Path, chain: Chain, keys: dict[str, KeyFiles]
) -> None:
    # a statement built for an unrelated model digest is refused by the API as well
    from kastell.provenance.chain import verify_chain
    from kastell.provenance.statement import SLSA_PROVENANCE_TYPE
    from kastell.provenance.trust import load_trust_policy

    other = build_statement(
        [Subject("m", Digest("sha256", "11" * 32))], SLSA_PROVENANCE_TYPE, {"buildDefinition": {}}
    )
    write_signed_statement(other, [read_private_key(keys["ml"].private)], chain.training)
    report = verify_chain(chain.deployment, load_trust_policy(chain.policy))
    assert not report.ok
    assert report.root.ok is False


def test_dataset_predicate_inconsistent_with_subject(
    chain: Chain, keys: dict[str, KeyFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    _resign(
        chain.dataset,
        keys["data"].private,
        lambda s: s["predicate"]["manifest"].update(root="00" * 32),
    )

    _repin(chain, keys)
    code, out = _verify(chain, capsys)
    assert code == 1
    assert "manifest root is not its subject digest" in out


def test_cli_bad_trust_policy(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    chain.policy.write_text("version: 2\n")
    assert run("verify-chain", chain.deployment, "--trust", chain.policy) == 2
    assert "not a version 1 trust policy" in capsys.readouterr().err
