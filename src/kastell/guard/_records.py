"""Building audit events for the gateway's exchanges (private)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kastell.audit.interface import AuditEvent, Decision, DetailValue, EventType
from kastell.guard.interface import Action, Detection
from kastell.guard.policy import redact
from kastell.guard.scanners.pii import PiiScanner
from kastell.guard.scanners.secrets import SecretScanner
from kastell.types import Digest, Severity

_PRIVATE_RULES = {PiiScanner.RULE, SecretScanner.RULE}
KEY_FINGERPRINT_HEX = 8
"""Hex digits of SHA-256 kept of a refused API key: 32 bits, enough to correlate attempts."""
DIGEST_SOURCE_DETAIL = "served_model_digest_source"
"""The ``details`` key saying how a record's ``served_model_digest`` is known."""
_DECISIONS = {
    Action.ALLOW: Decision.ALLOW,
    Action.FLAG: Decision.FLAG,
    Action.REDACT: Decision.REDACT,
    Action.BLOCK: Decision.BLOCK,
}


def sha256_digest(data: str | bytes) -> Digest:
    """SHA-256 of text (UTF-8) or bytes as a ``Digest``."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return Digest("sha256", hashlib.sha256(raw).hexdigest())


def messages_digest(messages: Sequence[Mapping[str, Any]]) -> Digest:
    """Digest of the canonical JSON of the messages as the client sent them."""
    return sha256_digest(json.dumps(messages, sort_keys=True, separators=(",", ":")))


def private_redaction(text: str, detections: Iterable[Detection]) -> str:
    """``text`` with personal data and secrets removed (what the audit log keeps by default)."""
    spans = [s for d in detections if d.rule_id in _PRIVATE_RULES for s in d.spans]
    return redact(text, spans) if spans else text


_AUDIT_SCANNERS = (PiiScanner(), SecretScanner())


def audit_copy(text: str) -> str:
    """``text`` re-screened for personal data and secrets, with every match removed."""
    from kastell.guard.interface import ScanContext

    detections = [d for scanner in _AUDIT_SCANNERS for d in scanner.scan(text, ScanContext())]
    return private_redaction(text, detections)


def decision(action: Action) -> Decision:
    """The audit decision for a policy action."""
    return _DECISIONS[action]


def event(
    event_type: EventType,
    *,
    tenant: str | None,
    request_id: str | None,
    action: Action | None = None,
    rules: Iterable[str] = (),
    severity: Severity = Severity.INFO,
    details: Mapping[str, DetailValue] | None = None,
    **fields: Any,
) -> AuditEvent:
    """An ``AuditEvent`` with the gateway's common fields filled in."""
    return AuditEvent(
        event_type=event_type,
        tenant=tenant,
        request_id=request_id,
        decision=decision(action) if action is not None else None,
        rule_ids=tuple(dict.fromkeys(rules)),
        severity=severity,
        details=dict(details or {}),
        **fields,
    )


def key_fingerprint(key: str) -> str:
    """A short SHA-256 prefix of a refused API key (never the key itself).

    32 bits tell repeated attempts with one wrong key apart from many keys without storing
    the secret; they would only confirm a guess of a low-entropy secret sent as a key, and
    then with one false match in 2**32 candidates.
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:KEY_FINGERPRINT_HEX]


def with_digest_source(event: AuditEvent, sources: Mapping[str, str]) -> AuditEvent:
    """``event`` with ``details.served_model_digest_source`` when it carries a model digest.

    ``sources`` maps an upstream name to how its digest is known (``verified_local``,
    ``hashed_local``, ``signed_remote``, ``declared``).
    """
    source = sources.get(event.upstream or "")
    if event.served_model_digest is None or source is None:
        return event
    return dataclasses.replace(event, details={**event.details, DIGEST_SOURCE_DETAIL: source})
