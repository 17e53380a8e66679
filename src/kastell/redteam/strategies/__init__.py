"""Attacker-model strategies: PAIR, TAP and Crescendo drive an attacker model against a target.

See :mod:`kastell.redteam.strategies.base` for the shared types and
:mod:`kastell.redteam.strategies.registry` for the registered strategies.
"""

__all__: list[str] = []
