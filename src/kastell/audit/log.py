"""The append side of the audit log: what the gateway calls once per request or alert.

``append`` returns only after the record is committed (durable), so the gateway can send its
response afterwards. It is safe from many threads (appends that arrive while one commits share
the next transaction: group commit) and from several processes (the database lock on the head
row). ``append_async`` runs it in a worker thread for ASGI code. A checkpoint is signed in the
same transaction as the record that makes it due (every ``checkpoint_every`` records or
``checkpoint_interval_s`` seconds); time-based checkpoints are also written by
``keep_anchored()`` (a lifespan task), ``checkpoint_if_due()`` and ``close()``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import dataclasses
import datetime as dt
import pathlib
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import sqlalchemy as sa

from kastell.audit.codec import (
    checkpoint_payload,
    event_to_dict,
    format_time,
    parse_record,
    record_body_of,
    sha256_hex,
)
from kastell.audit.interface import (
    AuditConfigError,
    AuditError,
    AuditEvent,
    AuditRecord,
    AuditUnavailableError,
    Checkpoint,
    Clock,
    KeyId,
    Signer,
    StoredCheckpoint,
    StoredRow,
    TextPolicy,
    utc_now,
)
from kastell.audit.store import AuditStore, HeadState, StaleWriterError, to_micros

__all__ = ["AuditLog"]


def _apply_policy(event: AuditEvent, policy: TextPolicy) -> AuditEvent:
    if policy is TextPolicy.FULL:
        return event
    if policy is TextPolicy.REDACTED:
        return dataclasses.replace(event, full_text=None)
    return dataclasses.replace(event, full_text=None, redacted_text=None)


@dataclasses.dataclass
class _Pending:
    """One append waiting for its transaction: the event, then its body or the error."""

    event_data: dict[str, Any]
    body: bytes | None = None
    error: AuditError | None = None


def _row(
    seq: int, now: dt.datetime, event_data: dict[str, Any], body: bytes, digest: str
) -> StoredRow:
    return StoredRow(
        seq=seq,
        time_us=to_micros(now),
        event_type=str(event_data["type"]),
        tenant=event_data.get("tenant"),
        body=body.decode("utf-8"),
        hash=digest,
    )


class AuditLog:
    """An open audit log that events are appended to.

    Use ``AuditLog.open(...)``; close it (or use it as a context manager) to write a final
    checkpoint and release the database.
    """

    def __init__(
        self,
        store: AuditStore,
        *,
        signer: Signer | None,
        checkpoint_every: int,
        checkpoint_interval_s: float,
        clock: Clock,
        text_policy: TextPolicy,
    ) -> None:
        self._store = store
        self._signer = signer
        self._every = checkpoint_every
        self._interval_us = int(checkpoint_interval_s * 1_000_000)
        self._clock = clock
        self._policy = text_policy
        self._lock = threading.Lock()  # held while a transaction is open
        self._waiting = threading.Condition()  # guards _queue and _leader
        self._queue: list[_Pending] = []
        self._leader = False
        self.log_id = store.ensure_head(to_micros(clock())).log_id

    @classmethod
    def open(
        cls,
        location: str | pathlib.Path,
        *,
        signer: Signer | None = None,
        checkpoint_every: int = 1000,
        checkpoint_interval_s: float = 60.0,
        clock: Clock = utc_now,
        text_policy: TextPolicy = TextPolicy.REDACTED,
    ) -> AuditLog:
        """Open or create the log at a file path (SQLite) or a PostgreSQL URL.

        Args:
            location: file path or URL (``postgresql://user@host/db``).
            signer: signs checkpoints; without one, records are chained but never anchored.
            checkpoint_every: sign a checkpoint at least every this many records.
            checkpoint_interval_s: ... and at least this often while records arrive.
            clock: the time source (inject a fixed clock in tests).
            text_policy: how much text to keep (digests always; redacted text by default).

        Raises:
            AuditConfigError: a bad option or location.
            AuditUnavailableError: the database cannot be opened.
        """
        if checkpoint_every < 1 or checkpoint_interval_s <= 0:
            raise AuditConfigError(
                f"checkpoint_every={checkpoint_every}, checkpoint_interval_s="
                f"{checkpoint_interval_s}: both must be positive",
                hint="For example checkpoint_every=1000, checkpoint_interval_s=60.",
            )
        store = AuditStore.open(location, create=True)
        return cls(
            store,
            signer=signer,
            checkpoint_every=checkpoint_every,
            checkpoint_interval_s=checkpoint_interval_s,
            clock=clock,
            text_policy=text_policy,
        )

    @property
    def store(self) -> AuditStore:
        """The database the log lives in."""
        return self._store

    def append(self, event: AuditEvent) -> AuditRecord:
        """Append one event; return its record once it is committed.

        Appends that arrive while another thread is committing are committed together in the
        next transaction (group commit: one durable write for many records).

        Raises:
            AuditConfigError: the event cannot be recorded (e.g. a naive datetime).
            AuditUnavailableError: the database refused the write (the event is NOT logged).
        """
        pending = _Pending(event_to_dict(_apply_policy(event, self._policy)))
        with self._waiting:
            self._queue.append(pending)
            while pending.body is None and pending.error is None:
                if self._leader:  # another thread is committing: ride along on the next batch
                    self._waiting.wait()
                    continue
                self._leader = True
                batch, self._queue = self._queue, []
                self._waiting.release()
                try:
                    with self._lock:
                        self._commit(batch)
                finally:
                    for stranded in batch:  # only if _commit died of something unexpected
                        if stranded.body is None and stranded.error is None:
                            stranded.error = AuditUnavailableError("the audit append failed")
                    self._waiting.acquire()
                    self._leader = False
                    self._waiting.notify_all()
        if pending.error is not None:
            raise copy.copy(pending.error)  # one instance per raising thread
        if pending.body is None:  # pragma: no cover - _commit sets one or the other
            raise AuditUnavailableError("audit append was not committed")
        return parse_record(pending.body)

    def _commit(self, batch: list[_Pending]) -> None:
        """Write a batch of pending appends in one transaction (caller holds ``_lock``).

        A writer connection the server dropped while idle fails at the first statement, before
        anything was written: that case is retried once on a fresh connection.
        """
        try:
            try:
                bodies = self._commit_once(batch)
            except StaleWriterError:
                bodies = self._commit_once(batch)
        except AuditError as error:
            for pending in batch:
                pending.error = error
            return
        for pending, body in zip(batch, bodies, strict=True):
            pending.body = body

    def _commit_once(self, batch: list[_Pending]) -> list[bytes]:
        bodies: list[bytes] = []
        rows: list[StoredRow] = []
        with self._store.writing() as connection:
            head = self._store.lock_head(connection)
            seq, prev = head.seq, head.hash
            anchor_seq, anchor_us = head.checkpoint_seq, head.checkpoint_time_us
            for pending in batch:
                now = self._clock()
                seq += 1
                body = record_body_of(
                    log_id=head.log_id,
                    seq=seq,
                    time=now,
                    prev_hash=prev,
                    event_data=pending.event_data,
                )
                prev = sha256_hex(body)
                bodies.append(body)
                rows.append(_row(seq, now, pending.event_data, body, prev))
                if self._due(anchor_seq, anchor_us, seq, to_micros(now)):
                    self._sign(connection, head, seq, prev, now)
                    anchor_seq, anchor_us = seq, to_micros(now)
            self._store.insert_rows(connection, rows)
            self._store.update_head(
                connection,
                seq=seq,
                hash=prev,
                checkpoint_seq=anchor_seq,
                checkpoint_time_us=anchor_us,
            )
        return bodies

    async def append_async(self, event: AuditEvent) -> AuditRecord:
        """``append`` in a worker thread, for ASGI code (same durability guarantee)."""
        return await asyncio.to_thread(self.append, event)

    def _due(self, anchor_seq: int, anchor_us: int, seq: int, now_us: int) -> bool:
        if self._signer is None:
            return False
        return seq - anchor_seq >= self._every or now_us - anchor_us >= self._interval_us

    def _sign(
        self, connection: sa.Connection, head: HeadState, seq: int, head_hash: str, now: dt.datetime
    ) -> Checkpoint:
        signer = self._signer
        if signer is None:
            raise AuditConfigError("this audit log has no checkpoint signer")
        payload = checkpoint_payload(log_id=head.log_id, seq=seq, head_hash=head_hash, time=now)
        checkpoint = Checkpoint(
            log_id=head.log_id,
            seq=seq,
            head_hash=head_hash,
            time=now,
            key_id=KeyId(signer.key_id),
            signature=signer.sign(payload),
        )
        self._store.insert_checkpoint(
            connection,
            StoredCheckpoint(
                seq=seq,
                log_id=head.log_id,
                head_hash=head_hash,
                time=format_time(now),
                key_id=checkpoint.key_id,
                signature=base64.b64encode(checkpoint.signature).decode("ascii"),
            ),
        )
        return checkpoint

    def checkpoint(self, *, force: bool = True) -> Checkpoint | None:
        """Sign a checkpoint over the current head now (None if nothing new to anchor).

        With ``force=False`` only when one is due by count or time.

        Raises:
            AuditConfigError: the log was opened without a signer.
        """
        signer = self._signer
        if signer is None:
            raise AuditConfigError(
                "this audit log has no checkpoint signer",
                hint="Open the log with signer=Ed25519Signer.from_pem(...) (or --key).",
            )
        with self._lock, self._store.writing() as connection:
            head = self._store.read_head(connection, lock=True)
            if head is None or head.seq == 0 or head.seq == head.checkpoint_seq:
                return None
            now = self._clock()
            due = self._due(head.checkpoint_seq, head.checkpoint_time_us, head.seq, to_micros(now))
            if not force and not due:
                return None
            checkpoint = self._sign(connection, head, head.seq, head.hash, now)
            self._store.update_head(
                connection, checkpoint_seq=head.seq, checkpoint_time_us=to_micros(now)
            )
        return checkpoint

    def checkpoint_if_due(self) -> Checkpoint | None:
        """Sign a checkpoint if the interval has passed since the last one (for a timer)."""
        if self._signer is None:
            return None
        return self.checkpoint(force=False)

    async def keep_anchored(
        self, *, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
    ) -> None:
        """Until cancelled, sign a checkpoint whenever one is due by time (an ASGI lifespan task).

        Without it an idle gateway leaves its last records unanchored until the next append.
        A database that is down is retried on the next tick.
        """
        if self._signer is None:
            return
        while True:
            await sleep(self._interval_us / 1_000_000)
            with contextlib.suppress(AuditUnavailableError):
                await asyncio.to_thread(self.checkpoint_if_due)

    def close(self) -> None:
        """Anchor the last records (if there is a signer) and release the database."""
        try:
            if self._signer is not None:
                self.checkpoint()
        finally:
            self._store.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
