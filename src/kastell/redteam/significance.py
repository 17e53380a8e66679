"""Two-sample statistics for comparing attack success rates of two runs.

- ``fisher_exact``: two-sided Fisher exact test of a 2x2 table (successes and failures of two
  runs), computed with exact integer arithmetic: the p-value sums the hypergeometric
  probabilities of every table with the same margins that is no more probable than the
  observed one (the usual "minimum likelihood" two-sided definition, as in R's
  ``fisher.test``).
- ``newcombe_interval``: Newcombe's hybrid score interval (his method 10, 1998) for the
  difference of two proportions, built from the two Wilson score intervals; it behaves at 0 and
  at n successes where the Wald interval collapses.
- ``holm``: Holm's step-down adjustment of several p-values (family-wise error control without
  assuming independence).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

from kastell.redteam.interface import RedteamUsageError
from kastell.redteam.stats import wilson_interval

__all__ = ["fisher_exact", "holm", "newcombe_interval"]

_RELATIVE_TIE = Fraction(1, 10**7)
"""Tables whose probability is within this relative margin of the observed one count as equally
probable (the tolerance R uses, so that p-values agree with it)."""


def fisher_exact(successes_a: int, trials_a: int, successes_b: int, trials_b: int) -> float:
    """Two-sided Fisher exact p-value for ``successes_a/trials_a`` against the other run.

    Raises:
        RedteamUsageError: a count is negative or successes exceed trials.
    """
    if not (0 <= successes_a <= trials_a and 0 <= successes_b <= trials_b):
        raise RedteamUsageError(f"impossible counts {successes_a}/{trials_a}, "
                                f"{successes_b}/{trials_b}")
    total = trials_a + trials_b
    hits = successes_a + successes_b
    if trials_a == 0 or trials_b == 0 or hits in (0, total):
        return 1.0
    denominator = math.comb(total, trials_a)

    def probability(x: int) -> Fraction:
        return Fraction(math.comb(hits, x) * math.comb(total - hits, trials_a - x), denominator)

    observed = probability(successes_a)
    bound = observed * (1 + _RELATIVE_TIE)
    low, high = max(0, hits - trials_b), min(hits, trials_a)
    p_value = sum((p for x in range(low, high + 1) if (p := probability(x)) <= bound),
                  Fraction(0))
    return min(1.0, float(p_value))


def newcombe_interval(successes_a: int, trials_a: int, successes_b: int,
                      trials_b: int) -> tuple[float, float]:
    """95% hybrid score interval for ``rate_b - rate_a`` (``(-1, 1)`` when a run has no trials)."""
    if trials_a <= 0 or trials_b <= 0:
        return -1.0, 1.0
    p_a, p_b = successes_a / trials_a, successes_b / trials_b
    low_a, high_a = wilson_interval(successes_a, trials_a)
    low_b, high_b = wilson_interval(successes_b, trials_b)
    delta = p_b - p_a
    lower = delta - math.sqrt((p_b - low_b) ** 2 + (high_a - p_a) ** 2)
    upper = delta + math.sqrt((high_b - p_b) ** 2 + (p_a - low_a) ** 2)
    return max(-1.0, lower), min(1.0, upper)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given (compare each with the family's alpha)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted
