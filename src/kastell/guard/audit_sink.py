"""The bridge from the gateway to the audit log (``kastell.audit``).

``record`` returns only when the audit log has committed the record, so the gateway sends a
response only after its audit record is durable. From the first record on, a background task
(``AuditLog.keep_anchored``) signs time-based checkpoints, so the last records of a gateway that
goes idle are anchored within ``checkpoint_interval_s`` instead of waiting for the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
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
        self._anchoring: asyncio.Task[None] | None = None

    async def record(self, event: AuditEvent) -> str:
        """Append durably (in a worker thread) and return the record hash."""
        if self._anchoring is None:
            self._anchoring = asyncio.get_running_loop().create_task(self._log.keep_anchored())
        record = await self._log.append_async(event)
        return record.hash

    async def aclose(self) -> None:
        """Stop the anchoring task, write the final checkpoint and close the database."""
        if self._anchoring is not None:
            self._anchoring.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._anchoring
        await asyncio.to_thread(self._log.close)


def open_audit_sink(settings: AuditSettings, *, full_text: bool = False) -> AuditLogSink:
    """Open the configured log (SQLite path or PostgreSQL URL)."""
    signer = (
        Ed25519Signer.from_pem(pathlib.Path(settings.signing_key)) if settings.signing_key else None
    )
    policy = TextPolicy.FULL if full_text else TextPolicy.REDACTED
    log = AuditLog.open(
        settings.url,
        signer=signer,
        checkpoint_every=settings.checkpoint_every,
        checkpoint_interval_s=settings.checkpoint_interval_s,
        text_policy=policy,
    )
    return AuditLogSink(log)
