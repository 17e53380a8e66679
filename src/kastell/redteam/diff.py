"""Compare two runs: per-category deltas, flagged when the 95% intervals do not overlap."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kastell.redteam.interface import SuiteMismatchError
from kastell.redteam.stats import RateStats, Summary

__all__ = ["CategoryDelta", "RunDiff", "diff_summaries", "suite_changes"]


@dataclasses.dataclass(frozen=True)
class CategoryDelta:
    """One category in two runs."""

    name: str
    before: RateStats
    after: RateStats

    @property
    def delta(self) -> float | None:
        """Change in attack success rate (after - before), or ``None`` if either is untested."""
        if self.before.rate is None or self.after.rate is None:
            return None
        return self.after.rate - self.before.rate

    @property
    def significant(self) -> bool:
        """The two Wilson 95% intervals do not overlap."""
        if self.delta is None:
            return False
        (a_low, a_high), (b_low, b_high) = self.before.interval, self.after.interval
        return a_high < b_low or b_high < a_low


@dataclasses.dataclass(frozen=True)
class RunDiff:
    """The comparison of two runs."""

    run_a: str
    run_b: str
    suite_changes: tuple[str, ...]
    """Empty when both runs used the same suite digest."""
    categories: tuple[CategoryDelta, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "same_suite": not self.suite_changes,
            "suite_changes": list(self.suite_changes),
            "categories": [
                {"category": c.name, "before": c.before.to_dict(), "after": c.after.to_dict(),
                 "delta": c.delta, "significant": c.significant}
                for c in self.categories
            ],
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
    deltas = tuple(
        CategoryDelta(before.name, before, after)
        for before, after in zip(summary_a.categories, summary_b.categories, strict=True)
    )
    return RunDiff(id_a, id_b, changes, deltas)
