r"""CEF (ArcSight Common Event Format, version 0) rendering of audit records.

``CEF:0|Kastell|Kastell Guard|VERSION|EVENT TYPE|NAME|SEVERITY|EXTENSION``. Header fields
escape ``\`` and ``|``; extension values escape ``\``, ``=``, and line breaks as ``\n`` /
``\r``. Text of prompts is never put into CEF (digests only): SIEM copies stay minimal.
"""

from __future__ import annotations

import re
from typing import Any

from kastell import __version__
from kastell.audit.interface import AuditRecord, ExportFormatError
from kastell.audit.ocsf import iso_from_millis
from kastell.types import Severity

__all__ = ["cef_escape_extension", "cef_escape_header", "event_from_cef", "to_cef"]

_SEVERITY = {
    Severity.INFO: 1,
    Severity.LOW: 3,
    Severity.MEDIUM: 5,
    Severity.HIGH: 8,
    Severity.CRITICAL: 10,
}
_MSG_LIMIT = 1023
_CONTROLS = re.compile("[\x00-\x1f\x7f]")
"""Control characters (after line breaks were escaped): a syslog collector may cut at them."""


def cef_escape_header(text: str) -> str:
    """Escape a CEF header field (backslash and pipe; line breaks and controls become spaces)."""
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return _CONTROLS.sub(" ", text)


def cef_escape_extension(text: str) -> str:
    """Escape a CEF extension value (backslash, equals sign, line breaks; controls to spaces)."""
    text = text.replace("\\", "\\\\").replace("=", "\\=")
    text = text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")
    return _CONTROLS.sub(" ", text)


_REQUEST_ID_LABEL = "requestId"


def _extension(record: AuditRecord) -> list[tuple[str, str]]:
    event = record.event
    pairs = [
        ("rt", str(int(record.time.timestamp() * 1000))),
        ("externalId", f"{record.log_id}:{record.seq}"),
    ]
    if event.occurred_at is not None:
        pairs.append(("start", str(int(event.occurred_at.timestamp() * 1000))))
    if event.decision is not None:
        pairs.append(("act", event.decision.value))
    if event.message:
        pairs.append(("msg", event.message[:_MSG_LIMIT]))
    labelled = [
        ("cs1", "tenant", event.tenant),
        ("cs2", "ruleIds", ",".join(event.rule_ids) or None),
        ("cs3", "promptDigest", str(event.prompt_digest) if event.prompt_digest else None),
        (
            "cs4",
            "servedModelDigest",
            str(event.served_model_digest) if event.served_model_digest else None,
        ),
        ("cs5", "recordHash", f"sha256:{record.hash}"),
        ("cs6", _REQUEST_ID_LABEL, event.request_id),
        ("cn1", "httpStatus", str(event.status) if event.status is not None else None),
        ("cn2", "latencyMicros", str(event.latency_us) if event.latency_us is not None else None),
    ]
    for key, label, value in labelled:
        if value is not None:
            pairs += [(f"{key}Label", label), (key, value)]
    if event.upstream:
        pairs.append(("destinationServiceName", event.upstream))
    return pairs


def to_cef(record: AuditRecord) -> str:
    """The CEF line of one audit record (no syslog header)."""
    event = record.event
    header = [
        "Kastell",
        "Kastell Guard",
        __version__,
        event.event_type.value,
        event.message or event.event_type.value.replace("_", " "),
    ]
    head = "|".join(cef_escape_header(field) for field in header)
    extension = " ".join(
        f"{key}={cef_escape_extension(value)}" for key, value in _extension(record)
    )
    return f"CEF:0|{head}|{_SEVERITY[event.severity]}|{extension}"


_KEY = re.compile(r"(?:^| )([A-Za-z0-9_]+)=")
_ESCAPED = re.compile(r"\\(.)")


def _fields(line: str) -> list[str]:
    """The eight header fields and the extension (escaped pipes stay inside a field)."""
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


def event_from_cef(line: str) -> dict[str, Any]:
    """The plain event (``event_type``, ``occurred_at``, ``message``, ids) of a ``to_cef`` line.

    ``line`` starts at ``CEF:`` (strip a syslog header first).

    Raises:
        ExportFormatError: not a CEF line, or one without a time.
    """
    fields = _fields(line)
    if len(fields) != 8 or not fields[4]:
        raise ExportFormatError("not a CEF line (CEF:Version|Vendor|Product|...)")
    extension = fields[7]
    keys = list(_KEY.finditer(extension))
    values: dict[str, str] = {}
    for index, match in enumerate(keys):
        end = keys[index + 1].start() if index + 1 < len(keys) else len(extension)
        values[match.group(1)] = _ESCAPED.sub(
            lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)),
            extension[match.end() : end],
        )
    labelled = {
        v: values.get(k.removesuffix("Label"), "") for k, v in values.items() if k.endswith("Label")
    }
    when = values.get("start") or values.get("rt")
    if when is None or not when.isdigit():
        raise ExportFormatError("CEF line without an rt or start time")
    event: dict[str, Any] = {
        "event_type": _ESCAPED.sub(lambda m: m.group(1), fields[4]),
        "occurred_at": iso_from_millis(int(when)),
        "message": values.get("msg", ""),
    }
    if labelled.get(_REQUEST_ID_LABEL):
        event["request_id"] = labelled[_REQUEST_ID_LABEL]
    return event
