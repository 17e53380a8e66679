from __future__ import annotations

import calendar
import datetime as dt
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.comply.catalog import load_catalog
from kastell.comply.clocks import CLOCK_RULES, ClockState, Period, add_period, compute_clocks
from kastell.comply.incident import Incident, IncidentId, Regime
from kastell.errors import UsageError

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def _elapsed(start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    return end.astimezone(dt.UTC) - start.astimezone(dt.UTC)


def _incident(aware: dt.datetime, *regimes: Regime, **kw: object) -> Incident:
    return Incident(IncidentId("INC-1"), "t", aware, "Europe/Berlin", frozenset(regimes), **kw)  # type: ignore[arg-type]


def test_every_rule_key_is_a_catalog_control() -> None:
    catalog = load_catalog()
    for rule in CLOCK_RULES:
        assert catalog.has(rule.key), rule.key


def test_hours_are_elapsed_time_across_spring_forward() -> None:
    # 2026-03-29 02:00 CET -> 03:00 CEST in Berlin
    start = dt.datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN)
    due = add_period(start, Period(24, "hours"), "Europe/Berlin")
    assert _elapsed(start, due) == dt.timedelta(hours=24)
    assert due.astimezone(BERLIN).hour == 13  # wall clock moved on by 25 h-worth of dial


def test_days_keep_the_wall_clock_across_dst() -> None:
    start = dt.datetime(2026, 3, 20, 9, 30, tzinfo=BERLIN)
    due = add_period(start, Period(15, "days"), "Europe/Berlin").astimezone(BERLIN)
    assert (due.date(), due.hour, due.minute) == (dt.date(2026, 4, 4), 9, 30)
    assert _elapsed(start, due) == dt.timedelta(days=15) - dt.timedelta(hours=1)
    autumn = dt.datetime(2026, 10, 20, 9, 30, tzinfo=BERLIN)
    due = add_period(autumn, Period(10, "days"), "Europe/Berlin")
    assert _elapsed(autumn, due) == dt.timedelta(days=10, hours=1)


def test_day_landing_in_the_spring_gap_moves_forward() -> None:
    start = dt.datetime(2026, 3, 27, 2, 30, tzinfo=BERLIN)
    due = add_period(start, Period(2, "days"), "Europe/Berlin").astimezone(BERLIN)
    assert (due.day, due.hour, due.minute) == (29, 3, 30)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (dt.datetime(2026, 1, 31, 10, 0), dt.datetime(2026, 2, 28, 10, 0)),
        (dt.datetime(2028, 1, 31, 10, 0), dt.datetime(2028, 2, 29, 10, 0)),
        (dt.datetime(2026, 3, 31, 10, 0), dt.datetime(2026, 4, 30, 10, 0)),
        (dt.datetime(2026, 12, 15, 10, 0), dt.datetime(2027, 1, 15, 10, 0)),
        (dt.datetime(2026, 10, 10, 10, 0), dt.datetime(2026, 11, 10, 10, 0)),
    ],
)
def test_month_is_a_calendar_month_clamped(start: dt.datetime, expected: dt.datetime) -> None:
    due = add_period(start.replace(tzinfo=BERLIN), Period(1, "months"), "Europe/Berlin")
    assert due.astimezone(BERLIN).replace(tzinfo=None) == expected


def test_month_is_counted_in_the_entity_zone_not_utc() -> None:
    # 31 Jan 00:30 in Berlin is still 30 Jan in UTC; the month ends 28 Feb 00:30 Berlin time
    start = dt.datetime(2026, 1, 31, 0, 30, tzinfo=BERLIN)
    due = add_period(start, Period(1, "months"), "Europe/Berlin").astimezone(BERLIN)
    assert (due.month, due.day, due.hour) == (2, 28, 0)
    in_utc = add_period(start, Period(1, "months"), "UTC").astimezone(dt.UTC)
    assert (in_utc.month, in_utc.day) == (2, 28)
    assert due != in_utc


def test_nis2_clocks_and_final_report_after_notification() -> None:
    aware = dt.datetime(2026, 5, 4, 8, 0, tzinfo=BERLIN)
    incident = _incident(aware, Regime.NIS2_SIGNIFICANT)
    clocks = {c.rule.key: c for c in compute_clocks(incident, aware + dt.timedelta(hours=1))}
    assert set(clocks) == {"NIS2-23.4.a", "NIS2-23.4.b", "NIS2-23.4.d", "NIS2-23.1"}
    assert clocks["NIS2-23.1"].state is ClockState.IMMEDIATE  # recipients: without undue delay
    assert clocks["NIS2-23.4.a"].due == aware + dt.timedelta(hours=24)
    assert clocks["NIS2-23.4.b"].due == aware + dt.timedelta(hours=72)
    assert clocks["NIS2-23.4.d"].state is ClockState.PENDING_START
    assert clocks["NIS2-23.4.d"].due is None
    sent = dt.datetime(2026, 5, 6, 17, 0, tzinfo=BERLIN)
    incident = _incident(aware, Regime.NIS2_SIGNIFICANT, submitted={"NIS2-23.4.b": sent})
    clocks = {c.rule.key: c for c in compute_clocks(incident, sent)}
    assert clocks["NIS2-23.4.b"].state is ClockState.SUBMITTED
    assert clocks["NIS2-23.4.d"].due == dt.datetime(2026, 6, 6, 17, 0, tzinfo=BERLIN)


