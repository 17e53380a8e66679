"""Property: any change to the stored rows of a fully anchored log is reported as tampering."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.audit import AuditEvent, AuditLog, EventType
from kastell.audit.interface import StoredCheckpoint, StoredRow
from kastell.audit.keys import Ed25519Signer, PublicKeyRing
from kastell.audit.store import AuditStore
from kastell.audit.verify import verify_log

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
COUNT = 8


@functools.cache
def _anchored_log() -> tuple[tuple[StoredRow, ...], tuple[StoredCheckpoint, ...], PublicKeyRing]:
    signer = Ed25519Signer.generate()
    with tempfile.TemporaryDirectory() as scratch:
        location = f"{scratch}/audit.db"
        with AuditLog.open(location, signer=signer, checkpoint_every=4) as log:
            for index in range(COUNT):
                log.append(AuditEvent(EventType.REQUEST, tenant="acme", request_id=f"r{index}"))
        store = AuditStore.open(location, create=False)
        rows, checkpoints = tuple(store.iter_rows()), tuple(store.load_checkpoints())
        store.close()
    return rows, checkpoints, PublicKeyRing.of([signer.public_key])


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("delete"), st.integers(0, COUNT - 1)),
        st.tuples(st.just("swap"), st.integers(0, COUNT - 1), st.integers(0, COUNT - 1)),
        st.tuples(st.just("duplicate"), st.integers(0, COUNT - 1)),
        st.tuples(st.just("edit"), st.integers(0, COUNT - 1), st.integers(0, 400)),
        st.tuples(st.just("edit_and_rehash"), st.integers(0, COUNT - 1), st.integers(0, 400)),
    ),
    min_size=1,
    max_size=3,
)


def _edit(row: StoredRow, position: int, rehash: bool) -> StoredRow:
    body = row.body
    index = position % len(body)
    replacement = "X" if body[index] != "X" else "Y"
    body = body[:index] + replacement + body[index + 1 :]
    digest = (
        hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest() if rehash else row.hash
    )
    return dataclasses.replace(row, body=body, hash=digest)


def _apply(rows: list[StoredRow], op: tuple[object, ...]) -> None:
    kind, first = op[0], int(op[1]) % max(len(rows), 1)  # type: ignore[call-overload]
    if not rows:
        return
    if kind == "delete":
        del rows[first]
    elif kind == "swap":
        second = int(op[2]) % len(rows)  # type: ignore[call-overload]
        rows[first], rows[second] = rows[second], rows[first]
    elif kind == "duplicate":
        rows.insert(first, rows[first])
    else:
        rows[first] = _edit(rows[first], int(op[2]), kind == "edit_and_rehash")  # type: ignore[call-overload]


@settings(max_examples=200, deadline=2000)
@given(_OPS)
def test_any_change_to_an_anchored_log_is_reported(ops: list[tuple[object, ...]]) -> None:
    original, checkpoints, keys = _anchored_log()
    rows = list(original)
    for op in ops:
        _apply(rows, op)
    report = verify_log(rows, checkpoints, keys, now=NOW, head_seq=COUNT)
    if rows == list(original):
        assert report.ok, report.issues
    else:
        assert not report.ok, f"undetected: {ops}"


def test_the_untouched_log_is_fully_anchored() -> None:
    rows, checkpoints, keys = _anchored_log()
    report = verify_log(rows, checkpoints, keys, now=NOW, head_seq=COUNT)
    assert report.ok
    assert (report.records, report.anchored_through, report.unanchored) == (COUNT, COUNT, 0)
