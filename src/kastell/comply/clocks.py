"""Legal reporting clocks of an incident: a pure function of (incident, now).

Counting rules (documented in docs/comply.md):

* hours: elapsed time from the start event (``24 h`` is 24 real hours, across DST too);
* days: the same wall-clock time N calendar days later in the entity's time zone (so a 15-day
  period that spans a DST change is 15 x 24 h plus or minus one hour);
* months: the same wall-clock time on the same day of the following month, clamped to the last
  day of a shorter month (31 Jan -> 28/29 Feb, 31 Mar -> 30 Apr).

A wall time that falls in a spring-forward gap is moved forward by the gap. These rules never give
a later deadline than Regulation (EEC, Euratom) No 1182/71, which excludes the starting hour or
day from a period (that would end later); Kastell errs on the early side.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import enum

from kastell.comply.incident import Incident, Regime, zone
from kastell.comply.interface import ComplyUsageError
from kastell.types import ControlId

__all__ = [
    "CLOCK_RULES",
    "Clock",
    "ClockRule",
    "ClockState",
    "Period",
    "add_period",
    "compute_clocks",
]


@dataclasses.dataclass(frozen=True)
class Period:
    """A legal period: a number of hours, days or months."""

    amount: int
    unit: str
    """``hours``, ``days`` or ``months``."""

    def __str__(self) -> str:
        unit = self.unit[:-1] if self.amount == 1 else self.unit
        return f"{self.amount} {unit}"


class ClockState(enum.StrEnum):
    """Where a clock stands at ``now``."""

    PENDING_START = "pending_start"
    """The start event has not happened yet (e.g. no fix available); no fixed due time."""
    DUE = "due"
    OVERDUE = "overdue"
    SUBMITTED = "submitted"
    SUBMITTED_LATE = "submitted_late"


@dataclasses.dataclass(frozen=True)
class ClockRule:
    """One reporting obligation: which regime starts it, from which event, for how long."""

    key: ControlId
    regime: Regime
    step: str
    basis: str
    period: Period
    start: str
    """``awareness``, ``fix`` or ``submitted:<key>`` (the submission of another notification)."""
    recipient: str
    content: tuple[str, ...]


def _rule(key: str, regime: Regime, step: str, basis: str, period: Period, start: str,
          recipient: str, *content: str) -> ClockRule:  # fmt: skip
    return ClockRule(ControlId(key), regime, step, basis, period, start, recipient, content)


_H24, _H72, _M1 = Period(24, "hours"), Period(72, "hours"), Period(1, "months")
_CSIRT = "CSIRT or competent authority (NIS2)"
_ENISA = "designated CSIRT and ENISA via the single reporting platform (CRA)"
_MSA = "market surveillance authority of the Member State(s) concerned (AI Act)"

CLOCK_RULES: tuple[ClockRule, ...] = (
    _rule(
        "NIS2-23.4.a",
        Regime.NIS2_SIGNIFICANT,
        "early warning",
        "NIS2 Art. 23(4)(a)",
        _H24,
        "awareness",
        _CSIRT,
        "suspected_malicious_or_unlawful",
        "possible_cross_border_impact",
    ),
    _rule(
        "NIS2-23.4.b",
        Regime.NIS2_SIGNIFICANT,
        "incident notification",
        "NIS2 Art. 23(4)(b)",
        _H72,
        "awareness",
        _CSIRT,
        "update_of_early_warning",
        "initial_assessment",
        "severity",
        "impact",
        "indicators_of_compromise",
    ),
    _rule(
        "NIS2-23.4.d",
        Regime.NIS2_SIGNIFICANT,
        "final report",
        "NIS2 Art. 23(4)(d)",
        _M1,
        "submitted:NIS2-23.4.b",
        _CSIRT,
        "detailed_description",
        "severity_and_impact",
        "threat_type_or_root_cause",
        "mitigations_applied_and_ongoing",
        "cross_border_impact",
    ),
    _rule(
        "CRA-14.2.a",
        Regime.CRA_EXPLOITED_VULNERABILITY,
        "early warning",
        "CRA Art. 14(2)(a)",
        _H24,
        "awareness",
        _ENISA,
        "member_states_where_available",
    ),
    _rule(
        "CRA-14.2.b",
        Regime.CRA_EXPLOITED_VULNERABILITY,
        "vulnerability notification",
        "CRA Art. 14(2)(b)",
        _H72,
        "awareness",
        _ENISA,
        "product_info",
        "nature_of_exploit_and_vulnerability",
        "measures_taken",
        "user_measures",
        "sensitivity",
    ),
    _rule(
        "CRA-14.2.c",
        Regime.CRA_EXPLOITED_VULNERABILITY,
        "final report",
        "CRA Art. 14(2)(c)",
        Period(14, "days"),
        "fix",
        _ENISA,
        "description_severity_impact",
        "malicious_actor_info",
        "corrective_measures",
    ),
    _rule(
        "CRA-14.4.a",
        Regime.CRA_SEVERE_INCIDENT,
        "early warning",
        "CRA Art. 14(4)(a)",
        _H24,
        "awareness",
        _ENISA,
        "suspected_malicious_or_unlawful",
        "member_states_where_available",
    ),
    _rule(
        "CRA-14.4.b",
        Regime.CRA_SEVERE_INCIDENT,
        "incident notification",
        "CRA Art. 14(4)(b)",
        _H72,
        "awareness",
        _ENISA,
        "nature_of_incident",
        "initial_assessment",
        "measures_taken",
        "user_measures",
        "sensitivity",
    ),
    _rule(
        "CRA-14.4.c",
        Regime.CRA_SEVERE_INCIDENT,
        "final report",
        "CRA Art. 14(4)(c)",
        _M1,
        "submitted:CRA-14.4.b",
        _ENISA,
        "detailed_description_severity_impact",
        "threat_type_or_root_cause",
        "mitigations_applied_and_ongoing",
    ),
    _rule(
        "AIA-73.2",
        Regime.AIA_SERIOUS,
        "serious incident report",
        "AI Act Art. 73(2)",
        Period(15, "days"),
        "awareness",
        _MSA,
        "system_identification",
        "incident_description",
        "causal_link",
        "corrective_action",
        "affected_persons",
    ),
    _rule(
        "AIA-73.3",
        Regime.AIA_WIDESPREAD,
        "serious incident report (widespread / critical infrastructure)",
        "AI Act Art. 73(3)",
        Period(2, "days"),
        "awareness",
        _MSA,
        "system_identification",
        "incident_description",
        "affected_infrastructure",
        "corrective_action",
    ),
    _rule(
        "AIA-73.4",
        Regime.AIA_DEATH,
        "serious incident report (death)",
        "AI Act Art. 73(4)",
        Period(10, "days"),
        "awareness",
        _MSA,
        "system_identification",
        "incident_description",
        "causal_link",
        "corrective_action",
    ),
)
"""Every reporting clock Kastell knows; keys are catalog control ids."""

_AIA = {Regime.AIA_SERIOUS, Regime.AIA_WIDESPREAD, Regime.AIA_DEATH}


def _wall(local: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """Attach ``tz`` to a naive wall time and normalise (gaps move forward)."""
    aware = local.replace(tzinfo=tz)
    return aware.astimezone(dt.UTC).astimezone(tz)


def add_period(start: dt.datetime, period: Period, timezone: str) -> dt.datetime:
    """``start`` plus ``period``, counted in ``timezone`` (see the module docstring)."""
    if start.tzinfo is None:
        raise ComplyUsageError("clock start has no time zone", hint="Give times with a UTC offset.")
    if period.unit == "hours":
        return (start.astimezone(dt.UTC) + dt.timedelta(hours=period.amount)).astimezone(
            start.tzinfo
        )
    tz = zone(timezone)
    local = start.astimezone(tz).replace(tzinfo=None)
    if period.unit == "days":
        return _wall(local + dt.timedelta(days=period.amount), tz)
    if period.unit == "months":
        month_index = local.month - 1 + period.amount
        year, month = local.year + month_index // 12, month_index % 12 + 1
        day = min(local.day, calendar.monthrange(year, month)[1])
        return _wall(local.replace(year=year, month=month, day=day), tz)
    raise ComplyUsageError(f"unknown period unit {period.unit!r}")


@dataclasses.dataclass(frozen=True)
class Clock:
    """One reporting deadline of one incident, as it stands at ``now``."""

    rule: ClockRule
    state: ClockState
    due: dt.datetime | None
    """In the entity's time zone; ``None`` while the start event has not happened."""
    start_event: str
    submitted_at: dt.datetime | None = None
    remaining: dt.timedelta | None = None
    """Time left (negative when overdue); ``None`` when submitted or not started."""


