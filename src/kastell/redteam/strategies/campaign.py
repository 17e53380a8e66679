"""Run a strategy over several goals and summarise: success rate and queries to success.

Queries to success is the standard robustness figure of adaptive attacks: the number of target
queries the strategy needed. A goal that was never reached counts as "more than the budget"
(censored), so the median is honest when some goals resist: it is reported as not reached when
half or more of them did. Its 95% interval is the distribution-free order-statistic interval
(binomial with p = 1/2); the success rate comes with its Wilson interval.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

from kastell.redteam.interface import Target, TargetUnavailableError
from kastell.redteam.stats import wilson_interval
from kastell.redteam.strategies.base import (
    Attacker,
    Goal,
    GoalJudge,
    GoalOutcome,
    GoalResult,
    Strategy,
    StrategyBudget,
    TargetSession,
)

__all__ = ["StrategySummary", "median_interval", "run_strategy", "summarize_goals"]


@dataclasses.dataclass(frozen=True)
class StrategySummary:
    """Outcome of a strategy over its goals."""

    strategy: str
    goals: int
    succeeded: int
    resisted: int
    undecided: int
    errored: int
    success_interval: tuple[float, float]
    median_queries: float | None
    """Median queries to success with failures counted as above the budget; ``None`` when not
    reached (half or more goals resisted)."""
    median_interval: tuple[float | None, float | None]
    """95% interval of that median; ``None`` at an end means above the budget."""
    total_queries: int

    @property
    def complete(self) -> bool:
        """Every goal has a verdict (succeeded or resisted)."""
        return self.undecided == 0 and self.errored == 0


def median_interval(values: Sequence[float]) -> tuple[float, tuple[float, float]]:
    """Median and distribution-free 95% interval of ``values`` (``inf`` allowed).

    The interval is ``[x_(j), x_(n-j+1)]`` with the largest ``j`` whose binomial tail
    ``P(Bin(n, 1/2) < j)`` is at most 0.025; for fewer than 6 values it is the whole range.
    """
    ordered = sorted(values)
    n = len(ordered)
    middle = n // 2
    median = ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    j, tail = 0, 0.0
    for k in range(n + 1):
        tail += math.comb(n, k) / 2**n
        if tail > 0.025:
            break
        j = k + 1
    j = max(j, 1)
    return median, (ordered[j - 1], ordered[n - j])


def summarize_goals(strategy: str, results: Sequence[GoalResult],
                    budget: StrategyBudget) -> StrategySummary:
    """Counts, Wilson interval of the success rate and the censored median queries."""
    count = {outcome: sum(r.outcome is outcome for r in results) for outcome in GoalOutcome}
    decided = count[GoalOutcome.SUCCEEDED] + count[GoalOutcome.RESISTED]
    values = [float(r.queries) if r.outcome is GoalOutcome.SUCCEEDED else math.inf
              for r in results if r.outcome in (GoalOutcome.SUCCEEDED, GoalOutcome.RESISTED)]
    median: float | None = None
    interval: tuple[float | None, float | None] = (None, None)
    if values:
        value, (low, high) = median_interval(values)
        median = None if math.isinf(value) else value
        interval = (None if math.isinf(low) else low, None if math.isinf(high) else high)
    return StrategySummary(
        strategy=strategy, goals=len(results), succeeded=count[GoalOutcome.SUCCEEDED],
        resisted=count[GoalOutcome.RESISTED], undecided=count[GoalOutcome.UNDECIDED],
        errored=count[GoalOutcome.ERROR],
        success_interval=wilson_interval(count[GoalOutcome.SUCCEEDED], decided),
        median_queries=median, median_interval=interval,
        total_queries=sum(len(r.exchanges) for r in results),
    )


async def run_strategy(
    strategy: Strategy,
    goals: Sequence[Goal],
    *,
    target: Target,
    attacker: Attacker,
    judge: GoalJudge,
    budget: StrategyBudget,
    max_tokens: int = 256,
    seed: int = 0,
    progress: Callable[[GoalResult], None] | None = None,
) -> tuple[list[GoalResult], StrategySummary]:
    """Pursue every goal in turn (each with a fresh budget); a failing target is an error."""
    results: list[GoalResult] = []
    for goal in goals:
        session = TargetSession(target, attacker, judge, budget, max_tokens=max_tokens,
                                seed=seed)
        try:
            result = await strategy.run(goal, session)
        except TargetUnavailableError as error:
            partial = session.result(goal, strategy.name)
            result = dataclasses.replace(partial, outcome=GoalOutcome.ERROR, error=str(error))
        results.append(result)
        if progress is not None:
            progress(result)
    return results, summarize_goals(strategy.name, results, budget)
