"""TAP: a tree of attack prompts, branched by the attacker and pruned by the judge's scores.

Mehrotra et al., "Tree of Attacks: Jailbreaking Black-Box LLMs Automatically" (2023): each leaf
is a line of attack; every level the attacker writes ``branching`` refinements of each leaf, the
target answers each, and only the ``width`` best-scored children survive to the next level.
Prompts already tried are pruned before they cost a query (the off-topic pruning of the paper
needs an evaluator model; a duplicate is the cheap, certain case of it).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from kastell.redteam.strategies.base import Exchange, Goal, GoalResult, TargetSession
from kastell.redteam.strategies.pair import MAPPINGS
from kastell.types import ControlId

__all__ = ["Tap"]


@dataclasses.dataclass(frozen=True)
class _Leaf:
    path: tuple[Exchange, ...]
    name: str


class Tap:
    """Tree of Attacks with Pruning: ``branching`` children per leaf, ``width`` kept per level."""

    name: ClassVar[str] = "tap"
    version: ClassVar[int] = 1
    mappings: ClassVar[tuple[ControlId, ...]] = MAPPINGS
    description: ClassVar[str] = "A tree of attacker refinements, pruned to the best-scored."

    def __init__(self, branching: int = 3, width: int = 3, depth: int = 5) -> None:
        self.branching = branching
        self.width = width
        self.depth = depth

    async def run(self, goal: Goal, session: TargetSession) -> GoalResult:
        """Grow the tree level by level until a reply scores 10 or the budget is spent."""
        leaves = [_Leaf((), "root")]
        tried: set[str] = set()
        for _level in range(self.depth):
            children: list[_Leaf] = []
            for leaf in leaves:
                if session.queries_left <= 0:
                    return session.result(goal, self.name)
                prompts = await session.propose(goal, leaf.path, self.branching)
                for index, prompt in enumerate(prompts):
                    if prompt in tried or session.queries_left <= 0:
                        continue
                    tried.add(prompt)
                    name = f"{leaf.name}.{index + 1}"
                    exchange = await session.ask(goal, (), prompt, branch=name)
                    if exchange.score == 10:
                        return session.result(goal, self.name)
                    children.append(_Leaf((*leaf.path, exchange), name))
            if not children:
                break
            children.sort(key=lambda c: -(c.path[-1].score or 0))
            leaves = children[: self.width]
        return session.result(goal, self.name)
