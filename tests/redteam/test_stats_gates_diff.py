from __future__ import annotations

import pytest

from kastell.redteam.diff import diff_summaries
from kastell.redteam.gates import AnyOf, parse_gates
from kastell.redteam.interface import (
    AttemptId,
    AttemptResult,
    AttemptStatus,
    Category,
    RedteamUsageError,
    SuiteMismatchError,
)
from kastell.redteam.stats import summarize, wilson_interval


def _results(category: Category, succeeded: int, resisted: int, errored: int = 0,
             probe: str = "p") -> list[AttemptResult]:
    statuses = ([AttemptStatus.SUCCEEDED] * succeeded + [AttemptStatus.RESISTED] * resisted
                + [AttemptStatus.ERROR] * errored)
    return [AttemptResult(AttemptId(f"{category.value}{i}"), probe, category, "en", s, "", "")
            for i, s in enumerate(statuses)]


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0), (1, 100, 0.0018,
                                                                             0.0545)],
)
def test_wilson_interval_matches_reference_values(k: int, n: int, low: float,
                                                  high: float) -> None:
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-4)
    assert hi == pytest.approx(high, abs=1e-4)


def test_no_trials_gives_full_interval() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_summary_excludes_errors_and_baseline_from_rate() -> None:
    results = _results(Category.PROMPT_INJECTION, 2, 6, errored=2)
    summary = summarize(results, accepted=[AttemptId("prompt_injection0")])
    stats = summary.category("prompt_injection")
    assert stats is not None
    assert (stats.succeeded, stats.accepted, stats.trials, stats.errored) == (1, 1, 8, 2)
    assert stats.rate == pytest.approx(1 / 8)
    assert not stats.complete
    untested = summary.category("toxicity")
    assert untested is not None
    assert untested.rate is None


def test_gates_pass_fail_and_undecided() -> None:
    summary = summarize(_results(Category.PROMPT_INJECTION, 2, 8)
                        + _results(Category.SYSTEM_PROMPT_LEAKAGE, 0, 5))
    results = parse_gates("prompt_injection>0.10,system_prompt_leakage>0,toxicity>0").check(
        summary)
    assert [r.passed for r in results] == [False, True, None]
    assert "20.0%" in results[0].message
    assert parse_gates("prompt_injection>=20%").check(summary)[0].passed is False
    assert parse_gates("prompt_injection>20%").check(summary)[0].passed is True


def test_any_of_gate() -> None:
    summary = summarize(_results(Category.JAILBREAK, 5, 5))
    policy = parse_gates("jailbreak>0.9|overall>0.1")
    assert isinstance(policy.gates[0], AnyOf)
    assert policy.check(summary)[0].passed is True


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("prompt_injection<0.1", "bad gate"), ("nonsense>0.1", "unknown category"),
     ("jailbreak>1.5", "not a rate"), ("jailbreak>", "bad gate")],
)
def test_bad_gates_are_usage_errors(text: str, fragment: str) -> None:
    with pytest.raises(RedteamUsageError, match=fragment) as caught:
        parse_gates(text)
    assert caught.value.exit_code == 2


def test_diff_flags_non_overlapping_intervals() -> None:
    before = summarize(_results(Category.PROMPT_INJECTION, 0, 40) + _results(Category.JAILBREAK,
                                                                             2, 8))
    after = summarize(_results(Category.PROMPT_INJECTION, 30, 10) + _results(Category.JAILBREAK,
                                                                             3, 7))
    result = diff_summaries(("a", "s", "sha256:1", {}, before), ("b", "s", "sha256:1", {}, after))
    rows = {c.name: c for c in result.categories}
    assert rows["prompt_injection"].significant
    assert rows["prompt_injection"].delta == pytest.approx(0.75)
    assert not rows["jailbreak"].significant
    assert rows["toxicity"].delta is None
    assert result.to_dict()["same_suite"]


def test_diff_refuses_different_suites_and_says_what_changed() -> None:
    summary = summarize([])
    a = ("a", "s", "sha256:1", {"p1": "x", "p2": "y"}, summary)
    b = ("b", "s", "sha256:2", {"p1": "z", "p3": "w"}, summary)
    with pytest.raises(SuiteMismatchError) as caught:
        diff_summaries(a, b)
    message = caught.value.message
    assert "probe p1 changed" in message
    assert "probe p2 removed" in message
    assert "probe p3 added" in message
    allowed = diff_summaries(a, b, allow_suite_change=True)
    assert len(allowed.suite_changes) == 3
