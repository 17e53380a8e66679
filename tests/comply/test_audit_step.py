from __future__ import annotations

import pathlib
from typing import Any

import pytest
import sqlalchemy as sa

from kastell.comply._audit import read_audit_events, verify_audit_step
from kastell.comply.interface import StepOutcome
from kastell.errors import KastellError
from kastell.types import EvidenceKind

from ._builders import NOW

audit_log = pytest.importorskip("kastell.audit.log")
audit_keys = pytest.importorskip("kastell.audit.keys")
audit_interface = pytest.importorskip("kastell.audit.interface")


def _log(tmp_path: pathlib.Path, kind: Any = None) -> tuple[str, pathlib.Path]:
    private, public = tmp_path / "audit.pem", tmp_path / "audit.pub"
    audit_keys.write_key_pair(private, public)
    location = str(tmp_path / "audit.sqlite")
    signer = audit_keys.Ed25519Signer.from_pem(private)
    with audit_log.AuditLog.open(location, signer=signer, clock=lambda: NOW) as log:
        for n in range(3):
            log.append(
                audit_interface.AuditEvent(
                    kind or audit_interface.EventType.ADMIN, message=f"e {n}"
                )
            )
    return location, public


def test_intact_log_passes_as_audit_log_evidence(tmp_path: pathlib.Path) -> None:
    location, public = _log(tmp_path)
    result = verify_audit_step(location, [public], NOW)
    assert result.outcome is StepOutcome.PASSED
    evidence, events = result.evidence
    assert evidence.kind is EvidenceKind.AUDIT_LOG
    assert result.payloads[str(evidence.payload_digest)]
    assert result.data["records"] == 3
    # only administrative events: the guard is not shown to run, so unknown (never a pass)
    assert events.kind is EvidenceKind.GUARD_EVENTS
    assert events.summary["passed"] is None


def test_guard_decisions_in_the_log_are_guard_events_evidence(tmp_path: pathlib.Path) -> None:
    location, public = _log(tmp_path, audit_interface.EventType.BLOCK)
    result = verify_audit_step(location, [public], NOW)
    events = result.evidence[1]
    assert events.summary == {"passed": True, "guard_events": 3, "step": "audit log"}
    (candidate,) = [e for e in read_audit_events(location) if e["seq"] == 2]
    assert candidate["event_type"] == "block"
    assert candidate["message"] == "e 1"


def test_tampered_log_fails_with_findings(tmp_path: pathlib.Path) -> None:
    location, public = _log(tmp_path)
    engine = sa.create_engine(f"sqlite:///{location}")
    with engine.begin() as connection:
        tables = sa.inspect(connection).get_table_names()
        table = next(t for t in tables if "record" in t)
        connection.execute(sa.text(f"DELETE FROM {table} WHERE seq = 2"))
    engine.dispose()
    result = verify_audit_step(location, [public], NOW)
    assert result.outcome is StepOutcome.FAILED
    assert result.findings
    assert result.findings[0].rule_id.startswith("KS-AUDIT-")


def test_missing_log_cannot_be_checked(tmp_path: pathlib.Path) -> None:
    with pytest.raises(KastellError) as caught:
        verify_audit_step(str(tmp_path / "none.sqlite"), [], NOW)
    assert caught.value.exit_code in (2, 3)  # type: ignore[attr-defined]
