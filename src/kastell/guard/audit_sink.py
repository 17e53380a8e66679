"""The bridge from the gateway to the audit log (``kastell.audit``).

``record`` returns only when the audit log has committed the record, so the gateway sends a
response only after its audit record is durable.
"""

from __future__ import annotations

import asyncio
import pathlib

from kastell.audit.interface import AuditEvent, TextPolicy
from kastell.audit.keys import Ed25519Signer
from kastell.audit.log import AuditLog
from kastell.guard.config import AuditSettings

__all__ = ["AuditLogSink", "open_audit_sink"]


class AuditLogSink:
    """Appends gateway events to an open ``AuditLog`` from async code."""

    def __init__(self, log: AuditLog) -> None:
        self._log = log

    async def record(self, event: AuditEvent) -> str:
        """Append durably (in a worker thread) and return the record hash."""
        record = await self._log.append_async(event)
        return record.hash

    async def aclose(self) -> None:
        """Write the final checkpoint and close the database."""
        await asyncio.to_thread(self._log.close)


def open_audit_sink(settings: AuditSettings, *, full_text: bool = False) -> AuditLogSink:
    """Open the configured log (SQLite path or PostgreSQL URL)."""
    signer = (
        Ed25519Signer.from_pem(pathlib.Path(settings.signing_key)) if settings.signing_key else None
    )
    policy = TextPolicy.FULL if full_text else TextPolicy.REDACTED
    return AuditLogSink(AuditLog.open(settings.url, signer=signer, text_policy=policy))
