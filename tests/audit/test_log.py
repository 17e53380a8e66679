from __future__ import annotations

import asyncio
import threading

import pytest

from kastell.audit import AuditEvent, AuditLog, EventType, TextPolicy
from kastell.audit.codec import parse_record
from kastell.audit.interface import GENESIS_HASH, AuditConfigError
from kastell.audit.keys import Ed25519Signer
from kastell.types import Digest

from ._support import FixedClock

PROMPT = Digest("sha256", "ab" * 32)


def _event(**fields: object) -> AuditEvent:
    return AuditEvent(EventType.REQUEST, tenant="acme", prompt_digest=PROMPT, **fields)  # type: ignore[arg-type]


def test_append_chains_records_and_is_durable(location: str, clock: FixedClock) -> None:
    with AuditLog.open(location, clock=clock) as log:
        first = log.append(_event(request_id="r1"))
        second = log.append(_event(request_id="r2"))
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    # a new process (a fresh open) sees both records, byte for byte
    with AuditLog.open(location, clock=clock) as again:
        rows = list(again.store.iter_rows())
        assert again.log_id == first.log_id
    assert [parse_record(row.body) for row in rows] == [first, second]


def test_checkpoint_every_n_records(
    location: str, clock: FixedClock, signer: Ed25519Signer
) -> None:
    log = AuditLog.open(location, signer=signer, checkpoint_every=3, clock=clock)
    for _ in range(7):
        log.append(_event())
    assert [c.seq for c in log.store.load_checkpoints()] == [3, 6]
    log.close()  # anchors the tail
    again = AuditLog.open(location, clock=clock)
    assert [c.seq for c in again.store.load_checkpoints()] == [3, 6, 7]
    again.close()


def test_checkpoint_every_t_seconds(
    sqlite_location: str, clock: FixedClock, signer: Ed25519Signer
) -> None:
    log = AuditLog.open(
        sqlite_location, signer=signer, checkpoint_every=1000, checkpoint_interval_s=30, clock=clock
    )
    log.append(_event())
    clock.advance(seconds=10)
    log.append(_event())
    assert log.checkpoint_if_due() is None
    clock.advance(seconds=25)
    log.append(_event())
    assert [c.seq for c in log.store.load_checkpoints()] == [3]
    log.append(_event())
    clock.advance(seconds=31)
    checkpoint = log.checkpoint_if_due()
    assert checkpoint is not None
    assert checkpoint.seq == 4
    assert checkpoint.key_id == signer.key_id


def test_concurrent_appends_from_threads_form_one_chain(location: str) -> None:
    log = AuditLog.open(location)

    def worker() -> None:
        for _ in range(25):
            log.append(_event())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = [parse_record(row.body) for row in log.store.iter_rows()]
    log.close()
    assert [r.seq for r in records] == list(range(1, 101))
    assert all(b.prev_hash == a.hash for a, b in zip(records, records[1:], strict=False))


async def test_append_async(sqlite_location: str) -> None:
    log = AuditLog.open(sqlite_location)
    records = await asyncio.gather(*(log.append_async(_event()) for _ in range(5)))
    log.close()
    assert sorted(r.seq for r in records) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("policy", "redacted", "full"),
    [
        (TextPolicy.DIGEST_ONLY, None, None),
        (TextPolicy.REDACTED, "my IBAN is [IBAN]", None),
        (TextPolicy.FULL, "my IBAN is [IBAN]", "my IBAN is DE89370400440532013000"),
    ],
)
def test_text_policy_keeps_only_what_it_allows(
    sqlite_location: str, policy: TextPolicy, redacted: str | None, full: str | None
) -> None:
    log = AuditLog.open(sqlite_location, text_policy=policy)
    record = log.append(
        _event(redacted_text="my IBAN is [IBAN]", full_text="my IBAN is DE89370400440532013000")
    )
    stored = next(iter(log.store.iter_rows())).body
    log.close()
    assert (record.event.redacted_text, record.event.full_text) == (redacted, full)
    assert record.event.prompt_digest == PROMPT
    assert ("DE89370400440532013000" in stored) is (full is not None)


