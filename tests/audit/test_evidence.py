from __future__ import annotations

import datetime as dt
import hashlib
import json

import sqlalchemy as sa

from kastell.audit.evidence import audit_evidence, verify_location
from kastell.audit.keys import Ed25519Signer, PublicKeyRing
from kastell.types import EvidenceKind

from ._support import FixedClock, build_log

NOW = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)


def test_intact_log_is_passing_evidence_pinned_to_its_head(
    sqlite_location: str, signer: Ed25519Signer, clock: FixedClock
) -> None:
    records = build_log(sqlite_location, signer, clock, count=5)
    report, location = verify_location(
        sqlite_location, PublicKeyRing.of([signer.public_key]), now=NOW
    )
    evidence, payload = audit_evidence(report, location, now=NOW)
    assert evidence.kind is EvidenceKind.AUDIT_LOG
    assert evidence.summary["passed"] is True
    assert evidence.subject.digest.hex == records[-1].hash
    assert evidence.payload_digest.hex == hashlib.sha256(payload).hexdigest()
    assert json.loads(payload)["records"] == 5


def test_tampered_log_is_failing_evidence(
    sqlite_location: str, signer: Ed25519Signer, clock: FixedClock
) -> None:
    build_log(sqlite_location, signer, clock, count=5)
    engine = sa.create_engine(f"sqlite:///{sqlite_location}")
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM kastell_audit_records WHERE seq = 3"))
    engine.dispose()
    report, location = verify_location(
        sqlite_location, PublicKeyRing.of([signer.public_key]), now=NOW
    )
    evidence, _ = audit_evidence(report, location, now=NOW)
    assert evidence.summary["passed"] is False
    assert evidence.summary["issues"] == 1
