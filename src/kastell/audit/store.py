"""Database access of the audit log: SQLite (a file path) or PostgreSQL (a URL).

Writers serialise on the single head row: ``SELECT ... FOR UPDATE`` on PostgreSQL (several
gateway processes may append at once) and ``BEGIN IMMEDIATE`` on SQLite (one writer at a time
across processes). SQLite runs in WAL mode with ``synchronous=FULL`` (set by
``kastell._storage``), so a committed record survives a crash or power loss.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import pathlib
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from kastell._storage import StorageError, StorageUnavailableError, migrate, open_engine, text_of
from kastell.audit import _schema
from kastell.audit.interface import (
    GENESIS_HASH,
    AuditConfigError,
    AuditUnavailableError,
    StoredCheckpoint,
    StoredRow,
)

__all__ = ["AuditStore", "HeadState", "StaleWriterError", "to_micros"]

_BATCH = 2000
_ADVISORY_KEY = 0x4B41_5354_4155_4454  # "KASTAUDT": PostgreSQL advisory lock for migrations
_INSERT_RECORD = sa.insert(_schema.records)
_INSERT_CHECKPOINT = sa.insert(_schema.checkpoints)
_HEAD_COLUMNS = ("log_id", "seq", "hash", "checkpoint_seq", "checkpoint_time_us", "pruned_through")
_SELECT_HEAD = sa.select(*(_schema.head.c[name] for name in _HEAD_COLUMNS)).where(
    _schema.head.c.id == 1
)
_SELECT_HEAD_LOCKED = _SELECT_HEAD.with_for_update()
_UPDATE_HEAD = sa.update(_schema.head).where(_schema.head.c.id == 1)


def to_micros(moment: dt.datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime."""
    delta = moment.astimezone(dt.UTC) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class StaleWriterError(AuditUnavailableError):
    """The reused writer connection was dropped by the server before anything was written."""


@dataclasses.dataclass(frozen=True)
class HeadState:
    """The head row: where the chain ends and when it was last anchored."""

    log_id: str
    seq: int
    hash: str
    checkpoint_seq: int
    checkpoint_time_us: int
    pruned_through: int


def _sqlite_locking(engine: sa.Engine) -> None:
    """Let SQLAlchemy, not the driver, open transactions; writers use BEGIN IMMEDIATE."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        immediate = connection.get_execution_options().get("kastell_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextlib.contextmanager
def _migration_lock(engine: sa.Engine) -> Iterator[sa.Engine]:
    """Serialise schema migration between processes starting at once on one database."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(sa.select(sa.func.pg_advisory_lock(_ADVISORY_KEY)))
            connection.commit()
            try:
                yield engine
            finally:
                connection.execute(sa.select(sa.func.pg_advisory_unlock(_ADVISORY_KEY)))
                connection.commit()
    else:  # SQLite: the migration's transaction takes the write lock up front
        yield engine.execution_options(kastell_write=True)


