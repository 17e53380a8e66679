"""One test per kind of tampering, on SQLite and on the real PostgreSQL (marked postgres)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.audit.codec import checkpoint_payload, format_time, record_body
from kastell.audit.interface import AuditEvent, EventType, StoredCheckpoint, StoredRow
from kastell.audit.keys import Ed25519Signer, PublicKeyRing
from kastell.audit.store import AuditStore, to_micros
from kastell.audit.verify import IssueKind, VerificationReport, verify_log

from ._support import FixedClock, build_log

NOW = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)


def _verify(location: str, *signers: Ed25519Signer) -> VerificationReport:
    store = AuditStore.open(location, create=False)
    try:
        head = store.head()
        return verify_log(
            store.iter_rows(),
            store.load_checkpoints(),
            PublicKeyRing.of(s.public_key for s in signers),
            now=NOW,
            head_seq=head.seq if head else None,
        )
    finally:
        store.close()


def _sql(location: str, statement: str, **params: Any) -> Any:
    store = AuditStore.open(location, create=False)
    try:
        with store.engine.begin() as connection:
            result = connection.execute(sa.text(statement), params)
            return result.fetchall() if result.returns_rows else None
    finally:
        store.close()


def _kinds(report: VerificationReport) -> set[IssueKind]:
    return {issue.kind for issue in report.issues}


@pytest.fixture
def log12(location: str, signer: Ed25519Signer, clock: FixedClock) -> list[Any]:
    """12 records with checkpoints at 4, 8 and 12."""
    return build_log(location, signer, clock)


def test_intact_log_verifies(location: str, signer: Ed25519Signer, log12: list[Any]) -> None:
    report = _verify(location, signer)
    assert report.ok, report.issues
    assert (report.records, report.first_seq, report.last_seq) == (12, 1, 12)
    assert (report.valid_checkpoints, report.anchored_through, report.unanchored) == (3, 12, 0)
    assert report.log_id == log12[0].log_id


def test_modified_record_is_detected(
    location: str, signer: Ed25519Signer, log12: list[Any]
) -> None:
    _sql(
        location,
        "UPDATE kastell_audit_records SET body = REPLACE(body, 'req-6', 'req-X') WHERE seq = 6",
    )
    report = _verify(location, signer)
    assert _kinds(report) == {IssueKind.MODIFIED}
    assert [issue.seq for issue in report.issues] == [6]
    assert "does not match its hash" in report.issues[0].message


def test_modified_and_rehashed_record_breaks_the_link(
    location: str, signer: Ed25519Signer, log12: list[Any]
) -> None:
    original = log12[5]
    forged = record_body(
        log_id=original.log_id,
        seq=6,
        time=original.time,
        prev_hash=original.prev_hash,
        event=AuditEvent(EventType.REQUEST, tenant="acme", request_id="req-X"),
    )
    _sql(
        location,
        "UPDATE kastell_audit_records SET body = :body, hash = :hash WHERE seq = 6",
        body=forged.decode(),
        hash=hashlib.sha256(forged).hexdigest(),
    )
    report = _verify(location, signer)
    assert _kinds(report) == {IssueKind.MODIFIED}
    assert [(i.seq, i.message) for i in report.issues] == [
        (6, "record 7 does not link to record 6: one of them was rewritten")
    ]


def test_deleted_record_is_detected(location: str, signer: Ed25519Signer, log12: list[Any]) -> None:
    _sql(location, "DELETE FROM kastell_audit_records WHERE seq = 6")
    report = _verify(location, signer)
    assert _kinds(report) == {IssueKind.DELETED}
    assert report.issues[0].message == "record 6 is missing"


def test_truncated_tail_is_detected(location: str, signer: Ed25519Signer, log12: list[Any]) -> None:
    _sql(location, "DELETE FROM kastell_audit_records WHERE seq > 10")
    _sql(location, "UPDATE kastell_audit_head SET seq = 10")  # the attacker fixes the head too
    report = _verify(location, signer)
    assert _kinds(report) == {IssueKind.DELETED}
    assert "records 11..12 were removed" in report.issues[0].message


def test_deleted_start_without_anchor_is_detected(
    location: str, signer: Ed25519Signer, log12: list[Any]
) -> None:
    _sql(location, "DELETE FROM kastell_audit_records WHERE seq <= 2")
    report = _verify(location, signer)
    assert _kinds(report) == {IssueKind.DELETED}
    assert "records 1..2 are missing" in report.issues[0].message


def test_inserted_record_is_detected(
    location: str, signer: Ed25519Signer, log12: list[Any]
) -> None:
    # make room at position 6 and put a well-formed, correctly linked forgery there
    _sql(location, "UPDATE kastell_audit_records SET seq = seq + 100 WHERE seq >= 6")
    _sql(location, "UPDATE kastell_audit_records SET seq = seq - 99 WHERE seq >= 106")
    before = log12[4]
    forged = record_body(
        log_id=before.log_id,
        seq=6,
        time=before.time,
        prev_hash=before.hash,
        event=AuditEvent(EventType.REQUEST, tenant="acme", request_id="forged"),
    )
    _sql(
        location,
        "INSERT INTO kastell_audit_records (seq, time_us, event_type, tenant, body, hash) "
        "VALUES (6, :t, 'request', 'acme', :body, :hash)",
        t=to_micros(before.time),
        body=forged.decode(),
        hash=hashlib.sha256(forged).hexdigest(),
    )
    report = _verify(location, signer)
    assert _kinds(report) == {IssueKind.INSERTED}
    assert report.issues[0].message == "two records claim sequence number 6"


def test_record_of_another_log_is_detected(
    location: str, signer: Ed25519Signer, log12: list[Any]
) -> None:
    other = record_body(
        log_id="f" * 32,
        seq=13,
        time=log12[-1].time,
        prev_hash=log12[-1].hash,
        event=AuditEvent(EventType.REQUEST),
    )
    _sql(
        location,
        "INSERT INTO kastell_audit_records (seq, time_us, event_type, tenant, body, hash) "
        "VALUES (13, :t, 'request', NULL, :body, :hash)",
        t=to_micros(log12[-1].time),
        body=other.decode(),
        hash="0" * 64,
    )
    report = _verify(location, signer)
    assert IssueKind.INSERTED in _kinds(report)
    assert any("another log" in i.message for i in report.issues)


def test_reordered_records_are_detected(
    location: str, signer: Ed25519Signer, log12: list[Any]
) -> None:
    _sql(location, "UPDATE kastell_audit_records SET seq = -1 WHERE seq = 3")
    _sql(location, "UPDATE kastell_audit_records SET seq = 3 WHERE seq = 4")
    _sql(location, "UPDATE kastell_audit_records SET seq = 4 WHERE seq = -1")
    report = _verify(location, signer)
    assert _kinds(report) == {IssueKind.REORDERED}
    assert report.issues[0].message == "record 3 is stored after record 4"


def test_checkpoint_by_unknown_key_is_detected(
    location: str, signer: Ed25519Signer, log12: list[Any]
) -> None:
    intruder = Ed25519Signer.generate()
    head = log12[-1]
    payload = checkpoint_payload(log_id=head.log_id, seq=12, head_hash=head.hash, time=NOW)
    _sql(location, "DELETE FROM kastell_audit_checkpoints WHERE seq = 12")
    _sql(
        location,
        "INSERT INTO kastell_audit_checkpoints (seq, log_id, head_hash, time, key_id, signature) "
        "VALUES (12, :log, :head, :time, :key, :sig)",
        log=head.log_id,
        head=head.hash,
        time=format_time(NOW),
        key=intruder.key_id,
        sig=base64.b64encode(intruder.sign(payload)).decode(),
    )
    report = _verify(location, signer)
    assert _kinds(report) == {IssueKind.UNKNOWN_KEY}
    assert report.issues[0].seq == 12
    assert intruder.key_id[:16] in report.issues[0].message
    # with the intruder's key trusted too, the same log verifies
    assert _verify(location, signer, intruder).ok


def test_verifying_with_the_wrong_key_reports_every_checkpoint(
    location: str, log12: list[Any]
) -> None:
    report = _verify(location, Ed25519Signer.generate())
    assert _kinds(report) == {IssueKind.UNKNOWN_KEY}
    assert sorted(issue.seq or 0 for issue in report.issues) == [4, 8, 12]


def test_forged_checkpoint_signature_is_detected(
    location: str, signer: Ed25519Signer, log12: list[Any]
) -> None:
    _sql(location, "UPDATE kastell_audit_checkpoints SET head_hash = :h WHERE seq = 8", h="a" * 64)
    report = _verify(location, signer)
    assert _kinds(report) == {IssueKind.BAD_SIGNATURE}
    assert report.issues[0].seq == 8


def test_rewritten_chain_is_caught_by_checkpoints(
    location: str, signer: Ed25519Signer, log12: list[Any]
) -> None:
    """An attacker rewrites records 6..12 with a consistent chain: only signatures catch it."""
    prev = log12[4].hash
    for original in log12[5:]:
        body = record_body(
            log_id=original.log_id,
            seq=original.seq,
            time=original.time,
            prev_hash=prev,
            event=AuditEvent(EventType.REQUEST, tenant="acme", request_id="rewritten"),
        )
        prev = hashlib.sha256(body).hexdigest()
        _sql(
            location,
            "UPDATE kastell_audit_records SET body = :b, hash = :h WHERE seq = :s",
            b=body.decode(),
            h=prev,
            s=original.seq,
        )
    report = _verify(location, signer)
    assert _kinds(report) == {IssueKind.CHECKPOINT_MISMATCH}
    assert sorted(issue.seq or 0 for issue in report.issues) == [8, 12]
    assert report.anchored_through == 4


def test_records_after_last_checkpoint_are_unanchored(
    sqlite_location: str, signer: Ed25519Signer, clock: FixedClock
) -> None:
    from kastell.audit import AuditLog

    log = AuditLog.open(sqlite_location, signer=signer, checkpoint_every=4, clock=clock)
    for _ in range(6):
        log.append(AuditEvent(EventType.REQUEST))
    log.store.close()  # no final checkpoint
    report = _verify(sqlite_location, signer)
    assert report.ok
    assert (report.anchored_through, report.unanchored) == (4, 2)


def test_derived_column_edit_is_detected(
    location: str, signer: Ed25519Signer, log12: list[Any]
) -> None:
    _sql(location, "UPDATE kastell_audit_records SET tenant = 'other' WHERE seq = 2")
    report = _verify(location, signer)
    assert _kinds(report) == {IssueKind.MODIFIED}
    assert "stored columns" in report.issues[0].message


def test_garbage_body_is_reported_not_raised(
    location: str, signer: Ed25519Signer, log12: list[Any]
) -> None:
    _sql(location, "UPDATE kastell_audit_records SET body = 'not json' WHERE seq = 3")
    report = _verify(location, signer)
    assert IssueKind.MODIFIED in _kinds(report)
    assert any("not JSON" in issue.message for issue in report.issues)


_TEXT = st.text(max_size=80)


@settings(max_examples=200, deadline=2000)
@given(
    rows=st.lists(
        st.builds(
            StoredRow,
            seq=st.integers(min_value=-5, max_value=50),
            time_us=st.integers(min_value=0, max_value=2**53),
            event_type=_TEXT,
            tenant=st.none() | _TEXT,
            body=_TEXT,
            hash=_TEXT,
        ),
        max_size=6,
    ),
    checkpoints=st.lists(
        st.builds(
            StoredCheckpoint,
            seq=st.integers(min_value=-5, max_value=50),
            log_id=_TEXT,
            head_hash=_TEXT,
            time=st.sampled_from(["2026-01-01T00:00:00.000000Z"]) | _TEXT,
            key_id=_TEXT,
            signature=st.sampled_from(["", "AAAA", "=="]) | _TEXT,
        ),
        max_size=4,
    ),
)
def test_fuzz_verify_reports_and_never_raises(
    rows: list[StoredRow], checkpoints: list[StoredCheckpoint]
) -> None:
    key = Ed25519Signer.generate()
    forged = [
        dataclasses.replace(c, key_id=key.key_id) if index % 2 else c
        for index, c in enumerate(checkpoints)
    ]
    report = verify_log(rows, forged, PublicKeyRing.of([key.public_key]), now=NOW)
    if rows or checkpoints:
        assert not report.ok  # nothing random is a valid log


def test_finding_mappings_exist_in_the_control_catalog(
    location: str, signer: Ed25519Signer, log12: list[Any]
) -> None:
    import pathlib

    import yaml

    import kastell
    from kastell.audit.verify import report_findings

    catalog_path = pathlib.Path(kastell.__file__).parent / "comply" / "data" / "controls.yaml"
    catalog = yaml.safe_load(catalog_path.read_text(encoding="utf-8"))
    known = {control["id"] for control in catalog["controls"]}
    _sql(location, "DELETE FROM kastell_audit_records WHERE seq = 2")
    findings = report_findings(_verify(location, signer), location)
    assert findings
    for finding in findings:
        assert finding.rule_id == "audit/deleted"
        assert set(finding.mappings) <= known


def test_live_log_verifies_while_appends_continue(location: str, signer: Ed25519Signer) -> None:
    import threading

    from kastell.audit import AuditLog
    from kastell.audit.evidence import verify_location

    log = AuditLog.open(location, signer=signer, checkpoint_every=5)
    stop, started = threading.Event(), threading.Event()

    def writer() -> None:
        while not stop.is_set():
            log.append(AuditEvent(EventType.REQUEST, tenant="acme"))
            started.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert started.wait(30)
        reports = [
            verify_location(location, PublicKeyRing.of([signer.public_key]), now=NOW)[0]
            for _ in range(5)
        ]
    finally:
        stop.set()
        thread.join(30)
        log.close()
    assert all(report.ok for report in reports), [r.issues for r in reports]
    assert reports[-1].records > 0
