from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kastell.provenance.interface import ProvenanceUsageError
from kastell.provenance.trust import AllOf, AnyOf, load_trust_policy, parse_trust_policy

from .conftest import KeyFiles


def _doc(keys: dict[str, KeyFiles], trust: object) -> dict[str, object]:
    return {"version": 1, "keys": {"ml": str(keys["ml"].public)}, "trust": trust}


@pytest.mark.parametrize(
    ("trust", "message"),
    [
        ({"datasets": "ml"}, "unknown statement kind 'datasets'"),
        ({"dataset": "nobody"}, "unknown key 'nobody'"),
        ({"dataset": {"one_of": ["ml"]}}, "cannot read rule"),
        ({"dataset": {"all_of": []}}, "all_of needs at least one policy"),
        ({"dataset": {"any_of": []}}, "any_of needs at least one policy"),
        ({"dataset": 3}, "cannot read rule"),
        ({}, "non-empty mappings"),
    ],
)
def test_bad_rules(keys: dict[str, KeyFiles], trust: object, message: str) -> None:
    with pytest.raises(ProvenanceUsageError, match=message) as info:
        parse_trust_policy(_doc(keys, trust), Path("/"))
    assert info.value.exit_code == 2


def test_missing_version(keys: dict[str, KeyFiles]) -> None:
    with pytest.raises(ProvenanceUsageError, match="not a version 1") as info:
        parse_trust_policy({"keys": {}, "trust": {}}, Path("."))
    assert "version: 1" in info.value.diagnostics()


def test_key_path_relative_to_policy(tmp_path: Path, keys: dict[str, KeyFiles]) -> None:
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "ml.pub").write_bytes(keys["ml"].public.read_bytes())
    policy = tmp_path / "p.yaml"
    policy.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "keys": {"ml": {"public_key": "k/ml.pub"}},
                "trust": {"training": {"any_of": ["ml", {"all_of": ["ml"]}]}},
            }
        )
    )
    loaded = load_trust_policy(policy)
    rule = next(iter(loaded.rules.values()))
    assert isinstance(rule, AnyOf)
    assert isinstance(rule.children[1], AllOf)


def test_missing_key_file(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nkeys: {a: missing.pub}\ntrust: {dataset: a}\n")
    with pytest.raises(Exception, match="does not exist") as info:
        load_trust_policy(policy)
    assert getattr(info.value, "exit_code", None) == 2


def test_private_key_given_as_trusted_key(tmp_path: Path, keys: dict[str, KeyFiles]) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(f"version: 1\nkeys: {{a: {keys['ml'].private}}}\ntrust: {{dataset: a}}\n")
    with pytest.raises(Exception, match="private key") as info:
        load_trust_policy(policy)
    assert getattr(info.value, "exit_code", None) == 2


def test_not_yaml(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: [1\n")
    with pytest.raises(ProvenanceUsageError, match="not valid YAML"):
        load_trust_policy(policy)


def test_unreadable_policy(tmp_path: Path) -> None:
    with pytest.raises(ProvenanceUsageError, match="cannot read trust policy"):
        load_trust_policy(tmp_path / "missing.yaml")
