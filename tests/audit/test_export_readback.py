"""Reading back what the exporters write: OCSF and CEF events round-trip to plain events."""

from __future__ import annotations

import datetime as dt
import pathlib

import pytest

from kastell.audit.cef import event_from_cef, to_cef
from kastell.audit.interface import AuditEvent, EventType, ExportFormatError
from kastell.audit.log import AuditLog
from kastell.audit.ocsf import event_from_ocsf, to_ocsf
from kastell.errors import ExitCode

WHEN = dt.datetime(2026, 11, 20, 9, 30, 15, 250000, tzinfo=dt.UTC)


def test_both_formats_read_back_to_the_same_plain_event(tmp_path: pathlib.Path) -> None:
    event = AuditEvent(
        EventType.CANARY_LEAK,
        occurred_at=WHEN,
        request_id="r=1|2",
        message="canary\\seen = leaked",
    )
    with AuditLog.open(str(tmp_path / "a.sqlite")) as log:
        record = log.append(event)
    expected = {
        "event_type": "canary_leak",
        "occurred_at": WHEN.isoformat(),
        "message": "canary\\seen = leaked",
        "request_id": "r=1|2",
    }
    assert event_from_cef(to_cef(record)) == expected
    assert event_from_ocsf(to_ocsf(record)) == {**expected, "seq": record.seq}


def test_a_line_that_is_no_export_event_is_a_usage_error() -> None:
    with pytest.raises(ExportFormatError, match="not a CEF line") as caught:
        event_from_cef("CEF:0|only|four|fields")
    assert caught.value.exit_code == ExitCode.USAGE
    with pytest.raises(ExportFormatError, match="epoch milliseconds"):
        event_from_ocsf({"class_uid": 2004, "finding_info": {"types": ["block"]}, "time": 1.5})
