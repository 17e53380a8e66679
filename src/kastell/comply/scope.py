"""Which controls apply to a deployment: a pure function of (catalog, scope, rules, day).

Each control *applies*, *applies later* (from a date, with the Digital Omnibus alternative for
AI Act high-risk duties) or is *not applicable* with the reason the rules file gives
(``comply/data/applicability.yaml``). Without a declared scope every control applies (unknown
scope is never a reason to drop a duty).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import importlib.resources
from collections.abc import Mapping, Sequence
from typing import Any

from kastell.comply._yaml import strict_yaml
from kastell.comply.catalog import Catalog
from kastell.comply.descriptor_scope import ScopeModel
from kastell.comply.interface import CatalogError, Control

__all__ = [
    "Applicability",
    "ApplicabilityRule",
    "ControlScope",
    "applicable_ids",
    "load_rules",
    "scope_controls",
]


class Applicability(enum.StrEnum):
    """Whether a control binds this deployment today."""

    APPLIES = "applies"
    APPLIES_LATER = "applies_later"
    NOT_APPLICABLE = "not_applicable"


@dataclasses.dataclass(frozen=True)
class ApplicabilityRule:
    """One rule of the applicability file."""

    patterns: tuple[str, ...]
    when: Mapping[str, Any]
    reason: str
    high_risk_dates: bool = False

    def matches(self, control_id: str) -> bool:
        """Whether the rule is about ``control_id``."""
        return any(
            control_id.startswith(p[:-1]) if p.endswith("*") else control_id == p
            for p in self.patterns
        )


@dataclasses.dataclass(frozen=True)
class ControlScope:
    """The applicability of one control, why, and from when."""

    control: Control
    applicability: Applicability
    reason: str
    applies_from: dt.date | None = None
    alternative_date: dt.date | None = None
    """The Digital Omnibus date of an AI Act high-risk duty (not in the Official Journal yet)."""


@dataclasses.dataclass(frozen=True)
class _Rules:
    rules: tuple[ApplicabilityRule, ...]
    high_risk_dates: Mapping[str, tuple[dt.date, dt.date, str]]


_CONDITIONS = frozenset(
    {"ai_act_role", "risk_class", "gpai_model_provider", "systemic_risk", "nis2_in_scope",
     "cra_role"}
)  # fmt: skip


def _parse_rules(raw: Any) -> _Rules:
    try:
        rules = []
        for entry in raw["rules"]:
            when = dict(entry.get("when") or {})
            unknown = set(when) - _CONDITIONS
            if unknown:
                raise CatalogError(f"applicability rule with unknown condition(s) {unknown}")
            rules.append(ApplicabilityRule(tuple(str(p) for p in entry["controls"]), when,
                                           str(entry["reason"]),
                                           bool(entry.get("high_risk_dates", False))))  # fmt: skip
        dates = {
            str(k): (dt.date.fromisoformat(str(v["date"])),
                     dt.date.fromisoformat(str(v["omnibus"])), str(v["ref"]))
            for k, v in raw["high_risk_dates"].items()
        }  # fmt: skip
    except (KeyError, TypeError, ValueError) as error:
        raise CatalogError(f"the applicability rules are malformed: {error!r}") from None
    return _Rules(tuple(rules), dates)


@functools.cache
def load_rules() -> _Rules:
    """The packaged applicability rules."""
    resource = importlib.resources.files("kastell.comply").joinpath("data/applicability.yaml")
    return _parse_rules(strict_yaml(resource.read_text(encoding="utf-8")))


def _holds(name: str, wanted: Any, scope: ScopeModel) -> bool:
    ai = scope.ai_act
    if name == "ai_act_role":
        return bool(set(ai.roles) & set(wanted))
    if name == "risk_class":
        return ai.risk_class in wanted
    if name == "gpai_model_provider":
        return ai.gpai_model_provider is bool(wanted)
    if name == "systemic_risk":
        return ai.systemic_risk is bool(wanted)
    if name == "nis2_in_scope":
        return (scope.nis2.entity_type != "not_in_scope") is bool(wanted)
    if name == "cra_role":
        return bool(set(scope.cra.roles) & set(wanted))
    return False  # an unknown condition never makes a control "not applicable" silently


def _dated(control: Control, today: dt.date, reason: str, start: dt.date | None,
           alternative: dt.date | None = None) -> ControlScope:  # fmt: skip
    if start is not None and start > today:
        return ControlScope(control, Applicability.APPLIES_LATER,
                            f"{reason}; applies from {start.isoformat()}", start,
                            alternative)  # fmt: skip
    return ControlScope(control, Applicability.APPLIES, reason, start, alternative)


def _one(control: Control, scope: ScopeModel | None, rules: _Rules,
         today: dt.date) -> ControlScope:  # fmt: skip
    if scope is None:
        return _dated(control, today, "scope not declared: treated as applicable",
                      control.applies_from)  # fmt: skip
    rule = next((r for r in rules.rules if r.matches(control.id)), None)
    if rule is None:
        return _dated(control, today, "no applicability rule: treated as applicable",
                      control.applies_from)  # fmt: skip
    if not all(_holds(k, v, scope) for k, v in rule.when.items()):
        return ControlScope(control, Applicability.NOT_APPLICABLE, rule.reason)
    start, alternative = control.applies_from, None
    basis = scope.ai_act.high_risk_basis
    if rule.high_risk_dates and basis is not None and basis in rules.high_risk_dates:
        date, omnibus, _ = rules.high_risk_dates[basis]
        start = max(start, date) if start else date
        alternative = omnibus
    return _dated(control, today, "in scope", start, alternative)


def scope_controls(catalog: Catalog, scope: ScopeModel | None, today: dt.date,
                   rules: _Rules | None = None) -> tuple[ControlScope, ...]:  # fmt: skip
    """The applicability of every catalog control, in catalog order."""
    chosen = rules or load_rules()
    return tuple(_one(c, scope, chosen, today) for c in catalog.controls)


def applicable_ids(scopes: Sequence[ControlScope]) -> frozenset[str]:
    """The ids of the controls that apply today."""
    return frozenset(s.control.id for s in scopes if s.applicability is Applicability.APPLIES)
