"""Canonical form of audit records and checkpoints, and the parser of stored records.

A record body is a JSON object ``{"v": 1, "log", "seq", "time", "prev", "event"}`` written in
canonical form: keys sorted, no insignificant whitespace, UTF-8, no floats, integers within
+-(2**53 - 1), ASCII keys: for these values the bytes are exactly RFC 8785 (JCS) output, so any
JCS implementation can recompute a record hash. The record hash is the lowercase hex SHA-256
of those bytes. A checkpoint signs the canonical JSON of
``{"type": "kastell-audit-checkpoint/v1", "log", "seq", "head", "time"}``.

``parse_record`` reads bytes that an attacker may have written: it raises only
``RecordFormatError`` for anything that is not a canonical version-1 record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from kastell.audit.interface import (
    AuditConfigError,
    AuditEvent,
    AuditRecord,
    Decision,
    DetailValue,
    EventType,
    RecordFormatError,
)
from kastell.errors import UsageError
from kastell.types import Digest, Severity

__all__ = [
    "FORMAT_VERSION",
    "canonical_json",
    "checkpoint_payload",
    "clean_text",
    "event_from_dict",
    "event_to_dict",
    "format_time",
    "parse_record",
    "parse_time",
    "record_body",
    "record_body_of",
    "sha256_hex",
]

FORMAT_VERSION = 1
_HASH = re.compile(r"^[0-9a-f]{64}$")
_DETAIL_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
_MAX_INT = 2**53 - 1
"""Integers beyond this are not exact in I-JSON / RFC 8785 (IEEE double); refused."""
_MAX_SEQ = _MAX_INT
_STR_FIELDS = ("tenant", "request_id", "redacted_text", "full_text", "upstream", "message")
_DIGEST_FIELDS = ("prompt_digest", "response_digest", "served_model_digest")
_INT_FIELDS = ("status", "latency_us")
_EVENT_KEYS = frozenset(
    (*_STR_FIELDS, *_DIGEST_FIELDS, *_INT_FIELDS)
    + ("type", "occurred_at", "decision", "rule_ids", "severity", "details")
)


def canonical_json(value: Any) -> bytes:
    """Canonical UTF-8 JSON bytes of ``value`` (sorted keys, compact; floats are refused)."""
    _refuse_floats(value)
    return _dumps(value)


def _dumps(value: Any) -> bytes:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise AuditConfigError(
            "text with a lone surrogate cannot be part of an audit record",
            hint="Pass text through kastell.audit.codec.clean_text first.",
        ) from None


def clean_text(text: str) -> str:
    """``text`` with lone surrogates (not encodable in UTF-8) replaced by U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise AuditConfigError(
            "floating-point numbers cannot be part of an audit record",
            hint="Use integers (for example microseconds instead of fractional milliseconds).",
        )
    if isinstance(value, dict):
        for item in value.values():
            _refuse_floats(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_floats(item)


class _FloatFoundError(Exception):
    """Internal: the JSON parser met a float (or NaN/Infinity) in a stored record."""


def _no_float(text: str) -> Any:
    raise _FloatFoundError(text)


_DECODER = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_float)


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def format_time(moment: dt.datetime) -> str:
    """RFC 3339 UTC text with microseconds, e.g. ``2026-01-31T12:00:00.000000Z``."""
    if moment.tzinfo is None:
        raise AuditConfigError(
            f"time {moment.isoformat()} has no time zone",
            hint="Give aware datetimes, for example datetime.now(datetime.UTC).",
        )
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: Any) -> dt.datetime:
    """Parse the text written by ``format_time``."""
    if not isinstance(text, str) or not _TIME.match(text):
        raise RecordFormatError(f"malformed record time {str(text)[:40]!r}")
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise RecordFormatError(f"impossible record time {text!r}") from None