def _start(rule: ClockRule, incident: Incident) -> tuple[dt.datetime | None, str]:
    if rule.start == "awareness":
        return incident.aware_at, "awareness"
    if rule.start == "fix":
        return incident.fix_available_at, "a corrective or mitigating measure is available"
    key = rule.start.removeprefix("submitted:")
    return incident.submitted.get(key), f"submission of {key}"


def _clock(rule: ClockRule, incident: Incident, now: dt.datetime) -> Clock:
    start, event = _start(rule, incident)
    submitted = incident.submitted.get(rule.key)
    if start is None:
        return Clock(rule, ClockState.PENDING_START, None, event, submitted)
    due = add_period(start, rule.period, incident.timezone).astimezone(zone(incident.timezone))
    # compare in UTC: aware datetimes sharing one tzinfo compare by wall clock in Python
    due_utc = due.astimezone(dt.UTC)
    if submitted is not None:
        on_time = submitted.astimezone(dt.UTC) <= due_utc
        state = ClockState.SUBMITTED if on_time else ClockState.SUBMITTED_LATE
        return Clock(rule, state, due, event, submitted)
    remaining = due_utc - now.astimezone(dt.UTC)
    state = ClockState.OVERDUE if remaining < dt.timedelta(0) else ClockState.DUE
    return Clock(rule, state, due, event, None, remaining)


def compute_clocks(incident: Incident, now: dt.datetime) -> tuple[Clock, ...]:
    """Every clock that applies to ``incident``, ordered by due time (pending ones last).

    The AI Act 15-day clock (Art. 73(2)) applies to every AI Act serious incident; the 2-day and
    10-day clocks apply on top of it when their regime is set, and the shortest one binds.
    """
    if now.tzinfo is None:
        raise ComplyUsageError("'now' has no time zone", hint="Pass an aware datetime.")
    regimes = set(incident.regimes)
    if regimes & _AIA:
        regimes.add(Regime.AIA_SERIOUS)
    clocks = [_clock(rule, incident, now) for rule in CLOCK_RULES if rule.regime in regimes]
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return tuple(sorted(clocks, key=lambda c: (c.due or far, c.rule.key)))
