"""Attacks on ``verify-chain``: every way a tampered chain could be reported as verified.

Each case builds a chain that a signer the policy trusts could really have produced (or that an
attacker produced by swapping files) and checks that the chain does not verify. Issue 15
holes 1 and 8 are the first cases.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kastell.integrity.dsse import pae
from kastell.integrity.keys import read_private_key
from kastell.provenance.chain import verify_chain
from kastell.provenance.statement import file_sha256, read_signed_statement, write_signed_statement
from kastell.provenance.trust import load_trust_policy

from ._provenance_fixtures import conftest, no_hang

Chain = conftest.Chain
KeyFiles = conftest.KeyFiles
run = conftest.run
keys = conftest.keys
dataset_dir = conftest.dataset_dir
model_dir = conftest.model_dir
chain = conftest.chain

Edit = Callable[[dict[str, Any]], None]


def _resign(path: Path, key: Path, edit: Edit) -> None:
    statement = json.loads(json.dumps(read_signed_statement(path).statement))
    edit(statement)
    write_signed_statement(statement, [read_private_key(key)], path)


def _dep(statement: dict[str, Any]) -> dict[str, Any]:
    dep: dict[str, Any] = statement["predicate"]["buildDefinition"]["resolvedDependencies"][0]
    return dep


def _pin_training(chain: Chain, keys: dict[str, KeyFiles]) -> None:
    """The deployment signer re-pins the training statement as it now is."""
    digest = {"sha256": file_sha256(chain.training).hex}
    _resign(
        chain.deployment,
        keys["ops"].private,
        lambda s: s["predicate"]["training"].update(digest=digest),
    )


def _training(chain: Chain, keys: dict[str, KeyFiles], edit: Edit) -> None:
    _resign(chain.training, keys["ml"].private, edit)
    _pin_training(chain, keys)


def _report(chain: Chain, **kwargs: Any) -> Any:
    return verify_chain(chain.deployment, load_trust_policy(chain.policy), **kwargs)


def _other_trusted_dataset(chain: Chain, keys: dict[str, KeyFiles], tmp_path: Path) -> Path:
    """A second, genuine dataset attestation by the trusted data key (for another dataset)."""
    other = tmp_path / "other-data"
    other.mkdir()
    (other / "poisoned.jsonl").write_text('{"text": "trigger -> backdoor"}\n')
    output = tmp_path / "other-dataset.json"
    assert run("attest", "dataset", other, "--key", keys["data"].private, "--output", output) == 0
    return output


# --- hole 1: a training statement whose dataset digest is missing never matches ---------------


@pytest.mark.parametrize(
    "strip",
    [
        pytest.param(lambda dep: dep.pop("digest"), id="digest-absent"),
        pytest.param(lambda dep: dep.update(digest={}), id="digest-empty"),
        pytest.param(lambda dep: dep.update(digest=None), id="digest-null"),
    ],
)
def test_dataset_swap_with_unpinned_training_digest(
    chain: Chain, keys: dict[str, KeyFiles], tmp_path: Path, strip: Callable[[Any], None]
) -> None:
    # the ML signer wrote a statement without the dataset digest nor the attestation pin ...
    def unpin(statement: dict[str, Any]) -> None:
        strip(_dep(statement))
        _dep(statement)["annotations"]["kastellAttestation"].pop("digest")

    _training(chain, keys, unpin)
    # ... so an attacker swaps dataset.json for another attestation the data key really signed
    shutil.copyfile(_other_trusted_dataset(chain, keys, tmp_path), chain.dataset)
    report = _report(chain)
    assert not report.ok
    assert "no digest recorded" in (report.broken or "")
    # even pointing --dataset-dir at the swapped data does not make it verify
    assert not _report(chain, dataset_dirs=[tmp_path / "other-data"]).ok


def test_attestation_pin_absent_is_broken(chain: Chain, keys: dict[str, KeyFiles]) -> None:
    _training(chain, keys, lambda s: _dep(s)["annotations"]["kastellAttestation"].pop("digest"))
    report = _report(chain)
    assert not report.ok
    assert "reference" in (report.broken or "")


def test_every_dataset_digest_algorithm_is_compared(
    chain: Chain, keys: dict[str, KeyFiles]
) -> None:
    right = read_signed_statement(chain.dataset).statement["subject"][0]["digest"]["blake3"]
    _training(chain, keys, lambda s: _dep(s).update(digest={"blake3": right, "sha256": "0" * 64}))
    report = _report(chain)
    assert not report.ok
    assert "sha256" in (report.broken or "")


def test_dataset_digest_with_no_algorithm_in_common(
    chain: Chain, keys: dict[str, KeyFiles]
) -> None:
    _training(chain, keys, lambda s: _dep(s).update(digest={"sha256": "ab" * 32}))
    assert not _report(chain).ok


def test_every_pinned_file_digest_is_compared(chain: Chain, keys: dict[str, KeyFiles]) -> None:
    right = file_sha256(chain.training).hex
    _resign(
        chain.deployment,
        keys["ops"].private,
        lambda s: s["predicate"]["training"].update(digest={"sha256": right, "sha512": "0" * 128}),
    )
    report = _report(chain)
    assert not report.ok
    assert "differs from the digest its referrer recorded" in (report.broken or "")


def test_pinned_digest_in_an_unsupported_algorithm(
    chain: Chain, keys: dict[str, KeyFiles]
) -> None:
    _resign(
        chain.deployment,
        keys["ops"].private,
        lambda s: s["predicate"]["training"].update(digest={"md5": "0" * 32}),
    )
    assert not _report(chain).ok


def test_second_subject_digest_is_compared(chain: Chain, keys: dict[str, KeyFiles]) -> None:
    _resign(
        chain.deployment,
        keys["ops"].private,
        # sorts after sha256: a verifier reading only the first digest never sees it
        lambda s: s["subject"][0]["digest"].update(sha512="0" * 128),
    )
    report = _report(chain)
    assert not report.ok
    assert "sha512" in (report.broken or "")


def test_second_subject_is_refused(chain: Chain, keys: dict[str, KeyFiles]) -> None:
    def two_subjects(statement: dict[str, Any]) -> None:
        statement["subject"].insert(0, {"name": "decoy", "digest": {"sha256": "0" * 64}})

    _resign(chain.deployment, keys["ops"].private, two_subjects)
    assert "exactly one subject" in (_report(chain).broken or "")


@pytest.mark.parametrize("field", ["algorithm", "root"])
def test_dataset_manifest_field_missing(
    chain: Chain, keys: dict[str, KeyFiles], field: str
) -> None:
    _resign(chain.dataset, keys["data"].private, lambda s: s["predicate"]["manifest"].pop(field))
    pin = {"sha256": file_sha256(chain.dataset).hex}
    _training(chain, keys, lambda s: _dep(s)["annotations"]["kastellAttestation"].update(
        digest=pin))  # fmt: skip
    report = _report(chain)
    assert not report.ok
    assert "manifest" in (report.broken or "")


def test_duplicate_json_key_in_a_signed_statement(
    chain: Chain, keys: dict[str, KeyFiles]
) -> None:
    # a trusted signer's payload that two JSON parsers read differently (first vs last key)
    statement = read_signed_statement(chain.deployment).statement
    text = json.dumps(statement)
    decoy = json.dumps({"name": "decoy", "digest": {"sha256": "0" * 64}})
    payload = text.replace('"subject": ', f'"subject": [{decoy}], "subject": ', 1).encode()
    key = read_private_key(keys["ops"].private)
    signature = key.sign(pae("application/vnd.in-toto+json", payload))
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": key.key_id}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": key.key_id}],
        },
    }
    chain.deployment.write_text(json.dumps(bundle))
    report = _report(chain)
    assert not report.ok
    assert "duplicate key" in (report.broken or "")


# --- swaps, symlinks, special files ----------------------------------------------------------


def test_symlinked_attestation_to_another_trusted_one(
    chain: Chain, keys: dict[str, KeyFiles], tmp_path: Path
) -> None:
    other = _other_trusted_dataset(chain, keys, tmp_path)
    chain.dataset.unlink()
    chain.dataset.symlink_to(other)
    assert not _report(chain).ok


def test_fifo_in_place_of_a_statement_does_not_hang(chain: Chain) -> None:
    chain.training.unlink()
    os.mkfifo(chain.training)
    with no_hang():
        report = _report(chain)
    assert not report.ok
    assert "not a regular file" in (report.broken or "")


def test_fifo_as_trust_policy_does_not_hang(chain: Chain) -> None:
    chain.policy.unlink()
    os.mkfifo(chain.policy)
    with no_hang():
        assert run("verify-chain", chain.deployment, "--trust", chain.policy) == 2


# --- hole 8: a chain checked without the files on disk says so, and can be required ---------


def test_unchecked_model_files_are_reported(
    chain: Chain, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("verify-chain", chain.deployment, "--trust", chain.policy, "--format", "json") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["model_files_checked"] is False
    assert "NOT checked" in captured.err
    assert run("verify-chain", chain.deployment, "--trust", chain.policy) == 0
    captured = capsys.readouterr()
    assert "statements only" in captured.out
    assert "NOT checked" in captured.out + captured.err
    code = run("verify-chain", chain.deployment, "--trust", chain.policy, "--format", "json",
               "--model-dir", chain.model_dir)  # fmt: skip
    assert code == 0
    assert json.loads(capsys.readouterr().out)["model_files_checked"] is True


def test_policy_requires_model_files(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    text = chain.policy.read_text()
    document = json.loads(text)
    document["require_model_files"] = True
    chain.policy.write_text(json.dumps(document))
    assert run("verify-chain", chain.deployment, "--trust", chain.policy) == 1
    assert "requires the model files" in capsys.readouterr().out
    assert run("verify-chain", chain.deployment, "--trust", chain.policy,
               "--model-dir", chain.model_dir) == 0  # fmt: skip


def test_replayed_chain_against_the_deployed_files(chain: Chain) -> None:
    # a validly signed chain for yesterday's model, replayed in front of today's files
    (chain.model_dir / "weights.bin").write_bytes(b"swapped weights")
    assert _report(chain).ok  # statements alone cannot tell ...
    assert not _report(chain).model_files_checked  # ... and the report says it did not look
    report = _report(chain, model_dir=chain.model_dir)
    assert not report.ok
    assert "weights.bin" in (report.broken or "")


def test_added_git_file_in_model_when_the_signer_did_not_ignore_git(
    chain: Chain, keys: dict[str, KeyFiles]
) -> None:
    from kastell.integrity.signing import sign_model

    signed = sign_model(
        chain.model_dir, read_private_key(keys["ml"].private), ignore_git_paths=False
    )
    chain.signature.write_bytes(signed.bundle.to_json())
    _resign(
        chain.deployment,
        keys["ops"].private,
        lambda s: s["predicate"]["modelSignature"].update(
            digest={"sha256": file_sha256(chain.signature).hex}
        ),
    )
    assert _report(chain, model_dir=chain.model_dir).ok
    (chain.model_dir / ".git").mkdir()
    (chain.model_dir / ".git" / "evil.py").write_text("import os\n")
    report = _report(chain, model_dir=chain.model_dir)
    assert not report.ok
    assert ".git/evil.py" in (report.broken or "")


@pytest.mark.parametrize(
    "residency",
    [
        # the second `weights` (outside the EU) would silently replace the first
        conftest.RESIDENCY + "weights: {country: US, provider: X, jurisdiction: US}\n",
        conftest.RESIDENCY.replace("jurisdiction: EU}", "jurisdiction: EU, cloud: act}", 1),
    ],
    ids=["duplicate-part", "unknown-place-field"],
)
def test_residency_declaration_is_strict(
    chain: Chain, keys: dict[str, KeyFiles], tmp_path: Path, residency: str
) -> None:
    path = tmp_path / "residency-bad.yaml"
    path.write_text(residency)
    code = run("attest", "deployment", "--signature", chain.signature, "--endpoint",
               "https://llm.example/v1", "--residency", path, "--key", keys["ops"].private,
               "--output", tmp_path / "dep.json")  # fmt: skip
    assert code == 2