def event_to_dict(event: AuditEvent) -> dict[str, Any]:
    """The JSON object of an event; absent (``None``/empty) fields are left out."""
    try:  # accept plain strings and ints for the enums too, e.g. event_type="request"
        kind, severity = EventType(event.event_type), Severity(event.severity)
        decision = Decision(event.decision) if event.decision is not None else None
    except ValueError as error:
        raise AuditConfigError(
            f"bad audit event: {error}",
            hint=f"event_type is one of: {', '.join(t.value for t in EventType)}.",
        ) from None
    out: dict[str, Any] = {"type": kind.value, "severity": severity.name.lower()}
    for name in _STR_FIELDS:
        value = getattr(event, name)
        if value is not None:
            out[name] = clean_text(value) if isinstance(value, str) else value
    for name in _INT_FIELDS:
        value = getattr(event, name)
        if value is not None:
            out[name] = value
    for name in _DIGEST_FIELDS:
        digest = getattr(event, name)
        if digest is not None and not isinstance(digest, Digest):
            raise AuditConfigError(
                f"event field {name} must be a kastell.types.Digest",
                hint="Build it with Digest('sha256', hexdigest) or Digest.parse('sha256:...').",
            )
        if digest is not None:
            out[name] = str(digest)
    if event.occurred_at is not None:
        out["occurred_at"] = format_time(event.occurred_at)
    if decision is not None:
        out["decision"] = decision.value
    if event.rule_ids:
        out["rule_ids"] = [clean_text(r) if isinstance(r, str) else r for r in event.rule_ids]
    if event.details:
        out["details"] = {
            key: clean_text(value) if isinstance(value, str) else value
            for key, value in event.details.items()
        }
    _check_event_dict(out, AuditConfigError)
    return out


def event_from_dict(data: Any) -> AuditEvent:
    """Rebuild an event from its JSON object; raise ``RecordFormatError`` if malformed."""
    if not isinstance(data, dict):
        raise RecordFormatError("record event is not a JSON object")
    _check_event_dict(data, RecordFormatError)
    try:
        digests: dict[str, Digest | None] = {
            name: Digest.parse(data[name]) if name in data else None for name in _DIGEST_FIELDS
        }
        _check_canonical_event(data, digests)
        return AuditEvent(
            event_type=EventType(data["type"]),
            severity=Severity[str(data["severity"]).upper()],
            occurred_at=parse_time(data["occurred_at"]) if "occurred_at" in data else None,
            decision=Decision(data["decision"]) if "decision" in data else None,
            rule_ids=tuple(data.get("rule_ids", ())),
            details=dict(data.get("details", {})),
            tenant=data.get("tenant"),
            request_id=data.get("request_id"),
            redacted_text=data.get("redacted_text"),
            full_text=data.get("full_text"),
            upstream=data.get("upstream"),
            message=data.get("message"),
            status=data.get("status"),
            latency_us=data.get("latency_us"),
            prompt_digest=digests["prompt_digest"],
            response_digest=digests["response_digest"],
            served_model_digest=digests["served_model_digest"],
        )
    except (KeyError, ValueError, UsageError) as error:
        raise RecordFormatError(f"malformed record event: {error}") from None


def _check_canonical_event(data: Mapping[str, Any], digests: Mapping[str, Digest | None]) -> None:
    """Refuse what ``event_to_dict`` would write differently.

    So a parsed event re-encodes to exactly the stored bytes.
    """
    if data["severity"] != str(data["severity"]).lower():
        raise RecordFormatError("record event severity is not in canonical form")
    if any(digest is not None and str(digest) != data[name] for name, digest in digests.items()):
        raise RecordFormatError("record event digest is not in canonical form")
    if ("rule_ids" in data and not data["rule_ids"]) or ("details" in data and not data["details"]):
        raise RecordFormatError("record event is not in canonical form (empty list or object)")


