"""Retention: pruning keeps the chain verifiable; short periods are refused unless forced."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from kastell.audit import AuditEvent, AuditLog, EventType
from kastell.audit.interface import AuditConfigError, AuditTamperedError, RetentionTooShortError
from kastell.audit.keys import Ed25519Signer, PublicKeyRing
from kastell.audit.retention import MIN_RETENTION, RetentionPolicy, prune
from kastell.audit.store import AuditStore
from kastell.audit.verify import IssueKind, verify_log
from kastell.errors import ExitCode

from ._support import FixedClock


def _fill(
    location: str, signer: Ed25519Signer, clock: FixedClock, days: int, step: int = 4
) -> None:
    """One record every ``step`` days for ``days`` days, a checkpoint every 10 records."""
    with AuditLog.open(
        location, signer=signer, checkpoint_every=10, checkpoint_interval_s=1e9, clock=clock
    ) as log:
        for _ in range(days // step):
            log.append(AuditEvent(EventType.REQUEST, tenant="acme"))
            clock.advance(days=step)


def _ring(signer: Ed25519Signer) -> PublicKeyRing:
    return PublicKeyRing.of([signer.public_key])


def test_default_policy_is_six_months() -> None:
    assert RetentionPolicy().keep == MIN_RETENTION
    assert dt.timedelta(days=182) <= MIN_RETENTION


def test_short_retention_is_refused_without_force() -> None:
    with pytest.raises(RetentionTooShortError) as caught:
        RetentionPolicy(keep=dt.timedelta(days=30))
    assert caught.value.exit_code == ExitCode.USAGE
    assert "six months" in caught.value.diagnostics()
    assert RetentionPolicy(keep=dt.timedelta(days=30), force=True).keep.days == 30


def test_non_positive_retention_is_refused() -> None:
    with pytest.raises(AuditConfigError, match="not positive"):
        RetentionPolicy(keep=dt.timedelta(0), force=True)


def test_prune_keeps_chain_verifiable(
    location: str, signer: Ed25519Signer, clock: FixedClock
) -> None:
    _fill(location, signer, clock, days=400)
    now = clock.now
    store = AuditStore.open(location, create=False)
    try:
        result = prune(store, RetentionPolicy(), _ring(signer), now=now)
        # record k was written on day 4(k-1), now is day 400, so the cut-off is day 217;
        # checkpoints sit at records 10, 20, ..: the newest older than the cut-off is record 50
        # (day 196); record 60 was written on day 236
        assert result.cutoff == now - dt.timedelta(days=183)
        assert result.anchor is not None
        assert (result.pruned_through, result.anchor.seq, result.records_deleted) == (50, 50, 50)
        remaining = list(store.iter_rows())
        report = verify_log(remaining, store.load_checkpoints(), _ring(signer), now=now)
    finally:
        store.close()
    assert report.ok, report.issues
    assert report.pruned_through == result.pruned_through
    assert report.first_seq == result.pruned_through + 1
    assert report.last_seq == 100
    # the log keeps growing on top of the anchor, and still verifies
    with AuditLog.open(location, signer=signer, clock=clock) as log:
        assert log.append(AuditEvent(EventType.REQUEST)).seq == 101
    store = AuditStore.open(location, create=False)
    again = verify_log(store.iter_rows(), store.load_checkpoints(), _ring(signer), now=now)
    store.close()
    assert again.ok, again.issues
    assert (again.first_seq, again.last_seq, again.unanchored) == (51, 101, 0)


def test_prune_is_idempotent(
    sqlite_location: str, signer: Ed25519Signer, clock: FixedClock
) -> None:
    _fill(sqlite_location, signer, clock, days=300)
    store = AuditStore.open(sqlite_location, create=False)
    first = prune(store, RetentionPolicy(), _ring(signer), now=clock.now)
    second = prune(store, RetentionPolicy(), _ring(signer), now=clock.now)
    store.close()
    assert first.records_deleted > 0
    assert (second.records_deleted, second.pruned_through) == (0, first.pruned_through)


def test_nothing_to_prune_in_a_young_log(
    sqlite_location: str, signer: Ed25519Signer, clock: FixedClock
) -> None:
    _fill(sqlite_location, signer, clock, days=100)
    store = AuditStore.open(sqlite_location, create=False)
    result = prune(store, RetentionPolicy(), _ring(signer), now=clock.now)
    rows = list(store.iter_rows())
    store.close()
    assert (result.records_deleted, result.anchor, len(rows)) == (0, None, 25)


def test_prune_refuses_a_tampered_log(
    sqlite_location: str, signer: Ed25519Signer, clock: FixedClock
) -> None:
    _fill(sqlite_location, signer, clock, days=300)
    store = AuditStore.open(sqlite_location, create=False)
    with store.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM kastell_audit_records WHERE seq = 5"))
    with pytest.raises(AuditTamperedError, match="refusing to prune"):
        prune(store, RetentionPolicy(), _ring(signer), now=clock.now)
    assert len(list(store.iter_rows())) == 74  # nothing else removed
    store.close()


def test_forced_short_prune_is_flagged_by_default_verification(
    sqlite_location: str, signer: Ed25519Signer, clock: FixedClock
) -> None:
    _fill(sqlite_location, signer, clock, days=60, step=2)
    store = AuditStore.open(sqlite_location, create=False)
    policy = RetentionPolicy(keep=dt.timedelta(days=30), force=True)
    result = prune(store, policy, _ring(signer), now=clock.now)
    assert result.records_deleted > 0
    rows, checkpoints = list(store.iter_rows()), store.load_checkpoints()
    store.close()
    strict = verify_log(rows, checkpoints, _ring(signer), now=clock.now)
    assert {issue.kind for issue in strict.issues} == {IssueKind.PREMATURE_PRUNE}
    lenient = verify_log(
        rows, checkpoints, _ring(signer), now=clock.now, min_retention=dt.timedelta(days=30)
    )
    assert lenient.ok
