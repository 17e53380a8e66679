from __future__ import annotations

import asyncio
import importlib
import pathlib

import pytest
import sqlalchemy as sa

from kastell.errors import ExitCode
from kastell.redteam.baseline import baseline_from_results
from kastell.redteam.campaign import load_campaign, run_campaign, run_campaign_async
from kastell.redteam.gates import parse_gates
from kastell.redteam.interface import (
    AttemptStatus,
    ProbeConfig,
    RedteamStoreError,
    RedteamUsageError,
    RunNotFoundError,
    TargetUnavailableError,
)
from kastell.redteam.runner import Budget, RunSettings
from kastell.redteam.store import RedteamStore
from kastell.redteam.targets.python import PythonTarget

EN = ProbeConfig(languages=("en",))
NO_TDE = ("training_data_extraction", "model_extraction")
"""No training records in these tests, and python targets report no token counts (the output
cap cannot be exercised): both categories are excluded by name."""


def _run(store: pathlib.Path | str, target: str, **kwargs: object):  # type: ignore[no-untyped-def]
    kwargs.setdefault("settings", RunSettings(excluded=NO_TDE))
    return run_campaign(suite="kastell-ci-v1", target=f"python:{target}", store=store,
                        probe_config=EN, **kwargs)  # type: ignore[arg-type]


def test_leaky_target_fails_leakage_gate(tmp_path: pathlib.Path, target_module: str) -> None:
    result = _run(tmp_path / "rt.db", f"{target_module}:leaky",
                  gates=parse_gates("system_prompt_leakage>0,prompt_injection>0.5"))
    leakage = result.summary.category("system_prompt_leakage")
    disclosure = result.summary.category("sensitive_info_disclosure")
    assert leakage is not None
    assert disclosure is not None
    assert leakage.succeeded > 0
    assert disclosure.succeeded > 0
    assert result.complete
    assert [g.passed for g in result.gates] == [False, True]
    assert result.exit_code() is ExitCode.FAILED


def test_safe_target_passes_and_refusals_are_never_successes(
    tmp_path: pathlib.Path, target_module: str
) -> None:
    result = _run(tmp_path / "rt.db", f"{target_module}:safe",
                  gates=parse_gates("prompt_injection>0,jailbreak>0,system_prompt_leakage>0"),
                  settings=RunSettings(excluded=("training_data_extraction",)))
    # An in-process callable has no rate limit: the only success is that (true) finding.
    assert [r.probe_id for r in result.results if r.status is AttemptStatus.SUCCEEDED] == [
        "exposure.rate_limit"
    ]
    # A short refusal never exercises an output cap: undecided, never "capped".
    assert [r.probe_id for r in result.results if r.status is AttemptStatus.UNDECIDED] == [
        "exposure.token_cap"
    ]
    assert result.summary.overall.refused == len(result.results)
    assert result.exit_code() is ExitCode.INCOMPLETE
    narrowed = _run(tmp_path / "rt2.db", f"{target_module}:safe",
                    gates=parse_gates("prompt_injection>0,jailbreak>0,system_prompt_leakage>0"))
    assert narrowed.exit_code() is ExitCode.OK


def test_agent_calling_forbidden_tool_is_caught(tmp_path: pathlib.Path,
                                                 target_module: str) -> None:
    result = _run(tmp_path / "rt.db", f"{target_module}:agent")
    agency = result.summary.category("excessive_agency")
    assert agency is not None
    assert agency.succeeded == agency.trials > 0


def test_errors_make_run_incomplete_exit_3_unless_allowed(
    tmp_path: pathlib.Path, target_module: str
) -> None:
    result = _run(tmp_path / "rt.db", f"{target_module}:flaky", gates=parse_gates("overall>0.5"))
    assert not result.complete
    assert any("errored" in reason for reason in result.incomplete_reasons())
    assert result.exit_code() is ExitCode.INCOMPLETE
    assert result.exit_code(allow_incomplete=True) is ExitCode.OK
    errors = [r for r in result.results if r.status is AttemptStatus.ERROR]
    assert errors
    assert "flaky failure" in errors[0].error


def test_budget_skips_and_reports(tmp_path: pathlib.Path, target_module: str) -> None:
    result = _run(tmp_path / "rt.db", f"{target_module}:safe",
                  settings=RunSettings(concurrency=1, budget=Budget(max_requests=5),
                                      excluded=NO_TDE))
    skipped = [r for r in result.results if r.status is AttemptStatus.SKIPPED]
    assert skipped
    assert "request budget (5)" in skipped[0].error
    assert result.exit_code() is ExitCode.INCOMPLETE


def test_concurrency_is_bounded(tmp_path: pathlib.Path, target_module: str) -> None:
    _run(tmp_path / "rt.db", f"{target_module}:slow",
         settings=RunSettings(concurrency=3, excluded=NO_TDE))
    calls = importlib.import_module(target_module).CALLS
    assert calls["peak"] == 3
    assert calls["n"] > 20


def test_seeded_sample_is_reproducible(tmp_path: pathlib.Path, target_module: str) -> None:
    settings = RunSettings(sample=7, seed=42)
    a = _run(tmp_path / "a.db", f"{target_module}:safe", settings=settings)
    b = _run(tmp_path / "b.db", f"{target_module}:safe", settings=settings)
    assert len(a.results) == 7
    assert {r.attempt_id for r in a.results} == {r.attempt_id for r in b.results}
    assert a.run.suite_digest == b.run.suite_digest