def test_lone_surrogates_are_replaced_not_fatal(sqlite_location: str) -> None:
    log = AuditLog.open(sqlite_location)
    record = log.append(_event(redacted_text="bad \ud800 text"))
    log.close()
    assert record.event.redacted_text == "bad \ufffd text"


def test_naive_time_is_refused(sqlite_location: str) -> None:
    import datetime as dt

    log = AuditLog.open(sqlite_location)
    with pytest.raises(AuditConfigError, match="time zone"):
        log.append(_event(occurred_at=dt.datetime(2026, 1, 1)))
    log.close()


def test_bad_detail_key_is_refused(sqlite_location: str) -> None:
    log = AuditLog.open(sqlite_location)
    with pytest.raises(AuditConfigError, match="identifier"):
        log.append(_event(details={"bad key!": 1}))
    log.close()


def test_float_detail_is_refused(sqlite_location: str) -> None:
    log = AuditLog.open(sqlite_location)
    with pytest.raises(AuditConfigError, match="integer"):
        log.append(_event(details={"score": 0.5}))
    log.close()


def test_bad_checkpoint_options_are_refused(sqlite_location: str) -> None:
    with pytest.raises(AuditConfigError, match="positive") as caught:
        AuditLog.open(sqlite_location, checkpoint_every=0)
    assert "checkpoint_every=1000" in caught.value.diagnostics()


def test_checkpoint_without_signer_is_a_usage_error(sqlite_location: str) -> None:
    log = AuditLog.open(sqlite_location)
    with pytest.raises(AuditConfigError, match="no checkpoint signer"):
        log.checkpoint()
    log.close()


