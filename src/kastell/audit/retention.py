"""Retention: prune records older than the retention period without breaking verification.

Records are removed only up to a signed checkpoint that is itself older than the cut-off; that
checkpoint stays as the anchor of the remaining chain (its first record's ``prev`` hash is the
checkpoint's signed head hash), so ``verify`` still proves the rest intact. The log is verified
before anything is removed: pruning never destroys the evidence of tampering.

The AI Act asks deployers of high-risk systems to keep automatically generated logs for at least
six months (Art. 19(1), 26(6)); shorter periods are refused unless forced.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from kastell.audit.codec import parse_time
from kastell.audit.evidence import verify_location
from kastell.audit.interface import (
    MIN_RETENTION,
    AuditConfigError,
    AuditTamperedError,
    AuditUnavailableError,
    RetentionTooShortError,
    StoredCheckpoint,
)
from kastell.audit.keys import PublicKeyRing
from kastell.audit.store import AuditStore

__all__ = ["MIN_RETENTION", "PruneResult", "RetentionPolicy", "prune"]


@dataclasses.dataclass(frozen=True)
class RetentionPolicy:
    """How long records are kept.

    Raises:
        RetentionTooShortError: ``keep`` is under six months and ``force`` is false.
        AuditConfigError: ``keep`` is not positive.
    """

    keep: dt.timedelta = MIN_RETENTION
    force: bool = False

    def __post_init__(self) -> None:
        if self.keep <= dt.timedelta(0):
            raise AuditConfigError(
                f"retention of {self.keep.days} days is not positive",
                hint="Give the number of days to keep records, 183 or more.",
            )
        if self.keep < MIN_RETENTION and not self.force:
            raise RetentionTooShortError(
                f"retention of {self.keep.days} days is shorter than the six-month minimum "
                f"({MIN_RETENTION.days} days)"
            )


@dataclasses.dataclass(frozen=True)
class PruneResult:
    """What pruning did."""

    cutoff: dt.datetime
    pruned_through: int
    """Records up to this sequence number are gone (0: nothing was ever pruned)."""
    records_deleted: int
    anchor: StoredCheckpoint | None
    """The checkpoint the remaining chain now starts from."""


def _anchor(
    checkpoints: list[StoredCheckpoint], cutoff: dt.datetime, after: int
) -> StoredCheckpoint | None:
    """The newest checkpoint (all verified by now) older than the cut-off, past ``after``."""
    best = None
    for checkpoint in checkpoints:
        if checkpoint.seq > after and parse_time(checkpoint.time) < cutoff:
            best = checkpoint
    return best


def prune(
    store: AuditStore, policy: RetentionPolicy, keys: PublicKeyRing, *, now: dt.datetime
) -> PruneResult:
    """Remove records older than the policy allows, keeping the chain verifiable.

    Raises:
        AuditTamperedError: the log does not verify; nothing was removed.
        AuditUnavailableError: the database could not be read or written.
    """
    if store.head() is None:
        raise AuditUnavailableError(f"{store.location} holds no audit log yet")
    report, _ = verify_location(store, keys, now=now, min_retention=min(policy.keep, MIN_RETENTION))
    if not report.ok:
        raise AuditTamperedError(
            f"the log does not verify ({len(report.issues)} problem(s), first: "
            f"{report.issues[0].message}); refusing to prune",
        )
    cutoff = now - policy.keep
    anchor = _anchor(store.load_checkpoints(), cutoff, report.pruned_through)
    if anchor is None:
        return PruneResult(cutoff, report.pruned_through, 0, None)
    with store.writing() as connection:
        deleted = store.delete_through(connection, anchor.seq)
        store.update_head(connection, pruned_through=anchor.seq)
    return PruneResult(cutoff, anchor.seq, deleted, anchor)
