"""Compare two runs category by category: Fisher exact test, Holm correction, Newcombe interval.

For each category tested in both runs, the change in attack success rate is tested with a
two-sided Fisher exact test on the 2x2 table (successes and non-successes of each run); the
p-values of all categories compared are Holm-adjusted, and a change is *significant* when its
adjusted p-value is at most ``alpha`` and the observed change is at least ``min_effect``. The
95% Newcombe hybrid score interval of the difference is reported with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kastell.redteam.interface import RedteamUsageError, SuiteMismatchError
from kastell.redteam.significance import fisher_exact, holm, newcombe_interval
from kastell.redteam.stats import RateStats, Summary

__all__ = ["CategoryDelta", "RunDiff", "compare_categories", "diff_summaries", "suite_changes"]


@dataclasses.dataclass(frozen=True)
class CategoryDelta:
    """One category in two runs, with its test."""

    name: str
    before: RateStats
    after: RateStats
    p_value: float | None = None
    """Two-sided Fisher exact p-value (``None`` when a run did not test the category)."""
    p_holm: float | None = None
    """Holm-adjusted p-value over the categories compared."""
    interval: tuple[float, float] | None = None
    """95% Newcombe hybrid score interval of ``after - before``."""
    significant: bool = False
    """Adjusted p-value <= alpha and the change at least the minimum effect."""

    @property
    def delta(self) -> float | None:
        """Change in attack success rate (after - before), or ``None`` if either is untested."""
        if self.before.rate is None or self.after.rate is None:
            return None
        return self.after.rate - self.before.rate

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"category": self.name, "before": self.before.to_dict(),
                "after": self.after.to_dict(), "delta": self.delta,
                "ci95_delta": list(self.interval) if self.interval else None,
                "p_value": self.p_value, "p_holm": self.p_holm,
                "significant": self.significant}


def compare_categories(pairs: list[tuple[RateStats, RateStats]], *, alpha: float = 0.05,
                       min_effect: float = 0.0) -> tuple[CategoryDelta, ...]:
    """Test every ``(before, after)`` pair tested in both runs, Holm-adjusted together.

    Raises:
        RedteamUsageError: ``alpha`` or ``min_effect`` is not within [0, 1].
    """
    if not (0.0 < alpha < 1.0 and 0.0 <= min_effect <= 1.0):
        raise RedteamUsageError(f"alpha must be in (0, 1) and min-effect in [0, 1], not "
                                f"{alpha}, {min_effect}")
    tested = [i for i, (a, b) in enumerate(pairs) if a.trials and b.trials]
    raw = {i: fisher_exact(pairs[i][0].succeeded, pairs[i][0].trials,
                           pairs[i][1].succeeded, pairs[i][1].trials) for i in tested}
    adjusted = dict(zip(tested, holm([raw[i] for i in tested]), strict=True))
    deltas = []
    for i, (before, after) in enumerate(pairs):
        if i not in raw:
            deltas.append(CategoryDelta(before.name, before, after))
            continue
        change = abs(after.succeeded / after.trials - before.succeeded / before.trials)
        deltas.append(CategoryDelta(
            before.name, before, after, raw[i], adjusted[i],
            newcombe_interval(before.succeeded, before.trials, after.succeeded, after.trials),
            adjusted[i] <= alpha and change >= min_effect and change > 0,
        ))
    return tuple(deltas)


@dataclasses.dataclass(frozen=True)
class RunDiff:
    """The comparison of two runs."""

    run_a: str
    run_b: str
    suite_changes: tuple[str, ...]
    """Empty when both runs used the same suite digest."""
    categories: tuple[CategoryDelta, ...]
    alpha: float = 0.05
    min_effect: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "same_suite": not self.suite_changes,
            "suite_changes": list(self.suite_changes),
            "method": {"test": "fisher-exact-two-sided", "correction": "holm",
                       "interval": "newcombe-hybrid-score-95", "alpha": self.alpha,
                       "min_effect": self.min_effect},
            "categories": [c.to_dict() for c in self.categories],
        }


def suite_changes(
    name_a: str, digests_a: Mapping[str, str], name_b: str, digests_b: Mapping[str, str]
) -> tuple[str, ...]:
    """What differs between two suites, probe by probe."""
    changes = [f"suite name {name_a} -> {name_b}"] if name_a != name_b else []
    for probe in sorted(set(digests_a) | set(digests_b)):
        if probe not in digests_a:
            changes.append(f"probe {probe} added")
        elif probe not in digests_b:
            changes.append(f"probe {probe} removed")
        elif digests_a[probe] != digests_b[probe]:
            changes.append(f"probe {probe} changed (prompts, converters or detectors)")
    return tuple(changes) or ("suite digest differs (refusal classifier or order changed)",)


def diff_summaries(
    run_a: tuple[str, str, str, Mapping[str, str], Summary],
    run_b: tuple[str, str, str, Mapping[str, str], Summary],
    *,
    allow_suite_change: bool = False,
    alpha: float = 0.05,
    min_effect: float = 0.0,
) -> RunDiff:
    """Diff two runs given as ``(run_id, suite_name, suite_digest, probe_digests, summary)``.

    Raises:
        SuiteMismatchError: the suite digests differ and ``allow_suite_change`` is false.
    """
    id_a, name_a, digest_a, probes_a, summary_a = run_a
    id_b, name_b, digest_b, probes_b, summary_b = run_b
    changes: tuple[str, ...] = ()
    if digest_a != digest_b:
        changes = suite_changes(name_a, probes_a, name_b, probes_b)
        if not allow_suite_change:
            raise SuiteMismatchError(
                f"runs {id_a} and {id_b} used different suites: " + "; ".join(changes[:8])
            )
    deltas = compare_categories(
        list(zip(summary_a.categories, summary_b.categories, strict=True)),
        alpha=alpha, min_effect=min_effect)
    return RunDiff(id_a, id_b, changes, deltas, alpha, min_effect)
