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

from kastell.comply.clock_rules import (
    AIA_REPORTING_FROM,
    CLOCK_RULES,
    CRA_REPORTING_FROM,
    M1,
    ClockRule,
    Period,
)
from kastell.comply.incident import Incident, Regime, zone
from kastell.comply.interface import ComplyUsageError

__all__ = [
    "AIA_REPORTING_FROM",
    "CLOCK_RULES",
    "CRA_REPORTING_FROM",
    "Clock",
    "ClockRule",
    "ClockState",
    "Period",
    "add_period",
    "clock_exclusions",
    "compute_clocks",
]


class ClockState(enum.StrEnum):
    """Where a clock stands at ``now``."""

    PENDING_START = "pending_start"
    """The start event has not happened yet (e.g. no fix available); no fixed due time."""
    DUE = "due"
    OVERDUE = "overdue"
    SUBMITTED = "submitted"
    SUBMITTED_LATE = "submitted_late"
    IMMEDIATE = "immediate"
    """No fixed period: the law says "without undue delay" / "immediately"; act now."""


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
    if rule.start == "closed":
        return incident.closed_at, "the handling of the incident ends (closure)"
    key = rule.start.removeprefix("submitted:")
    return incident.submitted.get(key), f"submission of {key}"


def _clock(rule: ClockRule, incident: Incident, now: dt.datetime) -> Clock:
    start, event = _start(rule, incident)
    submitted = incident.submitted.get(rule.key)
    if start is None:
        return Clock(rule, ClockState.PENDING_START, None, event, submitted)
    if rule.period.unit == "undue_delay":
        state = ClockState.SUBMITTED if submitted is not None else ClockState.IMMEDIATE
        return Clock(rule, state, None, event, submitted)
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


def clock_exclusions(incident: Incident) -> tuple[str, ...]:
    """Why some clocks of the incident's regimes do not apply (date of application, scope)."""
    regimes = set(incident.regimes)
    if regimes & _AIA:
        regimes.add(Regime.AIA_SERIOUS)
    keys = [rule.key for rule in CLOCK_RULES if rule.regime in regimes]
    return tuple(dict.fromkeys(
        reason for prefix, reason in _excluded(incident) if any(k.startswith(prefix) for k in keys)
    ))  # fmt: skip


def _excluded(incident: Incident) -> list[tuple[str, str]]:
    """(rule key prefix or key, reason) of the clocks that do not apply to ``incident``."""
    local = incident.aware_at.astimezone(zone(incident.timezone)).date()
    entity = incident.entity
    out: list[tuple[str, str]] = []
    if local < CRA_REPORTING_FROM:
        out.append(("CRA-", f"CRA Art. 14 applies from {CRA_REPORTING_FROM.isoformat()} "
                            f"(Art. 71(2)); awareness on {local.isoformat()}"))  # fmt: skip
    elif entity and "manufacturer" not in entity.get("cra_roles", ()):
        out.append(("CRA-", "CRA Art. 14 binds manufacturers; the entity declares no "
                            "manufacturer role for this product"))  # fmt: skip
    if local < AIA_REPORTING_FROM:
        out.append(("AIA-", f"AI Act Art. 26 and 73 apply from {AIA_REPORTING_FROM.isoformat()} "
                            "(Art. 113)"))  # fmt: skip
    elif entity:
        roles = set(entity.get("ai_act_roles", ()))
        if "provider" not in roles:
            out += [(key, "AI Act Art. 73 reports are the provider's; as a deployer, inform the "
                          "provider immediately (Art. 26(5))")
                    for key in ("AIA-73.2", "AIA-73.3", "AIA-73.4")]  # fmt: skip
        if "deployer" not in roles:
            out.append(("AIA-26.5", "AI Act Art. 26(5) binds deployers"))
    if entity and entity.get("nis2_entity_type") == "not_in_scope":
        out.append(("NIS2-", "NIS2 Art. 23 binds essential and important entities; the entity "
                             "declares itself not in scope"))  # fmt: skip
    return out


def _final_or_progress(rule: ClockRule, incident: Incident, now: dt.datetime) -> Clock | None:
    """NIS2 Art. 23(4)(d)/(e): the final report, or a progress report while still ongoing.

    Still ongoing when the final report is due: a progress report is due then, and the final
    report within one month of the end of handling (closure).
    """
    if rule.key not in {"NIS2-23.4.d", "NIS2-23.4.e"}:
        return _clock(rule, incident, now)
    b_sent = incident.submitted.get("NIS2-23.4.b")
    if b_sent is None:
        return _clock(rule, incident, now) if rule.key == "NIS2-23.4.d" else None
    final_due = add_period(b_sent, M1, incident.timezone).astimezone(dt.UTC)
    closed = incident.closed_at
    ongoing = (closed.astimezone(dt.UTC) > final_due if closed is not None
               else now.astimezone(dt.UTC) > final_due or "NIS2-23.4.e" in incident.submitted)
    if rule.key == "NIS2-23.4.e":
        return _clock(rule, incident, now) if ongoing else None
    if not ongoing:
        return _clock(rule, incident, now)
    after_handling = dataclasses.replace(rule, start="closed")
    return _clock(after_handling, incident, now)


def compute_clocks(incident: Incident, now: dt.datetime) -> tuple[Clock, ...]:
    """Every clock that applies to ``incident``, ordered by due time (pending ones last).

    The AI Act 15-day clock (Art. 73(2)) applies to every AI Act serious incident; the 2-day and
    10-day clocks apply on top of it when their regime is set, and the shortest one binds. Clocks
    whose law does not apply yet at awareness (CRA before 11 Sep 2026) or not to the entity (its
    declared scope) are left out; ``clock_exclusions`` says why.
    """
    if now.tzinfo is None:
        raise ComplyUsageError("'now' has no time zone", hint="Pass an aware datetime.")
    regimes = set(incident.regimes)
    if regimes & _AIA:
        regimes.add(Regime.AIA_SERIOUS)
    excluded = [prefix for prefix, _ in _excluded(incident)]
    clocks = [
        _final_or_progress(rule, incident, now)
        for rule in CLOCK_RULES
        if rule.regime in regimes
        and not any(rule.key.startswith(p) for p in excluded)
        and (rule.key != "AIA-26.5" or incident.entity)
    ]
    present = [c for c in clocks if c is not None]
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return tuple(sorted(present, key=lambda c: (c.due or far, c.rule.key)))
