"""Database plumbing shared by the stores (evidence, red-team results, audit log).

A store is given a location: a filesystem path (SQLite, the default) or a SQLAlchemy URL
(``sqlite:///...``, ``postgresql+psycopg://...``; ``postgresql://`` is read as psycopg 3).
Each store owns its tables and an ordered list of ``Migration`` steps written with Alembic's
``Operations``; ``migrate()`` applies the steps that a database has not seen yet, recording the
current revision in a version table of the store's own name, so stores sharing one database do
not interfere.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

from kastell.errors import CheckError, UsageError

__all__ = [
    "Migration",
    "StorageError",
    "StorageUnavailableError",
    "migrate",
    "open_engine",
    "text_of",
]


class StorageError(UsageError):
    """A store location is malformed."""

    default_hint = "Give a file path (SQLite) or a URL such as postgresql://user@host/db."


class StorageUnavailableError(CheckError):
    """A store could not be reached or migrated."""

    default_hint = "Check that the database is running and reachable, and the URL is right."


@dataclasses.dataclass(frozen=True)
class Migration:
    """One schema step: a revision id and a function applying it through Alembic operations."""

    revision: str
    upgrade: Callable[[Operations], None]


def _url_for(location: str | pathlib.Path) -> str:
    text = str(location)
    if "://" not in text:
        path = pathlib.Path(text).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    if text.startswith("postgresql://") or text.startswith("postgres://"):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    return text


def open_engine(location: str | pathlib.Path) -> sa.Engine:
    """Create an engine for a path or URL; SQLite gets WAL and foreign keys switched on."""
    url = _url_for(location)
    try:
        engine = sa.create_engine(url, future=True, pool_pre_ping=True)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as error:
        raise StorageError(f"cannot use store location {text_of(location)!r}: {error}") from None
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: object, _record: object) -> None:
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


def text_of(location: str | pathlib.Path) -> str:
    """The location as text with any password masked, for messages."""
    text = str(location)
    if "://" in text and "@" in text:
        scheme, rest = text.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in credentials else text
    return text


def migrate(engine: sa.Engine, migrations: Sequence[Migration], version_table: str) -> str | None:
    """Apply the migrations this database has not seen; return the resulting revision."""
    version = sa.Table(
        version_table, sa.MetaData(), sa.Column("revision", sa.String(64), primary_key=True)
    )
    revisions = [step.revision for step in migrations]
    try:
        with engine.begin() as connection:
            version.create(connection, checkfirst=True)
            current = connection.execute(sa.select(version.c.revision)).scalar_one_or_none()
            if current is not None and current not in revisions:
                raise StorageUnavailableError(
                    f"database schema {version_table}={current} is newer than this Kastell",
                    hint="Upgrade Kastell, or point it at another database.",
                )
            start = revisions.index(current) + 1 if current is not None else 0
            operations = Operations(MigrationContext.configure(connection))
            for step in migrations[start:]:
                step.upgrade(operations)
            if migrations[start:]:
                connection.execute(sa.delete(version))
                connection.execute(sa.insert(version).values(revision=revisions[-1]))
                current = revisions[-1]
    except sa.exc.OperationalError as error:
        raise StorageUnavailableError(
            f"cannot open store {text_of(str(engine.url))}: {error.orig}"
        ) from None
    return current
