"""The explicit list of adaptive strategies; the contract test iterates over it."""

from __future__ import annotations

from kastell.redteam.strategies.base import Strategy
from kastell.redteam.strategies.crescendo import Crescendo
from kastell.redteam.strategies.pair import Pair
from kastell.redteam.strategies.tap import Tap

__all__ = ["STRATEGIES", "strategy_named"]

STRATEGIES: dict[str, type[Strategy]] = {
    Pair.name: Pair,
    Tap.name: Tap,
    Crescendo.name: Crescendo,
}


def strategy_named(name: str) -> Strategy:
    """A default-configured instance of the strategy called ``name``.

    Raises:
        RedteamUsageError: no such strategy.
    """
    from kastell.redteam.interface import RedteamUsageError

    try:
        return STRATEGIES[name]()
    except KeyError:
        raise RedteamUsageError(
            f"unknown strategy {name!r}", hint=f"Choose one of {', '.join(STRATEGIES)}."
        ) from None