def _check_event_dict(data: Mapping[str, Any], error: type[Exception]) -> None:
    unknown = set(data) - _EVENT_KEYS
    if unknown:
        raise error(f"unknown event field(s) {sorted(unknown)[:5]}")
    for name in _STR_FIELDS:
        if name in data and not isinstance(data[name], str):
            raise error(f"event field {name} must be text")
    for name in _INT_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if not isinstance(value, int) or isinstance(value, bool):
            raise error(f"event field {name} must be an integer")
        if not -_MAX_INT <= value <= _MAX_INT:
            raise error(f"event field {name} is beyond 2**53 (not exact in JSON)")
    for name in (*_DIGEST_FIELDS, "type", "severity", "decision", "occurred_at"):
        if name in data and not isinstance(data[name], str):
            raise error(f"event field {name} must be text")
    rules = data.get("rule_ids", [])
    if not isinstance(rules, list) or not all(isinstance(rule, str) for rule in rules):
        raise error("event field rule_ids must be a list of texts")
    _check_details(data.get("details", {}), error)


def _check_details(details: Any, error: type[Exception]) -> None:
    if not isinstance(details, dict):
        raise error("event field details must be an object")
    for key, value in details.items():
        if not isinstance(key, str) or not _DETAIL_KEY.match(key):
            raise error(f"event detail key {str(key)[:40]!r} is not an ASCII identifier")
        if not isinstance(value, DetailValue):
            raise error(f"event detail {key} must be text, an integer, a boolean or null")
        if isinstance(value, int) and not -_MAX_INT <= value <= _MAX_INT:
            raise error(f"event detail {key} is beyond 2**53 (not exact in JSON)")


def record_body(
    *, log_id: str, seq: int, time: dt.datetime, prev_hash: str, event: AuditEvent
) -> bytes:
    """The canonical bytes of a record body (what the record hash covers)."""
    return record_body_of(
        log_id=log_id, seq=seq, time=time, prev_hash=prev_hash, event_data=event_to_dict(event)
    )


def record_body_of(
    *, log_id: str, seq: int, time: dt.datetime, prev_hash: str, event_data: dict[str, Any]
) -> bytes:
    """``record_body`` for an event already turned into its JSON object by ``event_to_dict``."""
    return canonical_json(
        {
            "v": FORMAT_VERSION,
            "log": log_id,
            "seq": seq,
            "time": format_time(time),
            "prev": prev_hash,
            "event": event_data,
        }
    )


def parse_record(body: bytes | str) -> AuditRecord:
    """Parse stored record bytes; the hash is computed here, over exactly these bytes.

    Raises:
        RecordFormatError: the bytes are not a canonical version-1 record body.
    """
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    try:
        data = _DECODER.decode(raw.decode("utf-8"))
    except _FloatFoundError:
        raise RecordFormatError("stored record contains a floating-point number") from None
    except (ValueError, RecursionError):
        raise RecordFormatError("stored record is not JSON") from None
    if not isinstance(data, dict) or set(data) != {"v", "log", "seq", "time", "prev", "event"}:
        raise RecordFormatError("stored record does not have the record fields")
    if data["v"] != FORMAT_VERSION or isinstance(data["v"], bool):
        raise RecordFormatError(f"unsupported record version {str(data['v'])[:20]}")
    seq, log_id, prev = data["seq"], data["log"], data["prev"]
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= _MAX_SEQ:
        raise RecordFormatError("record sequence number is not a positive integer")
    if not isinstance(log_id, str) or not log_id or len(log_id) > 64:
        raise RecordFormatError("record log id is malformed")
    if not isinstance(prev, str) or not _HASH.match(prev):
        raise RecordFormatError("record previous hash is malformed")
    time = parse_time(data["time"])
    event = event_from_dict(data["event"])
    try:
        canonical = _dumps(data)
    except AuditConfigError:
        raise RecordFormatError("stored record contains text that is not UTF-8") from None
    if canonical != raw:
        raise RecordFormatError("stored record is not in canonical form")
    return AuditRecord(
        log_id=log_id, seq=seq, time=time, prev_hash=prev, hash=sha256_hex(raw), event=event
    )


def checkpoint_payload(*, log_id: str, seq: int, head_hash: str, time: dt.datetime) -> bytes:
    """The canonical bytes a checkpoint signature covers."""
    return canonical_json(
        {
            "type": "kastell-audit-checkpoint/v1",
            "log": log_id,
            "seq": seq,
            "head": head_hash,
            "time": format_time(time),
        }
    )
