"""An idle gateway still anchors its last audit records (time-based checkpoints in the sink)."""

from __future__ import annotations

import asyncio
import datetime as dt
import pathlib

from kastell.audit.evidence import verify_location
from kastell.audit.interface import AuditEvent, EventType
from kastell.audit.keys import PublicKeyRing, write_key_pair
from kastell.guard.audit_sink import open_audit_sink
from kastell.guard.config import AuditSettings


def _unanchored(log: pathlib.Path, public: pathlib.Path) -> int:
    from kastell.audit.keys import load_public_key

    report, _ = verify_location(
        log, PublicKeyRing.of([load_public_key(public)]), now=dt.datetime.now(dt.UTC)
    )
    assert report.ok
    return report.unanchored


async def test_idle_gateway_anchors_its_last_records(tmp_path: pathlib.Path) -> None:
    private, public = tmp_path / "audit.pem", tmp_path / "audit.pub"
    write_key_pair(private, public)
    log = tmp_path / "audit.sqlite"
    settings = AuditSettings(url=str(log), signing_key=str(private), checkpoint_interval_s=0.2)
    sink = open_audit_sink(settings)
    try:
        await sink.record(AuditEvent(EventType.REQUEST, tenant="t"))
        await sink.record(AuditEvent(EventType.REQUEST, tenant="t"))
        assert _unanchored(log, public) >= 1  # the second record came before the interval
        await asyncio.sleep(0.8)  # no more traffic: the sink's task signs the checkpoint
        assert _unanchored(log, public) == 0
    finally:
        await sink.aclose()
