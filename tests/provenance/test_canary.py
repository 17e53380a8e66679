from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from kastell.provenance.canary import (
    CanarySet,
    canary_digest,
    generate_canaries,
    read_canary_file,
)
from kastell.provenance.interface import ProvenanceUsageError

from .conftest import DEFAULT_TRUST, KeyFiles, run, write_policy


def test_records_are_chat_messages_holding_the_secret() -> None:
    made = generate_canaries(3)
    for canary, record in zip(made.canaries, made.records(), strict=True):
        assert record["messages"][1]["content"] == canary.secret
        assert canary_digest(record["messages"][1]["content"]) == canary.digest


def test_duplicate_tokens_are_retried() -> None:
    counter = itertools.count()
    values = iter(["aa", "a" * 32, "aa", "a" * 32, "bb", "b" * 32])

    def token(_: int) -> str:
        next(counter)
        return next(values)

    made = generate_canaries(2, token=token)
    assert [c.id for c in made.canaries] == ["aa", "bb"]


def test_leak_detection_by_digest_only() -> None:
    made = generate_canaries(3)
    hidden = CanarySet(tuple(type(c)(c.id, c.digest, None, c.prompt) for c in made.canaries))
    secret = made.canaries[1].secret
    assert secret is not None
    leaked = hidden.leaked_in(f"the model said: {secret}!")
    assert [c.id for c in leaked] == [made.canaries[1].id]
    assert hidden.leaked_in("KASTELL-CANARY-" + "0" * 32) == ()
    with pytest.raises(ProvenanceUsageError, match="no secret in clear"):
        hidden.canaries[0].record()


def test_cli_reveal_and_not(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hidden, shown = tmp_path / "h.json", tmp_path / "s.json"
    assert run("canary", "generate", "--n", "4", "--output", hidden) == 0
    assert "secrets are not kept" in capsys.readouterr().err
    assert "KASTELL-CANARY" not in hidden.read_text()
    assert (
        run("canary", "generate", "--n", "4", "--reveal", "--output", shown, "--format", "json")
        == 0
    )
    assert len(json.loads(capsys.readouterr().out)["digests"]) == 4
    revealed = read_canary_file(shown)
    assert revealed.revealed
    assert len(revealed.canaries) == 4


def test_cli_bad_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("canary", "generate", "--n", "0", "--output", tmp_path / "c.json") == 2
    assert "1 to 10000" in capsys.readouterr().err


def test_tampered_secret_in_canary_file(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    made = generate_canaries(1)
    document = made.to_document(reveal=True)
    document["canaries"][0]["secret"] = "KASTELL-CANARY-" + "f" * 32
    path.write_text(json.dumps(document))
    with pytest.raises(ProvenanceUsageError, match="does not match its digest") as info:
        read_canary_file(path)
    assert info.value.exit_code == 2


def test_canary_file_not_json(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(b"\xff")
    with pytest.raises(ProvenanceUsageError, match="not JSON"):
        read_canary_file(path)


def test_attested_canaries_for_probes(chain_with_canaries: tuple[Path, Path]) -> None:
    from kastell.provenance import load_attested_canaries
    from kastell.provenance.trust import load_trust_policy

    attestation, policy = chain_with_canaries
    loaded = load_attested_canaries(attestation, load_trust_policy(policy))
    assert len(loaded.canaries) == 2
    assert all(c.prompt for c in loaded.canaries)


def test_attested_canaries_untrusted(
    chain_with_canaries: tuple[Path, Path], keys: dict[str, KeyFiles]
) -> None:
    from kastell.integrity.keys import read_private_key
    from kastell.provenance import load_attested_canaries
    from kastell.provenance.interface import UntrustedSignatureError
    from kastell.provenance.statement import read_signed_statement, write_signed_statement
    from kastell.provenance.trust import load_trust_policy

    attestation, policy = chain_with_canaries
    statement = read_signed_statement(attestation).statement
    write_signed_statement(statement, [read_private_key(keys["rogue"].private)], attestation)
    with pytest.raises(UntrustedSignatureError, match="not trusted for dataset"):
        load_attested_canaries(attestation, load_trust_policy(policy))


@pytest.fixture
def chain_with_canaries(
    tmp_path: Path, dataset_dir: Path, keys: dict[str, KeyFiles]
) -> tuple[Path, Path]:
    canaries = tmp_path / "c.json"
    assert run("canary", "generate", "--n", "2", "--output", canaries) == 0
    out = tmp_path / "ds.json"
    assert (
        run(
            "attest",
            "dataset",
            dataset_dir,
            "--key",
            keys["data"].private,
            "--canaries",
            canaries,
            "--output",
            out,
        )
        == 0
    )
    return out, write_policy(tmp_path / "t.yaml", keys, DEFAULT_TRUST)


def test_export_for_redteam_probes(chain_with_canaries: tuple[Path, Path], tmp_path: Path) -> None:
    attestation, policy = chain_with_canaries
    out = tmp_path / "probe.jsonl"
    assert run("canary", "export", attestation, "--trust", policy, "--output", out) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 2
    assert all(set(line) == {"prefix", "canary_sha256", "pattern"} for line in lines)
    import importlib.util
    import re

    for line in lines:
        assert re.fullmatch(line["pattern"], "KASTELL-CANARY-" + "a" * 32)
    if importlib.util.find_spec("kastell.redteam.inputs") is not None:
        from kastell.redteam.inputs import load_canaries as probe_load

        assert len(probe_load(out)) == 2  # the probes' own reader accepts the file


def test_export_untrusted_is_exit_1(
    chain_with_canaries: tuple[Path, Path],
    keys: dict[str, KeyFiles],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kastell.integrity.keys import read_private_key
    from kastell.provenance.statement import read_signed_statement, write_signed_statement

    attestation, policy = chain_with_canaries
    statement = read_signed_statement(attestation).statement
    write_signed_statement(statement, [read_private_key(keys["rogue"].private)], attestation)
    code = run("canary", "export", attestation, "--trust", policy, "--output", tmp_path / "o")
    assert code == 1
    assert "not trusted for dataset" in capsys.readouterr().err


def test_probe_inputs_with_secrets() -> None:
    made = generate_canaries(2)
    inputs = made.probe_inputs()
    assert [i["canary"] for i in inputs] == [c.secret for c in made.canaries]


def test_canary_file_entry_without_digest(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"kastellCanaries": 1, "canaries": [{"id": "x"}]}))
    with pytest.raises(ProvenanceUsageError, match="lacks its sha256"):
        read_canary_file(path)


def test_canary_output_unwritable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run("canary", "generate", "--output", tmp_path / "missing" / "c.json")
    assert code == 2
    assert "cannot write" in capsys.readouterr().err
