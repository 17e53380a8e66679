"""Per-tenant screening policy: which action each rule triggers.

A policy is a small object with one ``check()`` that turns the detections on one text into one
``Action``; the strictest action wins. ``AllOf`` combines policies (strictest of all) and
``AnyOf`` picks the most lenient, so a tenant policy can be layered over an organisation-wide
baseline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from kastell.guard.interface import Action, Detection, GuardConfigError, RuleInfo

__all__ = ["AllOf", "AnyOf", "GuardPolicy", "RuleActionPolicy", "parse_action", "redact"]


def parse_action(text: str, *, field: str = "action") -> Action:
    """Parse ``block``/``redact``/``flag``/``allow`` (case-insensitive)."""
    try:
        return Action[text.strip().upper()]
    except KeyError:
        raise GuardConfigError(
            f"unknown action {text!r}",
            field=field,
            hint="Use one of: block, redact, flag, allow.",
        ) from None


class GuardPolicy(Protocol):
    """Decides the action for the detections found on one text."""

    def check(self, detections: Sequence[Detection]) -> Action:
        """Return the action to apply (ALLOW when nothing should happen)."""
        ...

    def action_for(self, rule_id: str) -> Action:
        """The action this policy takes for one rule."""
        ...


@dataclasses.dataclass(frozen=True)
class RuleActionPolicy:
    """Each rule's default action, overridden per rule id by the tenant's config."""

    rules: Mapping[str, RuleInfo]
    overrides: Mapping[str, Action] = dataclasses.field(default_factory=dict)

    def action_for(self, rule_id: str) -> Action:
        """The configured action for ``rule_id`` (BLOCK for an unknown rule: fail closed)."""
        if rule_id in self.overrides:
            return self.overrides[rule_id]
        info = self.rules.get(rule_id)
        return info.default_action if info is not None else Action.BLOCK

    def check(self, detections: Sequence[Detection]) -> Action:
        """The strictest action among the detections."""
        return max((self.action_for(d.rule_id) for d in detections), default=Action.ALLOW)


@dataclasses.dataclass(frozen=True)
class AllOf:
    """The strictest decision of several policies."""

    policies: tuple[GuardPolicy, ...]

    def action_for(self, rule_id: str) -> Action:
        """The strictest action any member takes for ``rule_id``."""
        return max((p.action_for(rule_id) for p in self.policies), default=Action.ALLOW)

    def check(self, detections: Sequence[Detection]) -> Action:
        """The strictest action any member decides."""
        return max((p.check(detections) for p in self.policies), default=Action.ALLOW)


@dataclasses.dataclass(frozen=True)
class AnyOf:
    """The most lenient decision of several policies (e.g. an allow-list over a baseline)."""

    policies: tuple[GuardPolicy, ...]

    def action_for(self, rule_id: str) -> Action:
        """The most lenient action any member takes for ``rule_id``."""
        return min((p.action_for(rule_id) for p in self.policies), default=Action.ALLOW)

    def check(self, detections: Sequence[Detection]) -> Action:
        """The most lenient action any member decides."""
        return min((p.check(detections) for p in self.policies), default=Action.ALLOW)


def redact(text: str, spans: Iterable[tuple[int, int]], label: str = "[REDACTED]") -> str:
    """Replace the (possibly overlapping) spans of ``text`` with ``label``."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces: list[str] = []
    cursor = 0
    for start, end in merged:
        pieces.append(text[cursor:start])
        pieces.append(label)
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)
