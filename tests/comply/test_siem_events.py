"""Incidents from what a SIEM kept: the audit log's own OCSF and CEF exports, read back."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kastell.audit.cef import to_cef
from kastell.audit.interface import AuditEvent, AuditRecord, Decision, EventType
from kastell.audit.log import AuditLog
from kastell.audit.ocsf import to_ocsf_line
from kastell.comply.guard_events import detect_candidates, parse_event_lines
from kastell.comply.incident import IncidentSource
from kastell.comply.interface import IncidentError

T0 = dt.datetime(2026, 11, 20, 9, 30, 15, 250000, tzinfo=dt.UTC)


def _records(tmp_path: pathlib.Path) -> list[AuditRecord]:
    events = [
        AuditEvent(EventType.REQUEST, occurred_at=T0, request_id="r-0", tenant="acme"),
        AuditEvent(
            EventType.CANARY_LEAK,
            occurred_at=T0 + dt.timedelta(seconds=5),
            request_id="r-1|x=y",  # characters CEF must escape
            message="planted canary seen in an answer\nsecond line",
            decision=Decision.BLOCK,
        ),
        AuditEvent(
            EventType.EXTRACTION_ALERT, occurred_at=T0 + dt.timedelta(minutes=1), tenant="acme"
        ),
    ]
    with AuditLog.open(str(tmp_path / "audit.sqlite")) as log:
        return [log.append(event) for event in events]


@pytest.mark.parametrize("exporter", ["ocsf", "cef", "cef-syslog"])
def test_exports_read_back_as_the_same_incidents(tmp_path: pathlib.Path, exporter: str) -> None:
    records = _records(tmp_path)
    if exporter == "ocsf":
        lines = [to_ocsf_line(r) for r in records]
    elif exporter == "cef":
        lines = [to_cef(r) for r in records]
    else:  # as a collector writes it to disk: an RFC 5424 header before the CEF payload
        lines = [f"<110>1 2026-11-20T09:31:00Z gw kastell - - - {to_cef(r)}" for r in records]
    events = parse_event_lines("\n".join(lines) + "\n\n", "siem.log")
    assert [e["event_type"] for e in events] == ["request", "canary_leak", "extraction_alert"]
    leak = events[1]
    # millisecond precision survives; the request id survives CEF's escaping
    assert dt.datetime.fromisoformat(leak["occurred_at"]) == T0.replace(microsecond=250000) + (
        dt.timedelta(seconds=5)
    )
    assert leak["request_id"] == "r-1|x=y"
    assert leak["message"].startswith("planted canary seen")
    found = detect_candidates(events)
    assert [c.source for c in found] == [
        IncidentSource.CANARY_LEAK,
        IncidentSource.EXTRACTION_ALERT,
    ]
    assert found[0].event_refs == ("r-1|x=y",)


def test_formats_can_be_mixed(tmp_path: pathlib.Path) -> None:
    records = _records(tmp_path)
    plain = json.dumps({"event_type": "canary_leak", "occurred_at": T0.isoformat()})
    text = "\n".join([to_ocsf_line(records[0]), to_cef(records[2]), plain])
    assert [e["event_type"] for e in parse_event_lines(text)] == [
        "request",
        "extraction_alert",
        "canary_leak",
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"class_uid": 2004, "time": 1}', "finding_info.types"),
        ('{"class_uid": 2004, "finding_info": {"types": ["block"]}, "time": "x"}', "milliseconds"),
        ('{"class_uid": 3001}', "OCSF Detection Finding"),
        ("CEF:0|Kastell|Kastell Guard|1|block", "not a CEF line"),
        ("CEF:0|Kastell|Kastell Guard|1|block|blocked|5|msg=no time", "rt or start"),
    ],
)
def test_malformed_siem_lines_are_named(line: str, message: str) -> None:
    with pytest.raises(IncidentError, match=message) as caught:
        parse_event_lines(line, "siem.log")
    assert "siem.log:1" in str(caught.value)


@given(st.text(max_size=300))
def test_any_line_parses_or_is_an_incident_error(text: str) -> None:
    with contextlib.suppress(IncidentError):
        parse_event_lines(text)
