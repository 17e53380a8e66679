from __future__ import annotations

import pathlib
from typing import Any

import pytest
import yaml

from kastell.comply._guard import lint_guard_step
from kastell.comply.catalog import load_catalog
from kastell.comply.interface import StepOutcome
from kastell.errors import UsageError
from kastell.types import EvidenceKind

from ._builders import NOW

keys = pytest.importorskip("kastell.guard.keys")


def _config(**change: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "upstreams": {"main": {"type": "openai", "base_url": "https://llm.example.eu/v1",
                               "declared_model_digest": "sha256:" + "ab" * 32}},
        "policies": {"default": {"canary": True}},
        "tenants": {"t": {"key_hashes": [keys.hash_api_key("k")], "upstream": "main"}},
        "audit": {"url": "audit.sqlite"},
    }
    return {**base, **change}


def _lint(tmp_path: pathlib.Path, document: dict[str, Any]):  # type: ignore[no-untyped-def]
    path = tmp_path / "guard.yaml"
    path.write_text(yaml.safe_dump(document))
    return lint_guard_step(path, NOW)


def test_sound_policy_passes_and_is_evidence(tmp_path: pathlib.Path) -> None:
    result = _lint(tmp_path, _config())
    assert result.outcome is StepOutcome.PASSED
    assert result.findings == ()
    (evidence,) = result.evidence
    assert evidence.kind is EvidenceKind.GUARD_POLICY
    assert evidence.summary["passed"] is True


@pytest.mark.parametrize(
    ("change", "rule", "outcome"),
    [
        ({"audit": None}, "guard.lint.no_audit_log", StepOutcome.FAILED),
        (
            {"policies": {"default": {"canary": False}}},
            "guard.lint.canary_off",
            StepOutcome.PASSED,  # low severity: reported, does not fail the step
        ),
        (
            {"upstreams": {"main": {"type": "openai", "base_url": "http://llm.example.eu/v1",
                                    "declared_model_digest": "sha256:" + "ab" * 32}}},
            "guard.lint.plain_http_upstream",
            StepOutcome.FAILED,
        ),
        (
            {"upstreams": {"main": {"type": "local", "require_signature": False}}},
            "guard.lint.unsigned_model",
            StepOutcome.FAILED,
        ),
    ],
)
def test_weak_posture_is_reported_with_mapped_findings(
    tmp_path: pathlib.Path, change: dict[str, Any], rule: str, outcome: StepOutcome
) -> None:
    document = _config(**change)
    if document["audit"] is None:
        del document["audit"]
    result = _lint(tmp_path, document)
    assert result.outcome is outcome
    assert [f.rule_id for f in result.findings] == [rule]
    assert all(load_catalog().has(m) for f in result.findings for m in f.mappings)


def test_rule_switched_to_allow_is_flagged(tmp_path: pathlib.Path) -> None:
    registry = pytest.importorskip("kastell.guard.scanners.registry")
    blocking = [r for r in registry.all_rules().values() if r.default_action.name != "ALLOW"]
    rule = blocking[0]
    result = _lint(tmp_path, _config(policies={"default": {"actions": {rule.rule_id: "allow"}}}))
    assert [f.rule_id for f in result.findings] == ["guard.lint.rule_disabled"]
    assert result.outcome is StepOutcome.FAILED


def test_invalid_guard_file_is_the_guards_usage_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(UsageError, match="upstream") as caught:
        _lint(tmp_path, _config(upstreams={}))
    assert caught.value.exit_code == 2  # type: ignore[attr-defined]
