"""Tamper-evident audit log: hash-chained records, signed checkpoints, verification, SIEM export.

The gateway uses ``AuditLog.open(...).append(AuditEvent(...))``; auditors use
``kastell audit verify`` and ``kastell audit export``.
"""

from __future__ import annotations

from kastell.audit.interface import (
    AuditError,
    AuditEvent,
    AuditRecord,
    Checkpoint,
    Decision,
    EventType,
    TextPolicy,
)
from kastell.audit.keys import Ed25519Signer
from kastell.audit.log import AuditLog

__all__ = [
    "AuditError",
    "AuditEvent",
    "AuditLog",
    "AuditRecord",
    "Checkpoint",
    "Decision",
    "Ed25519Signer",
    "EventType",
    "TextPolicy",
]
