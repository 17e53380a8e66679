from __future__ import annotations

import dataclasses

import pytest

from kastell.redteam.converters.encoding import Base64Converter
from kastell.redteam.interface import ProbeConfig
from kastell.redteam.probes.injection import DirectOverrideProbe
from kastell.redteam.suites import SUITES, materialize, suite_named


def test_digest_is_deterministic_and_ci_suite_is_ci_sized() -> None:
    a = materialize(suite_named("kastell-ci-v1"))
    b = materialize(suite_named("kastell-ci-v1"))
    assert a.digest == b.digest
    assert a.attempts == b.attempts
    assert 80 <= len(a.attempts) <= 120
    baseline = materialize(suite_named("kastell-baseline-v1"))
    assert {x.attempt_id for x in a.attempts} <= {x.attempt_id for x in baseline.attempts}
    assert len({x.attempt_id for x in baseline.attempts}) == len(baseline.attempts)


def test_digest_covers_prompts(monkeypatch: pytest.MonkeyPatch) -> None:
    before = materialize(suite_named("kastell-baseline-v1"))
    prompts = dict(DirectOverrideProbe.prompts)
    prompts["en"] = [*prompts["en"][:-1], "changed prompt"]
    monkeypatch.setattr(DirectOverrideProbe, "prompts", prompts)
    after = materialize(suite_named("kastell-baseline-v1"))
    assert after.digest != before.digest
    changed = {p for p in before.probe_digests
               if before.probe_digests[p] != after.probe_digests[p]}
    assert changed == {"injection.direct_override"}


def test_digest_covers_converter_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    before = materialize(suite_named("kastell-baseline-v1"))
    monkeypatch.setattr(Base64Converter, "version", 2)
    after = materialize(suite_named("kastell-baseline-v1"))
    assert after.digest != before.digest


def test_digest_covers_detector_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    from kastell.redteam.detectors.leaks import CanaryDetector

    before = materialize(suite_named("kastell-baseline-v1"))
    monkeypatch.setattr(CanaryDetector, "version", 9)
    after = materialize(suite_named("kastell-baseline-v1"))
    assert after.probe_digests["leakage.system_prompt"] != before.probe_digests[
        "leakage.system_prompt"]
    assert after.probe_digests["injection.direct_override"] == before.probe_digests[
        "injection.direct_override"]


def test_languages_change_the_digest() -> None:
    suite = suite_named("kastell-baseline-v1")
    en = materialize(suite, ProbeConfig(languages=("en",)))
    assert en.digest != materialize(suite).digest
    assert {a.language for a in en.attempts} == {"en"}


def test_converted_attempts_are_tagged_obfuscation() -> None:
    built = materialize(suite_named("kastell-baseline-v1"))
    converted = [a for a in built.attempts if a.converters]
    assert converted
    assert all("ATLAS-AML.T0068" in a.mappings for a in converted)
    chained = [a for a in converted if len(a.converters) == 2]
    assert chained


def test_suites_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SUITES["kastell-ci-v1"].name = "x"  # type: ignore[misc]


def test_ci_sample_takes_plain_attacks_before_converted_ones() -> None:
    baseline = materialize(suite_named("kastell-baseline-v1"))
    ci = materialize(suite_named("kastell-ci-v1"))
    chosen = {a.attempt_id for a in ci.attempts}
    for category in {a.category for a in baseline.attempts}:
        plain = [a for a in baseline.attempts if a.category is category and not a.converters]
        taken = [a for a in ci.attempts if a.category is category]
        if len(plain) <= len(taken):
            assert {a.attempt_id for a in plain} <= chosen, category
        else:
            assert all(not a.converters for a in taken), category