def test_overdue_and_late_submission() -> None:
    aware = dt.datetime(2026, 10, 4, 8, 0, tzinfo=dt.UTC)  # CRA Art. 14 applies from 11 Sep 2026
    now = aware + dt.timedelta(hours=30)
    late = aware + dt.timedelta(hours=25)
    incident = _incident(aware, Regime.CRA_SEVERE_INCIDENT, submitted={"CRA-14.4.a": late})
    clocks = {c.rule.key: c for c in compute_clocks(incident, now)}
    assert clocks["CRA-14.4.a"].state is ClockState.SUBMITTED_LATE
    assert clocks["CRA-14.4.b"].state is ClockState.DUE
    assert clocks["CRA-14.4.b"].remaining == dt.timedelta(hours=42)
    clocks = {c.rule.key: c for c in compute_clocks(incident, aware + dt.timedelta(hours=73))}
    assert clocks["CRA-14.4.b"].state is ClockState.OVERDUE
    assert clocks["CRA-14.4.b"].remaining == -dt.timedelta(hours=1)


def test_cra_exploited_final_report_runs_from_the_fix() -> None:
    aware = dt.datetime(2026, 10, 1, 12, 0, tzinfo=BERLIN)
    incident = _incident(aware, Regime.CRA_EXPLOITED_VULNERABILITY)
    final = {c.rule.key: c for c in compute_clocks(incident, aware)}["CRA-14.2.c"]
    assert final.state is ClockState.PENDING_START
    fixed = dt.datetime(2026, 10, 20, 12, 0, tzinfo=BERLIN)  # DST ends 25 Oct
    incident = _incident(aware, Regime.CRA_EXPLOITED_VULNERABILITY, fix_available_at=fixed)
    final = {c.rule.key: c for c in compute_clocks(incident, aware)}["CRA-14.2.c"]
    assert final.due == dt.datetime(2026, 11, 3, 12, 0, tzinfo=BERLIN)


def test_ai_act_shorter_clocks_come_with_the_15_day_one() -> None:
    aware = dt.datetime(2026, 9, 1, 10, 0, tzinfo=BERLIN)
    clocks = compute_clocks(_incident(aware, Regime.AIA_DEATH, Regime.AIA_WIDESPREAD), aware)
    assert [c.rule.key for c in clocks] == ["AIA-73.3", "AIA-73.4", "AIA-73.2"]
    assert [c.due.day for c in clocks if c.due] == [3, 11, 16]


def test_no_regime_no_clock() -> None:
    aware = dt.datetime(2026, 9, 1, 10, 0, tzinfo=BERLIN)
    assert compute_clocks(_incident(aware), aware) == ()


def test_clocks_are_a_pure_function_of_incident_and_now() -> None:
    aware = dt.datetime(2026, 9, 1, 10, 0, tzinfo=BERLIN)
    incident = _incident(aware, *Regime)
    now = aware + dt.timedelta(days=3)
    assert compute_clocks(incident, now) == compute_clocks(incident, now)


def test_naive_times_are_refused() -> None:
    aware = dt.datetime(2026, 9, 1, 10, 0, tzinfo=BERLIN)
    with pytest.raises(UsageError, match="time zone"):
        compute_clocks(_incident(aware, Regime.AIA_SERIOUS), aware.replace(tzinfo=None))
    with pytest.raises(UsageError, match="time zone"):
        add_period(aware.replace(tzinfo=None), Period(1, "days"), "UTC")


ZONES = [
    "UTC",
    "Europe/Berlin",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Helsinki",
    "America/New_York",
    "Australia/Lord_Howe",
]


@settings(max_examples=200, deadline=2000)
@given(
    st.datetimes(
        min_value=dt.datetime(2024, 1, 1),
        max_value=dt.datetime(2030, 12, 31),
        timezones=st.just(dt.UTC),
    ),
    st.sampled_from(ZONES),
)
def test_clock_properties(aware: dt.datetime, zone_name: str) -> None:
    zone = zoneinfo.ZoneInfo(zone_name)
    hours = add_period(aware, Period(24, "hours"), zone_name)
    assert _elapsed(aware, hours) == dt.timedelta(hours=24)
    days = add_period(aware, Period(15, "days"), zone_name).astimezone(zone)
    local = aware.astimezone(zone)
    assert days.date() == local.date() + dt.timedelta(days=15)
    # the wall clock is kept unless the target time fell into a DST gap (then moved forward)
    assert (days.hour, days.minute) >= (
        local.hour,
        local.minute,
    ) or days.utcoffset() != local.utcoffset()
    assert abs(_elapsed(aware, days) - dt.timedelta(days=15)) <= dt.timedelta(hours=1)
    month = add_period(aware, Period(1, "months"), zone_name).astimezone(zone)
    assert month.day == local.day or month.day == calendar.monthrange(month.year, month.month)[1]
    assert dt.timedelta(days=27) <= _elapsed(aware, month) <= dt.timedelta(days=31, hours=1)
    incident = _incident(aware, *Regime)
    clocks = compute_clocks(incident, aware)
    dues = [c.due for c in clocks if c.due is not None]
    assert dues == sorted(dues, key=lambda d: d.astimezone(dt.UTC))