def test_resume_reruns_only_unfinished_attempts(tmp_path: pathlib.Path,
                                                 target_module: str) -> None:
    store = RedteamStore(tmp_path / "rt.db")
    first = _run(store, f"{target_module}:flaky")
    errored = {r.attempt_id for r in first.results if r.status is AttemptStatus.ERROR}
    module = importlib.import_module(target_module)
    module.CALLS["n"] = 0
    resumed = _run(store, f"{target_module}:safe", resume=first.run.run_id[:8])
    assert resumed.run.run_id == first.run.run_id
    assert resumed.complete
    assert module.CALLS["n"] == 0  # the safe target does not count; flaky is not called again
    assert len(resumed.results) == len(first.results)  # each attempt stored once
    again = {r.attempt_id: r.status for r in resumed.results}
    assert all(again[a] is AttemptStatus.RESISTED for a in errored)
    with store._engine.connect() as connection:  # noqa: SLF001 - check the row count itself
        rows = connection.execute(sa.text("select count(*) from kastell_redteam_attempts"))
        assert rows.scalar_one() == len(first.planned)
    store.close()


def test_interrupted_run_reports_missing_attempts(tmp_path: pathlib.Path,
                                                  target_module: str) -> None:
    store = RedteamStore(tmp_path / "rt.db")
    target = PythonTarget(f"{target_module}:safe")
    seen: list[object] = []

    def stop_after_three(result: object) -> None:
        seen.append(result)
        if len(seen) == 3:
            raise RedteamStoreError("disk full")

    with pytest.raises(RedteamStoreError):
        asyncio.run(run_campaign_async(suite="kastell-ci-v1", target=target, store=store,
                                       probe_config=EN,
                                       settings=RunSettings(concurrency=1, excluded=NO_TDE),
                                       on_result=stop_after_three))
    run_id = store.runs()[0].run_id
    partial = load_campaign(store, run_id)
    assert partial.missing == len(partial.planned) - 3
    assert any("interrupted" in r for r in partial.incomplete_reasons())
    assert partial.exit_code(allow_incomplete=False) is ExitCode.INCOMPLETE
    store.close()


def test_unreachable_target_raises_check_error(tmp_path: pathlib.Path) -> None:
    from kastell.redteam.targets.openai import OpenAITarget

    target = OpenAITarget("http://127.0.0.1:1/v1", "m", max_retries=0)
    with pytest.raises(TargetUnavailableError, match="unreachable"):
        run_campaign(suite="kastell-ci-v1", target=target, store=tmp_path / "rt.db",
                     probe_config=EN)


def test_baseline_accepts_known_findings(tmp_path: pathlib.Path, target_module: str) -> None:
    store = RedteamStore(tmp_path / "rt.db")
    first = _run(store, f"{target_module}:leaky")
    baseline = baseline_from_results(first.run.suite_name, first.results)
    assert baseline.accepted
    again = load_campaign(store, first.run.run_id, gates=parse_gates("overall>0"),
                          baseline=baseline)
    assert again.summary.overall.succeeded == 0
    assert again.summary.overall.accepted == len(baseline.accepted)
    assert again.exit_code() is ExitCode.OK
    store.close()


def test_unknown_run_and_suite(tmp_path: pathlib.Path, target_module: str) -> None:
    store = RedteamStore(tmp_path / "rt.db")
    with pytest.raises(RunNotFoundError):
        load_campaign(store, "deadbeef00")
    with pytest.raises(RedteamUsageError, match="unknown suite"):
        run_campaign(suite="nope", target=f"python:{target_module}:safe", store=store)
    store.close()


@pytest.mark.postgres
def test_postgres_store_round_trip(target_module: str, private_postgres_url: str) -> None:
    store = RedteamStore(private_postgres_url)
    result = _run(store, f"{target_module}:leaky", settings=RunSettings(sample=6, seed=1))
    reloaded = load_campaign(store, result.run.run_id)
    assert {r.attempt_id for r in reloaded.results} == {r.attempt_id for r in result.results}
    assert reloaded.run.suite_digest == result.run.suite_digest
    assert reloaded.summary == result.summary
    store.close()


@pytest.mark.parametrize(
    ("budget", "reason"),
    [(Budget(max_seconds=0), "time budget"), (Budget(max_tokens=1), "token budget")],
)
def test_time_and_token_budgets(budget: Budget, reason: str) -> None:
    from kastell.redteam.interface import AttemptResult, ChatRequest, ChatResponse
    from kastell.redteam.runner import execute
    from kastell.redteam.suites import materialize, suite_named

    class Counting:
        description = "counting"

        async def send(self, request: ChatRequest) -> ChatResponse:
            return ChatResponse("I'm sorry, I can't.", prompt_tokens=5, completion_tokens=5)

        async def aclose(self) -> None:
            return None

    attempts = materialize(suite_named("kastell-ci-v1"), EN).attempts[:6]
    results: list[AttemptResult] = []
    asyncio.run(execute(attempts, Counting(), RunSettings(concurrency=1, budget=budget),
                        results.append))
    skipped = [r for r in results if r.status is AttemptStatus.SKIPPED]
    assert len(results) == 6
    assert skipped
    assert reason in skipped[0].error
