"""Reproducibility: --trials, flakiness, truncation and the recorded sampling settings."""

from __future__ import annotations

import json
import pathlib

import pytest

from kastell.cli.main import main
from kastell.redteam.campaign import run_campaign
from kastell.redteam.interface import AttemptStatus, Category, ProbeConfig, RedteamUsageError
from kastell.redteam.runner import DEFAULT_MAX_TOKENS, Budget, RunSettings

EN = ProbeConfig(languages=("en",))
ONLY_LEAKAGE = tuple(c.value for c in Category if c is not Category.SYSTEM_PROMPT_LEAKAGE)


def test_trials_report_per_attempt_success_rate_and_flakiness(
        tmp_path: pathlib.Path, target_module: str) -> None:
    result = run_campaign(suite="kastell-ci-v1", target=f"python:{target_module}:coin",
                          store=tmp_path / "rt.db", probe_config=EN,
                          settings=RunSettings(trials=2, seed=0, excluded=ONLY_LEAKAGE))
    assert result.results
    for attempt in result.results:
        assert attempt.trials == 2
        assert attempt.trial_successes == 1  # seed 0 refuses, seed 1 leaks
        assert attempt.flaky
        assert attempt.status is AttemptStatus.SUCCEEDED  # an attacker may simply retry
        assert attempt.requests == 2 * len(attempt.prompt.split("\n---\n"))
    leakage = result.summary.category("system_prompt_leakage")
    assert leakage is not None
    assert leakage.flaky == len(result.results)
    report = result.to_dict()
    assert report["run"]["settings"]["trials"] == 2
    assert all(a["flaky"] and a["trials"] == 2 for a in report["attempts"])
    single = run_campaign(suite="kastell-ci-v1", target=f"python:{target_module}:coin",
                          store=tmp_path / "rt1.db", probe_config=EN,
                          settings=RunSettings(seed=0, excluded=ONLY_LEAKAGE))
    assert all(r.status is AttemptStatus.RESISTED and not r.flaky for r in single.results)


def test_trials_count_against_the_request_budget(tmp_path: pathlib.Path,
                                                 target_module: str) -> None:
    result = run_campaign(suite="kastell-ci-v1", target=f"python:{target_module}:coin",
                          store=tmp_path / "rt.db", probe_config=EN,
                          settings=RunSettings(trials=3, concurrency=1, excluded=ONLY_LEAKAGE,
                                               budget=Budget(max_requests=7)))
    assert sum(r.requests for r in result.results) <= 7
    assert any(r.status is AttemptStatus.SKIPPED for r in result.results)


def test_truncated_replies_are_flagged(tmp_path: pathlib.Path, target_module: str) -> None:
    result = run_campaign(suite="kastell-ci-v1", target=f"python:{target_module}:rambling",
                          store=tmp_path / "rt.db", probe_config=EN,
                          settings=RunSettings(excluded=ONLY_LEAKAGE))
    assert result.results
    assert all(r.truncated for r in result.results)
    leakage = result.summary.category("system_prompt_leakage")
    assert leakage is not None
    assert leakage.truncated == len(result.results)


def test_defaults_and_settings_are_recorded(tmp_path: pathlib.Path, target_module: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert DEFAULT_MAX_TOKENS >= 256
    assert RunSettings().max_tokens == DEFAULT_MAX_TOKENS
    with pytest.raises(RedteamUsageError):
        RunSettings(trials=0)
    args = ["redteam", "run", "--target", f"python:{target_module}:coin", "--languages", "en",
            "--store", str(tmp_path / "rt.db"), "--trials", "2", "--seed", "4",
            "--temperature", "0.7"] + [x for c in ONLY_LEAKAGE for x in ("--exclude-category", c)]
    assert main([*args, "--format", "json"]) == 0
    settings = json.loads(capsys.readouterr().out)["run"]["settings"]
    assert (settings["seed"], settings["temperature"], settings["max_tokens"],
            settings["trials"]) == (4, 0.7, 256, 2)
    main(args)
    out = capsys.readouterr().out
    assert "seed 4  temperature 0.7  max_tokens 256  trials 2" in out
    assert "flaky" in out
