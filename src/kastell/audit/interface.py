"""Interface of the tamper-evident audit log: events, records, checkpoints, errors.

The guard gateway writes one ``AuditEvent`` per request, response or alert through
``AuditLog.append`` (see ``kastell.audit.log``). The log turns it into an ``AuditRecord``: a
sequence number, a UTC time, the hash of the previous record and its own SHA-256 hash over the
canonical JSON of the record body. Every N records or T seconds the log signs a ``Checkpoint``
(Ed25519) over (log id, sequence number, head hash, time).

Errors::

    AuditError (KastellError)
     ├── AuditConfigError        (UsageError, exit 2)        bad option, key, policy or event
     ├── RetentionTooShortError  (UsageError, exit 2)        retention under the legal minimum
     ├── AuditUnavailableError   (CheckError, exit 3)        the log cannot be opened or written
     ├── RecordFormatError       (CheckError, exit 3)        a stored record cannot be parsed
     ├── ExportDeliveryError     (CheckError, exit 3)        the SIEM collector did not take it
     ├── ExportFormatError       (UsageError, exit 2)        a line read back is no export event
     └── AuditTamperedError      (VerificationError, exit 1) verification found tampering
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable, Mapping
from typing import NewType, Protocol, runtime_checkable

from kastell.errors import CheckError, KastellError, UsageError, VerificationError
from kastell.types import Digest, Severity

__all__ = [
    "GENESIS_HASH",
    "MIN_RETENTION",
    "AuditConfigError",
    "AuditError",
    "AuditEvent",
    "AuditRecord",
    "AuditTamperedError",
    "AuditUnavailableError",
    "Checkpoint",
    "Clock",
    "Decision",
    "DetailValue",
    "EventType",
    "ExportDeliveryError",
    "ExportFormatError",
    "KeyId",
    "RecordFormatError",
    "RetentionTooShortError",
    "Signer",
    "StoredCheckpoint",
    "StoredRow",
    "TextPolicy",
    "utc_now",
]

MIN_RETENTION = dt.timedelta(days=183)
"""Six months, rounded up: the AI Act minimum for automatically generated logs (Art. 19, 26(6))."""

GENESIS_HASH = "0" * 64
"""The ``prev`` hash of the first record of a log (nothing came before it)."""

KeyId = NewType("KeyId", str)
"""Identifier of a checkpoint key: lowercase hex SHA-256 of the raw Ed25519 public key."""

Clock = Callable[[], dt.datetime]
"""Returns the current time as an aware datetime; injected so tests can fix it."""

DetailValue = str | int | bool | None
"""Values allowed in ``AuditEvent.details`` (no floats: the canonical form must be exact)."""


def utc_now() -> dt.datetime:
    """The default clock: the current time in UTC."""
    return dt.datetime.now(dt.UTC)


class AuditError(KastellError):
    """Base of every error of the audit capability."""


class AuditConfigError(AuditError, UsageError):
    """An option, key, policy or event given to the audit log is wrong."""

    default_hint = "Check the audit options (see docs/audit.md) and the event fields."


class RetentionTooShortError(AuditError, UsageError):
    """A retention period shorter than the legal minimum was asked for without forcing."""

    default_hint = (
        "The AI Act (Art. 19, 26(6)) asks for logs kept at least six months; keep 183 days or "
        "more, or pass --force if a longer legal duty does not apply and you accept the risk."
    )


class AuditUnavailableError(AuditError, CheckError):
    """The log could not be opened, read or written."""

    default_hint = "Check the log location (file path or PostgreSQL URL) and that it is reachable."


class RecordFormatError(AuditError, CheckError):
    """A stored record or checkpoint is not in the expected format."""

    default_hint = (
        "The stored data is not a Kastell audit record; run `kastell audit verify` to see "
        "whether the log was tampered with."
    )


class ExportDeliveryError(AuditError, CheckError):
    """The SIEM collector could not be reached or did not accept the events."""

    default_hint = (
        "Check the collector address (udp://, tcp:// or tls://host:port) and that it listens."
    )


class ExportFormatError(AuditError, UsageError):
    """A line read back from a SIEM is not an OCSF finding or CEF line as ``export`` writes them."""

    default_hint = (
        "Give the lines as `kastell audit export` wrote them (OCSF JSON lines, or CEF with or "
        "without a syslog header), or Kastell's own JSON events."
    )


class AuditTamperedError(AuditError, VerificationError):
    """Verification found modified, deleted, inserted or reordered records or bad checkpoints."""

    default_hint = (
        "Treat the log as compromised from the first listed record on: preserve the database, "
        "compare it with a backup and the SIEM copy, and open an incident."
    )


class EventType(enum.StrEnum):
    """What happened at the gateway (or in an administrative action)."""

    REQUEST = "request"
    RESPONSE = "response"
    BLOCK = "block"
    REDACT = "redact"
    FLAG = "flag"
    CANARY_LEAK = "canary_leak"
    EXTRACTION_ALERT = "extraction_alert"
    RATE_LIMITED = "rate_limited"
    UPSTREAM_ERROR = "upstream_error"
    AUTH_FAILURE = "auth_failure"
    ADMIN = "admin"


class Decision(enum.StrEnum):
    """The screening decision taken on a request or response."""

    ALLOW = "allow"
    BLOCK = "block"
    REDACT = "redact"
    FLAG = "flag"


class TextPolicy(enum.StrEnum):
    """How much text the log keeps (GDPR data minimisation; ``redacted`` is the default)."""

    DIGEST_ONLY = "digest_only"
    """Keep only digests; drop both redacted and full text."""
    REDACTED = "redacted"
    """Keep digests and redacted text; drop full text."""
    FULL = "full"
    """Keep full text as well (only when a documented policy requires it)."""


@dataclasses.dataclass(frozen=True)
class AuditEvent:
    """One thing the gateway wants on the record.

    Only ``event_type`` is required. Text is kept according to the log's ``TextPolicy``:
    ``full_text`` is dropped unless the policy is ``full``; ``redacted_text`` is dropped under
    ``digest_only``. Digests are always kept.
    """

    event_type: EventType
    tenant: str | None = None
    request_id: str | None = None
    occurred_at: dt.datetime | None = None
    """When it happened, if not the moment of appending (aware datetime)."""
    decision: Decision | None = None
    rule_ids: tuple[str, ...] = ()
    severity: Severity = Severity.INFO
    prompt_digest: Digest | None = None
    response_digest: Digest | None = None
    redacted_text: str | None = None
    full_text: str | None = None
    served_model_digest: Digest | None = None
    upstream: str | None = None
    status: int | None = None
    """HTTP status sent to the client, when there was one."""
    latency_us: int | None = None
    """Latency added or observed, in microseconds (an integer: the canonical form is exact)."""
    message: str | None = None
    details: Mapping[str, DetailValue] = dataclasses.field(default_factory=dict)
    """Small extra facts (ASCII identifier keys; str, int, bool or null values)."""


@dataclasses.dataclass(frozen=True)
class AuditRecord:
    """An event as stored: its place in the chain and its hash."""

    log_id: str
    seq: int
    time: dt.datetime
    prev_hash: str
    hash: str
    event: AuditEvent


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A signed statement that record ``seq`` of log ``log_id`` had hash ``head_hash``."""

    log_id: str
    seq: int
    head_hash: str
    time: dt.datetime
    key_id: KeyId
    signature: bytes


@runtime_checkable
class Signer(Protocol):
    """Signs checkpoint payloads (Ed25519 in ``kastell.audit.keys``)."""

    @property
    def key_id(self) -> KeyId:
        """The id of the public key that verifies this signer's signatures."""
        ...

    def sign(self, payload: bytes) -> bytes:
        """Return the signature of ``payload``."""
        ...


@dataclasses.dataclass(frozen=True)
class StoredRow:
    """A record row exactly as the database holds it (nothing checked yet)."""

    seq: int
    time_us: int
    event_type: str
    tenant: str | None
    body: str
    hash: str


@dataclasses.dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint row exactly as the database holds it (nothing checked yet)."""

    seq: int
    log_id: str
    head_hash: str
    time: str
    key_id: str
    signature: str
    """Base64 of the Ed25519 signature."""
