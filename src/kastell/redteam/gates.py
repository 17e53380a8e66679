"""CI gates: composable policies over a run's summary, parsed from ``--fail-on``.

``--fail-on 'prompt_injection>0.10,system_prompt_leakage>0'`` is an ``AllOf`` of one
``RateGate`` per clause; names are categories, probe ids, or ``overall``. A gate over a group
with no verdicts cannot pass: its outcome is unknown (the run is incomplete).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Protocol

from kastell.redteam.interface import Category, RedteamUsageError
from kastell.redteam.stats import RateStats, Summary

__all__ = ["AllOf", "AnyOf", "GatePolicy", "GateResult", "RateGate", "parse_gates"]


@dataclasses.dataclass(frozen=True)
class GateResult:
    """Outcome of a gate: ``passed`` is ``None`` when it could not be evaluated."""

    gate: str
    passed: bool | None
    message: str


class GatePolicy(Protocol):
    """A gate: one ``check()`` over a summary."""

    def check(self, summary: Summary) -> list[GateResult]:
        """Evaluate and return one result per elementary gate."""
        ...


@dataclasses.dataclass(frozen=True)
class RateGate:
    """Fail when the attack success rate of ``name`` is above (or at least) ``threshold``."""

    name: str
    threshold: float
    inclusive: bool = False

    def check(self, summary: Summary) -> list[GateResult]:
        """Compare the observed rate with the threshold."""
        label = f"{self.name}{'>=' if self.inclusive else '>'}{self.threshold:g}"
        stats: RateStats | None = summary.overall
        if self.name != "overall":
            stats = summary.category(self.name) or summary.probe(self.name)
        if stats is None or stats.rate is None:
            return [GateResult(label, None, f"{self.name}: nothing tested, gate undecided")]
        failed = stats.rate >= self.threshold if self.inclusive else stats.rate > self.threshold
        text = f"{self.name}: ASR {stats.rate:.1%} ({stats.succeeded}/{stats.trials})"
        return [GateResult(label, not failed, text + (" — gate failed" if failed else ""))]


@dataclasses.dataclass(frozen=True)
class AllOf:
    """Every member gate must pass."""

    gates: tuple[GatePolicy, ...]

    def check(self, summary: Summary) -> list[GateResult]:
        """All members' results."""
        return [result for gate in self.gates for result in gate.check(summary)]


@dataclasses.dataclass(frozen=True)
class AnyOf:
    """At least one member gate must pass; reported as one combined result."""

    gates: tuple[GatePolicy, ...]

    def check(self, summary: Summary) -> list[GateResult]:
        """One result: passed if any member passed, unknown if none passed and one is unknown."""
        results = [result for gate in self.gates for result in gate.check(summary)]
        if any(r.passed for r in results):
            passed: bool | None = True
        elif any(r.passed is None for r in results):
            passed = None
        else:
            passed = False
        return [GateResult(" | ".join(r.gate for r in results), passed,
                           "; ".join(r.message for r in results))]


_CLAUSE = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(>=|>)\s*([0-9]*\.?[0-9]+)(%?)\s*$")


def parse_gates(text: str, known_probes: Sequence[str] = ()) -> AllOf:
    """Parse ``NAME>RATE[,NAME>=RATE...]``; ``|`` inside a clause makes an ``AnyOf``.

    Rates are fractions (``0.1``) or percentages (``10%``).
    """
    names = {c.value for c in Category} | set(known_probes) | {"overall"}
    gates: list[GatePolicy] = []
    for clause in filter(None, (c.strip() for c in text.split(","))):
        members: list[GatePolicy] = []
        for part in clause.split("|"):
            match = _CLAUSE.match(part)
            if match is None:
                raise RedteamUsageError(
                    f"bad gate {part.strip()!r}",
                    hint="Write gates like 'prompt_injection>0.10,system_prompt_leakage>0'.",
                )
            name, op, number, percent = match.groups()
            value = float(number) / (100 if percent else 1)
            if name not in names:
                raise RedteamUsageError(
                    f"gate names unknown category or probe {name!r}",
                    hint=f"Categories: {', '.join(c.value for c in Category)}; or a probe id.",
                )
            if not 0 <= value <= 1:
                raise RedteamUsageError(f"gate threshold {value} is not a rate in [0, 1]")
            members.append(RateGate(name, value, inclusive=op == ">="))
        gates.append(members[0] if len(members) == 1 else AnyOf(tuple(members)))
    return AllOf(tuple(gates))
