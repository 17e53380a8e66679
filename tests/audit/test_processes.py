"""Several writer processes share one chain; a writer killed with SIGKILL loses no acknowledged
record and leaves a log that verifies."""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import signal
import subprocess
import sys

from kastell.audit.keys import PublicKeyRing
from kastell.audit.store import AuditStore
from kastell.audit.verify import VerificationReport, verify_log

WRITER = """
import sys
from kastell.audit import AuditEvent, AuditLog, EventType
location, count, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
log = AuditLog.open(location)
for index in range(count):
    record = log.append(AuditEvent(EventType.REQUEST, request_id=f"{tag}-{index}"))
    print(record.seq, flush=True)
log.store.close()
"""


def _writer(script: pathlib.Path, location: str, count: int, tag: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), location, str(count), tag],
        stdout=subprocess.PIPE,
        text=True,
    )


def _verify(location: str) -> tuple[VerificationReport, list[str]]:
    from kastell.audit.codec import parse_record

    store = AuditStore.open(location, create=False)
    try:
        head = store.head()
        rows = list(store.iter_rows())
        report = verify_log(
            rows,
            store.load_checkpoints(),
            PublicKeyRing.of([]),
            now=dt.datetime.now(dt.UTC),
            head_seq=head.seq if head else None,
        )
    finally:
        store.close()
    return report, [parse_record(row.body).event.request_id or "" for row in rows]


def test_writer_processes_share_one_chain(location: str, tmp_path: pathlib.Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    # no AuditLog.open before: the three race to create the schema and the head too
    writers = [_writer(script, location, 10, f"p{n}") for n in range(3)]
    outputs = [writer.communicate(timeout=120)[0] for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0, 0]
    report, request_ids = _verify(location)
    assert report.ok, report.issues
    assert (report.records, report.last_seq) == (30, 30)
    acknowledged = sorted(int(seq) for out in outputs for seq in out.split())
    assert acknowledged == list(range(1, 31))
    assert sorted(request_ids) == sorted(f"p{n}-{i}" for n in range(3) for i in range(10))


def test_sigkill_loses_no_acknowledged_record(location: str, tmp_path: pathlib.Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writer = _writer(script, location, 100_000, "k")
    assert writer.stdout is not None
    acknowledged = [int(writer.stdout.readline()) for _ in range(25)]
    os.kill(writer.pid, signal.SIGKILL)
    writer.communicate(timeout=30)
    report, request_ids = _verify(location)
    assert report.ok, report.issues
    assert set(acknowledged) <= set(range(1, report.records + 1))
    assert report.records >= 25
    assert len(request_ids) == report.records
