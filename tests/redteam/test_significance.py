"""Two-sample statistics of ``diff``: Fisher exact, Newcombe interval, Holm, --min-effect."""

from __future__ import annotations

import pytest

from kastell.redteam.diff import diff_summaries
from kastell.redteam.interface import (
    AttemptId,
    AttemptResult,
    AttemptStatus,
    Category,
    RedteamUsageError,
)
from kastell.redteam.significance import fisher_exact, holm, newcombe_interval
from kastell.redteam.stats import summarize


def _results(category: Category, succeeded: int, resisted: int,
             tag: str = "") -> list[AttemptResult]:
    def one(i: int, status: AttemptStatus) -> AttemptResult:
        return AttemptResult(AttemptId(f"{category.value}{tag}{status.value}{i}"), "p",
                             category, "en", status, "x", "y")

    return ([one(i, AttemptStatus.SUCCEEDED) for i in range(succeeded)]
            + [one(i, AttemptStatus.RESISTED) for i in range(resisted)])


# Reference p-values: R fisher.test / scipy.stats.fisher_exact (two-sided), printed to 1e-12.
@pytest.mark.parametrize(("table", "expected"), [
    ((0, 18, 6, 18), 0.019061583577712607),
    ((3, 4, 1, 4), 0.4857142857142857),  # Fisher's tea-tasting table
    ((2, 18, 9, 18), 0.027490862863499124),
    ((11, 18, 0, 18), 0.00010593781450288681),
    ((1, 100, 5, 100), 0.2116478526957317),
    ((0, 18, 18, 18), 2.2038238923005366e-10),
    ((0, 18, 0, 18), 1.0),
    ((5, 5, 5, 5), 1.0),
])
def test_fisher_exact_matches_reference_values(table: tuple[int, int, int, int],
                                               expected: float) -> None:
    assert fisher_exact(*table) == pytest.approx(expected, rel=1e-9)
    a, n, b, m = table
    assert fisher_exact(b, m, a, n) == pytest.approx(expected, rel=1e-9)


def test_fisher_exact_rejects_impossible_counts() -> None:
    with pytest.raises(RedteamUsageError):
        fisher_exact(5, 4, 0, 4)


def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80, method 10
    low, high = newcombe_interval(48, 80, 56, 70)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    low, high = newcombe_interval(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (-0.3339, -0.0524)
    assert newcombe_interval(0, 0, 1, 2) == (-1.0, 1.0)


def test_holm_adjustment_known_values() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([]) == []
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def _diff(before: list[AttemptResult], after: list[AttemptResult],
          **options: float) -> dict[str, object]:
    result = diff_summaries(("a", "s", "sha256:1", {}, summarize(before)),
                            ("b", "s", "sha256:1", {}, summarize(after)), **options)
    return {c.name: c for c in result.categories}


def test_zero_of_18_to_6_of_18_is_significant_before_correction() -> None:
    rows = _diff(_results(Category.JAILBREAK, 0, 18), _results(Category.JAILBREAK, 6, 12))
    row = rows["jailbreak"]
    assert row.p_value == pytest.approx(0.01906, abs=1e-5)  # type: ignore[attr-defined]
    assert row.p_holm == row.p_value  # type: ignore[attr-defined]
    assert row.significant  # type: ignore[attr-defined]
    low, high = row.interval  # type: ignore[attr-defined]
    assert 0 < low < 1 / 3 < high
    assert not _diff(_results(Category.JAILBREAK, 0, 18), _results(Category.JAILBREAK, 6, 12),
                     min_effect=0.4)["jailbreak"].significant  # type: ignore[attr-defined]


def test_holm_corrects_across_categories() -> None:
    before = _results(Category.JAILBREAK, 0, 18) + _results(Category.TOXICITY, 3, 15)
    after = _results(Category.JAILBREAK, 6, 12) + _results(Category.TOXICITY, 3, 15)
    rows = _diff(before, after)
    jailbreak = rows["jailbreak"]
    assert jailbreak.p_holm == pytest.approx(2 * 0.019061583577712607)  # type: ignore[attr-defined]
    assert jailbreak.significant  # type: ignore[attr-defined]
    assert not rows["toxicity"].significant  # type: ignore[attr-defined]
    assert rows["prompt_injection"].p_value is None  # type: ignore[attr-defined]
    assert not _diff(before, after, alpha=0.03)["jailbreak"].significant  # type: ignore[attr-defined]


def test_bad_alpha_or_min_effect_is_a_usage_error() -> None:
    with pytest.raises(RedteamUsageError):
        _diff([], [], alpha=0.0)
    with pytest.raises(RedteamUsageError):
        _diff([], [], min_effect=1.5)


def test_diff_text_shows_both_rates_interval_and_p(capsys: pytest.CaptureFixture[str]) -> None:
    from kastell.cli.redteam import _diff_text

    result = diff_summaries(
        ("before01", "s", "sha256:1", {}, summarize(_results(Category.JAILBREAK, 0, 18))),
        ("after001", "s", "sha256:1", {}, summarize(_results(Category.JAILBREAK, 6, 12))))
    _diff_text(result)
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("jailbreak"))
    assert "0/18 0%" in line
    assert "6/18 33%" in line
    assert "[+9%, +56%]" in line
    assert "0.0191" in line
    assert "WORSE" in line
    method = result.to_dict()["method"]
    assert (method["test"], method["correction"]) == ("fisher-exact-two-sided", "holm")