def test_appends_waiting_during_a_commit_share_the_next_transaction(
    sqlite_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt
    import time

    batches: list[int] = []
    log: AuditLog | None = None
    first_call = threading.Event()

    def clock() -> dt.datetime:
        # the first commit holds on until the four other writers are queued behind it
        if log is not None and not first_call.is_set():
            first_call.set()
            deadline = time.monotonic() + 10
            while len(log._queue) < 4 and time.monotonic() < deadline:
                time.sleep(0.01)
        return dt.datetime.now(dt.UTC)

    log = AuditLog.open(sqlite_location, clock=clock)
    commit = AuditLog._commit

    def counting(self: AuditLog, batch: list[object]) -> None:
        batches.append(len(batch))
        commit(self, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(AuditLog, "_commit", counting)
    first = threading.Thread(target=log.append, args=(_event(),))
    first.start()
    assert first_call.wait(10)
    others = [threading.Thread(target=log.append, args=(_event(),)) for _ in range(4)]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(10)
    rows = list(log.store.iter_rows())
    log.close()
    assert batches == [1, 4]
    assert [row.seq for row in rows] == [1, 2, 3, 4, 5]


def test_database_failure_is_reported_to_every_waiting_writer(sqlite_location: str) -> None:
    import sqlalchemy as sa

    from kastell.audit.interface import AuditUnavailableError

    log = AuditLog.open(sqlite_location)
    log.append(_event())
    engine = sa.create_engine(f"sqlite:///{sqlite_location}")
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE kastell_audit_records"))
    engine.dispose()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            log.append(_event())
        except AuditUnavailableError as error:
            errors.append(error)

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    log.store.close()
    assert not any(thread.is_alive() for thread in threads)
    assert len(errors) == 3
    assert all("cannot write" in str(error) for error in errors)
    assert "reachable" in errors[0].diagnostics()  # type: ignore[attr-defined]


def test_key_rotation_needs_both_keys_to_verify(sqlite_location: str, clock: FixedClock) -> None:
    import datetime as dt

    from kastell.audit.keys import PublicKeyRing
    from kastell.audit.verify import IssueKind, verify_log

    old, new = Ed25519Signer.generate(), Ed25519Signer.generate()
    for signer in (old, new):
        with AuditLog.open(sqlite_location, signer=signer, checkpoint_every=2, clock=clock) as log:
            for _ in range(4):
                log.append(_event())
    store = AuditLog.open(sqlite_location).store
    rows, checkpoints = list(store.iter_rows()), store.load_checkpoints()
    store.close()
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    both = verify_log(
        rows, checkpoints, PublicKeyRing.of([old.public_key, new.public_key]), now=now
    )
    only_old = verify_log(rows, checkpoints, PublicKeyRing.of([old.public_key]), now=now)
    assert both.ok
    assert both.anchored_through == 8
    assert {issue.kind for issue in only_old.issues} == {IssueKind.UNKNOWN_KEY}
    assert sorted(issue.seq or 0 for issue in only_old.issues) == [6, 8]


async def test_keep_anchored_signs_idle_tails(
    sqlite_location: str, clock: FixedClock, signer: Ed25519Signer
) -> None:
    log = AuditLog.open(sqlite_location, signer=signer, checkpoint_interval_s=30, clock=clock)
    log.append(_event())
    ticks = 0

    async def sleep(seconds: float) -> None:
        nonlocal ticks
        assert seconds == 30
        ticks += 1
        if ticks == 3:
            raise asyncio.CancelledError
        clock.advance(seconds=seconds)

    with pytest.raises(asyncio.CancelledError):
        await log.keep_anchored(sleep=sleep)
    checkpoints = log.store.load_checkpoints()
    log.store.close()
    assert [c.seq for c in checkpoints] == [1]  # one tail, anchored once


@pytest.mark.postgres
def test_writer_reconnects_after_the_database_dropped_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sqlalchemy as sa

    from kastell.audit.store import AuditStore, StaleWriterError

    from .conftest import PG_ADMIN_URL, _postgres_location

    stale: list[StaleWriterError] = []
    lock_head = AuditStore.lock_head

    def watching(self: AuditStore, connection: sa.Connection) -> object:
        try:
            return lock_head(self, connection)
        except StaleWriterError as error:
            stale.append(error)
            raise

    monkeypatch.setattr(AuditStore, "lock_head", watching)
    locations = _postgres_location()
    log = AuditLog.open(next(locations))
    try:
        log.append(_event())
        with log.store.writing() as connection:
            pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        admin = sa.create_engine(PG_ADMIN_URL)
        with admin.begin() as connection:  # the server drops the log's writer connection
            connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.dispose()
        # nothing was written on the dead connection: the append retries on a fresh one
        assert log.append(_event()).seq == 2
        assert log.append(_event()).seq == 3
        assert len(stale) == 1  # the dead connection was noticed once, then replaced
    finally:
        log.close()
        next(locations, None)


def test_enum_fields_accept_their_plain_values(sqlite_location: str) -> None:
    log = AuditLog.open(sqlite_location)
    record = log.append(AuditEvent("block", decision="block", severity=3))  # type: ignore[arg-type]
    log.close()
    assert record.event.event_type is EventType.BLOCK
    assert record.event.severity.name == "HIGH"


def test_unknown_event_type_is_a_usage_error(sqlite_location: str) -> None:
    log = AuditLog.open(sqlite_location)
    with pytest.raises(AuditConfigError, match="bad audit event") as caught:
        log.append(AuditEvent("explosion"))  # type: ignore[arg-type]
    log.close()
    assert "canary_leak" in caught.value.diagnostics()


def test_digest_as_text_is_a_usage_error(sqlite_location: str) -> None:
    log = AuditLog.open(sqlite_location)
    with pytest.raises(AuditConfigError, match="must be a kastell.types.Digest"):
        log.append(AuditEvent(EventType.REQUEST, prompt_digest="sha256:00"))  # type: ignore[arg-type]
    log.close()