class AuditStore:
    """The tables of one audit log in one database."""

    def __init__(self, engine: sa.Engine, location: str) -> None:
        self.engine = engine
        self.location = location
        self._writer: sa.Connection | None = None
        self._writer_lock = threading.Lock()

    @classmethod
    def open(cls, location: str | pathlib.Path, *, create: bool = True) -> AuditStore:
        """Open (and with ``create``, create or migrate) the log at a path or URL.

        Raises:
            AuditConfigError: the location is malformed.
            AuditUnavailableError: the database cannot be reached, or holds no log and
                ``create`` is false.
        """
        text = str(location)
        if not create and "://" not in text and not pathlib.Path(text).is_file():
            raise AuditUnavailableError(
                f"no audit log at {text}", hint="Check the path; the gateway creates the log."
            )
        try:
            engine = open_engine(location)
        except StorageError as error:
            raise AuditConfigError(error.message, hint=error.diagnostics()) from None
        if engine.dialect.name == "sqlite":
            _sqlite_locking(engine)
        store = cls(engine, text_of(text))
        try:
            if create:
                with _migration_lock(engine) as locked:
                    migrate(locked, _schema.MIGRATIONS, _schema.VERSION_TABLE)
            elif not sa.inspect(engine).has_table(_schema.head.name):
                raise AuditUnavailableError(
                    f"{store.location} holds no Kastell audit log",
                    hint="Check the path or URL; the gateway creates the log on first start.",
                )
        except StorageUnavailableError as error:
            engine.dispose()
            raise AuditUnavailableError(error.message, hint=error.diagnostics()) from None
        except sa.exc.DatabaseError as error:
            engine.dispose()
            raise AuditUnavailableError(f"cannot open {store.location}: {error.orig}") from None
        return store

    def close(self) -> None:
        """Release the database connections."""
        with self._writer_lock:
            self._drop_writer()
        self.engine.dispose()

    def _drop_writer(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(sa.exc.DBAPIError):
                self._writer.close()
            self._writer = None

    @contextlib.contextmanager
    def writing(self) -> Iterator[sa.Connection]:
        """A write transaction that holds the chain lock until it commits.

        Writes reuse one connection (no pool round trip per append); after a database error it
        is dropped and the next write connects again.
        """
        with self._writer_lock:
            try:
                if self._writer is None or self._writer.invalidated:
                    self._drop_writer()
                    self._writer = self.engine.connect()
                    self._writer.execution_options(kastell_write=True)
                with self._writer.begin():
                    yield self._writer
            except sa.exc.DatabaseError as error:
                self._drop_writer()
                raise AuditUnavailableError(f"cannot write {self.location}: {error.orig}") from None

    @contextlib.contextmanager
    def reading(self) -> Iterator[sa.Connection]:
        """A read transaction (one consistent snapshot on PostgreSQL)."""
        try:
            with self.engine.connect() as connection:
                if self.engine.dialect.name == "postgresql":
                    connection.execution_options(isolation_level="REPEATABLE READ")
                with connection.begin():
                    yield connection
        except sa.exc.DatabaseError as error:
            raise AuditUnavailableError(f"cannot read {self.location}: {error.orig}") from None

    def ensure_head(self, now_us: int) -> HeadState:
        """Read the head row, creating it (a new log id) on first use.

        Several processes may start on a fresh database at once: the loser of the insert race
        reads the winner's head.
        """
        fresh = HeadState(uuid.uuid4().hex, 0, GENESIS_HASH, 0, now_us, 0)
        try:
            with self.engine.connect() as connection:
                connection.execution_options(kastell_write=True)
                with connection.begin():
                    state = self.read_head(connection, lock=True)
                    if state is not None:
                        return state
                    values = dataclasses.asdict(fresh)
                    connection.execute(sa.insert(_schema.head).values(id=1, **values))
                    return fresh
        except sa.exc.IntegrityError:
            pass
        except sa.exc.DatabaseError as error:
            raise AuditUnavailableError(f"cannot write {self.location}: {error.orig}") from None
        with self.reading() as connection:
            state = self.read_head(connection)
        if state is None:
            raise AuditUnavailableError(f"{self.location}: cannot create the log head")
        return state

    def lock_head(self, connection: sa.Connection) -> HeadState:
        """The head row, locked for this write transaction (the first statement of a write).

        Raises:
            StaleWriterError: the connection turned out dead; nothing was written, retry.
            AuditUnavailableError: the head row is missing.
        """
        try:
            head = self.read_head(connection, lock=True)
        except sa.exc.DBAPIError as error:
            if error.connection_invalidated:
                message = f"{self.location}: the database dropped the connection"
                raise StaleWriterError(message) from None
            raise
        if head is None:
            raise AuditUnavailableError(f"{self.location}: the log head row is gone")
        return head

    def read_head(self, connection: sa.Connection, *, lock: bool = False) -> HeadState | None:
        """The head row, locked for update when ``lock`` (PostgreSQL)."""
        row = connection.execute(_SELECT_HEAD_LOCKED if lock else _SELECT_HEAD).one_or_none()
        return HeadState(*row) if row is not None else None

    @staticmethod
    def update_head(connection: sa.Connection, **values: Any) -> None:
        """Change fields of the head row."""
        connection.execute(_UPDATE_HEAD, values)

    @staticmethod
    def insert_rows(connection: sa.Connection, rows: list[StoredRow]) -> None:
        """Insert record rows (one statement, executed for many parameter sets)."""
        if rows:
            connection.execute(_INSERT_RECORD, [row.__dict__ for row in rows])

    @staticmethod
    def insert_checkpoint(connection: sa.Connection, checkpoint: StoredCheckpoint) -> None:
        """Insert one checkpoint row."""
        connection.execute(_INSERT_CHECKPOINT, dataclasses.asdict(checkpoint))

    def iter_rows(
        self,
        *,
        after_seq: int = 0,
        since_us: int | None = None,
        within: sa.Connection | None = None,
    ) -> Iterator[StoredRow]:
        """Record rows in sequence order, fetched in batches (keyset pagination).

        ``within`` is an open ``reading()`` connection: all batches then come from its snapshot.
        """
        table = _schema.records
        columns = [table.c[name] for name in StoredRow.__dataclass_fields__]
        last = after_seq
        while True:
            query = sa.select(*columns).where(table.c.seq > last).order_by(table.c.seq)
            if since_us is not None:
                query = query.where(table.c.time_us >= since_us)
            with self._using(within) as connection:
                batch = [StoredRow(*row) for row in connection.execute(query.limit(_BATCH))]
            yield from batch
            if len(batch) < _BATCH:
                return
            last = batch[-1].seq

    def load_checkpoints(self, *, within: sa.Connection | None = None) -> list[StoredCheckpoint]:
        """Every checkpoint row, in sequence order."""
        table = _schema.checkpoints
        columns = [table.c[name] for name in StoredCheckpoint.__dataclass_fields__]
        with self._using(within) as connection:
            rows = connection.execute(sa.select(*columns).order_by(table.c.seq))
            return [StoredCheckpoint(*row) for row in rows]

    def head(self, *, within: sa.Connection | None = None) -> HeadState | None:
        """The head row, or None for a log nothing was ever written to."""
        with self._using(within) as connection:
            return self.read_head(connection)

    @contextlib.contextmanager
    def _using(self, within: sa.Connection | None) -> Iterator[sa.Connection]:
        if within is None:
            with self.reading() as connection:
                yield connection
            return
        try:
            yield within
        except sa.exc.DatabaseError as error:
            raise AuditUnavailableError(f"cannot read {self.location}: {error.orig}") from None

    @staticmethod
    def delete_through(connection: sa.Connection, seq: int) -> int:
        """Delete records with sequence number <= ``seq`` and checkpoints before ``seq``."""
        deleted = connection.execute(
            sa.delete(_schema.records).where(_schema.records.c.seq <= seq)
        ).rowcount
        connection.execute(sa.delete(_schema.checkpoints).where(_schema.checkpoints.c.seq < seq))
        return int(deleted)
