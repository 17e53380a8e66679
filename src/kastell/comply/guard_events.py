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
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

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
        if "CEF:" in line and not line.lstrip().startswith("{"):
            events.append(_from_cef(line[line.index("CEF:") :], where))
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as error:
            raise IncidentError(f"{where}: not JSON: {error.msg}") from None
        if isinstance(event, dict) and "event_type" not in event and event.get("class_uid") == 2004:
            event = _from_ocsf(event, where)
        if not isinstance(event, dict) or "event_type" not in event:
            raise IncidentError(
                f"{where}: an event is an object with event_type, an OCSF Detection Finding "
                "or a CEF line"
            )
        events.append(event)
    return events


def _iso_from_millis(value: Any, where: str) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        raise IncidentError(f"{where}: the event time is not epoch milliseconds: {value!r}")
    return dt.datetime.fromtimestamp(value / 1000, dt.UTC).isoformat()


def _from_ocsf(finding: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The plain event of an OCSF Detection Finding exported by ``kastell audit export``."""
    info = finding.get("finding_info")
    types = info.get("types") if isinstance(info, dict) else None
    if not isinstance(types, list) or not types or not isinstance(types[0], str):
        raise IncidentError(f"{where}: OCSF finding without finding_info.types")
    metadata = finding.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    event: dict[str, Any] = {
        "event_type": types[0],
        "occurred_at": _iso_from_millis(finding.get("time"), where),
        "message": str(finding.get("message") or ""),
    }
    if isinstance(metadata.get("correlation_uid"), str):
        event["request_id"] = metadata["correlation_uid"]
    if isinstance(metadata.get("sequence"), int):
        event["seq"] = metadata["sequence"]
    return event


_CEF_KEY = re.compile(r"(?:^| )([A-Za-z0-9_]+)=")
_CEF_UNESCAPE = re.compile(r"\\(.)")


def _cef_fields(line: str) -> list[str]:
    """The eight CEF header fields and the extension (escaped pipes stay inside a field)."""
    fields: list[str] = []
    current: list[str] = []
    chars = iter(line)
    for char in chars:
        if char == "\\":
            current.append(char + next(chars, ""))
        elif char == "|" and len(fields) < 7:
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields


def _from_cef(line: str, where: str) -> dict[str, Any]:
    """The plain event of a CEF line written by ``kastell audit export --format cef``."""
    fields = _cef_fields(line)
    if len(fields) != 8 or not fields[4]:
        raise IncidentError(f"{where}: not a CEF line (CEF:Version|Vendor|Product|...)")
    extension = fields[7]
    keys = list(_CEF_KEY.finditer(extension))
    values: dict[str, str] = {}
    for index, match in enumerate(keys):
        end = keys[index + 1].start() if index + 1 < len(keys) else len(extension)
        raw = extension[match.end() : end]
        values[match.group(1)] = _CEF_UNESCAPE.sub(
            lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), raw
        )
    labelled = {values[k]: values.get(k[:-5], "") for k in values if k.endswith("Label")}
    when = values.get("start") or values.get("rt")
    if when is None or not when.isdigit():
        raise IncidentError(f"{where}: CEF line without an rt or start time")
    event: dict[str, Any] = {
        "event_type": _CEF_UNESCAPE.sub(lambda m: m.group(1), fields[4]),
        "occurred_at": _iso_from_millis(int(when), where),
        "message": values.get("msg", ""),
    }
    if labelled.get("requestId"):
        event["request_id"] = labelled["requestId"]
    return event


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
