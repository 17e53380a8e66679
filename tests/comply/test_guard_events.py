from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.comply.guard_events import detect_candidates, parse_event_lines
from kastell.comply.incident import IncidentSource
from kastell.comply.interface import IncidentError

T0 = dt.datetime(2026, 10, 24, 10, 0, tzinfo=dt.UTC)


def _block(seconds: int) -> dict[str, object]:
    return {"event_type": "block", "occurred_at": (T0 + dt.timedelta(seconds=seconds)).isoformat()}


def test_burst_needs_threshold_within_window() -> None:
    spread = [_block(s * 120) for s in range(5)]  # 5 blocks over 8 minutes
    assert detect_candidates(spread, burst_threshold=5, burst_window=dt.timedelta(minutes=5)) == ()
    dense = [_block(s) for s in range(12)]
    found = detect_candidates(dense, burst_threshold=5)
    assert [c.source for c in found] == [IncidentSource.BLOCKED_ATTACK_BURST] * 2
    assert found[0].occurred_at == T0


def test_extraction_alert_and_other_events() -> None:
    events = [
        {"event_type": "request", "occurred_at": T0.isoformat()},
        {"event_type": "extraction_alert", "occurred_at": T0.isoformat(), "seq": 9},
    ]
    (found,) = detect_candidates(events)
    assert found.source is IncidentSource.EXTRACTION_ALERT
    assert found.event_refs == ("9",)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"event_type": "block", "occurred_at": "soon"}, "no readable occurred_at"),
        ({"event_type": "block", "occurred_at": "2026-10-24T10:00:00"}, "no time zone"),
    ],
)
def test_bad_event_times(event: dict[str, object], message: str) -> None:
    with pytest.raises(IncidentError, match=message):
        detect_candidates([event])


def test_bad_threshold() -> None:
    with pytest.raises(IncidentError, match="at least 1"):
        detect_candidates([], burst_threshold=0)


def test_lines_must_be_event_objects() -> None:
    with pytest.raises(IncidentError, match=":1: an event is an object"):
        parse_event_lines("[1, 2]\n")


@settings(max_examples=200, deadline=2000)
@given(st.text(max_size=300))
def test_fuzz_event_lines(text: str) -> None:
    with contextlib.suppress(IncidentError):
        detect_candidates(parse_event_lines(text))
