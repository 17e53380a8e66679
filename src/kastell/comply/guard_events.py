"""Incident candidates from guard / audit events: canary leaks, extraction alerts, attack bursts.

Events are plain mappings as the audit log exports them (JSON lines): at least ``event_type`` and
``occurred_at``. ``parse_event_lines`` also reads what a SIEM received from ``kastell audit
export``: OCSF Detection Findings (JSON lines with ``class_uid`` 2004) and CEF lines (with or
without a syslog header in front of ``CEF:``), and turns each into that plain mapping. The
detection is pure; reading the file is the CLI's job. Which legal regimes an
incident falls under is a human decision, so candidates carry no regimes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kastell.audit.cef import event_from_cef
from kastell.audit.interface import ExportFormatError
from kastell.audit.ocsf import event_from_ocsf, is_ocsf_finding
from kastell.comply.incident import IncidentSource
from kastell.comply.interface import IncidentError

__all__ = ["IncidentCandidate", "detect_candidates", "parse_event_lines"]


@dataclasses.dataclass(frozen=True)
class IncidentCandidate:
    """Something in the event stream that may be an incident."""

    source: IncidentSource
    occurred_at: dt.datetime
    title: str
    description: str
    event_refs: tuple[str, ...]


def parse_event_lines(text: str, source: str = "events") -> list[dict[str, Any]]:
    """Parse events, one per line: Kastell JSON, OCSF Detection Finding JSON or CEF.

    Blank lines are skipped; any other line that is none of the three is an error naming it.
    """
    events = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            if "CEF:" in line and not line.lstrip().startswith("{"):
                events.append(event_from_cef(line[line.index("CEF:") :]))
                continue
            event = json.loads(line)
            if is_ocsf_finding(event) and "event_type" not in event:
                event = event_from_ocsf(event)
        except json.JSONDecodeError as error:
            raise IncidentError(f"{where}: not JSON: {error.msg}") from None
        except ExportFormatError as error:
            raise IncidentError(f"{where}: {error.message}") from None
        if not isinstance(event, dict) or "event_type" not in event:
            raise IncidentError(
                f"{where}: an event is an object with event_type, an OCSF Detection Finding "
                "or a CEF line"
            )
        events.append(event)
    return events


def _when(event: Mapping[str, Any], index: int) -> dt.datetime:
    raw = event.get("occurred_at") or event.get("time") or event.get("recorded_at")
    try:
        moment = dt.datetime.fromisoformat(str(raw))
    except ValueError:
        raise IncidentError(f"event {index} has no readable occurred_at: {raw!r}") from None
    if moment.tzinfo is None:
        raise IncidentError(f"event {index}: occurred_at {raw!r} has no time zone")
    return moment


def _ref(event: Mapping[str, Any], index: int) -> str:
    return str(event.get("request_id") or event.get("seq") or f"event#{index}")


def detect_candidates(
    events: Sequence[Mapping[str, Any]],
    *,
    burst_threshold: int = 20,
    burst_window: dt.timedelta = dt.timedelta(minutes=5),
) -> tuple[IncidentCandidate, ...]:
    """Incident candidates in ``events``, oldest first.

    Canary leaks and extraction alerts give one candidate each; blocked requests give one
    candidate per burst of ``burst_threshold`` blocks within ``burst_window``.
    """
    if burst_threshold < 1:
        raise IncidentError("burst threshold must be at least 1")
    found: list[IncidentCandidate] = []
    blocks: list[tuple[dt.datetime, str]] = []
    for index, event in enumerate(events):
        kind, when = str(event["event_type"]), _when(event, index)
        message = str(event.get("message") or "")
        if kind == "canary_leak":
            found.append(IncidentCandidate(IncidentSource.CANARY_LEAK, when, "Canary leaked",
                                           message or "a planted canary appeared in an answer",
                                           (_ref(event, index),)))  # fmt: skip
        elif kind == "extraction_alert":
            found.append(IncidentCandidate(IncidentSource.EXTRACTION_ALERT, when,
                                           "Model extraction alert", message or "extraction "
                                           "threshold crossed", (_ref(event, index),)))  # fmt: skip
        elif kind == "block":
            blocks.append((when, _ref(event, index)))
    found.extend(_bursts(sorted(blocks), burst_threshold, burst_window))
    return tuple(sorted(found, key=lambda c: c.occurred_at))


def _bursts(
    blocks: Iterable[tuple[dt.datetime, str]], threshold: int, window: dt.timedelta
) -> list[IncidentCandidate]:
    found, current = [], list[tuple[dt.datetime, str]]()
    for item in blocks:
        current = [b for b in current if item[0] - b[0] <= window] + [item]
        if len(current) >= threshold:
            first = current[0][0]
            found.append(IncidentCandidate(
                IncidentSource.BLOCKED_ATTACK_BURST, first, "Burst of blocked attacks",
                f"{len(current)} blocked requests within {window}",
                tuple(r for _, r in current)))  # fmt: skip
            current = []
    return found
