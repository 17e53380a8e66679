"""Fixtures of the audit tests: a log location on SQLite (tmp_path) or on the real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import pathlib
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from kastell.audit.keys import Ed25519Signer

from ._support import FixedClock

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC))


@pytest.fixture
def signer() -> Ed25519Signer:
    return Ed25519Signer.generate()


def _postgres_location() -> Iterator[str]:
    schema = f"kastell_audit_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:  # never hang on a connection a failed test left open
            connection.exec_driver_sql("SET LOCAL lock_timeout = '20s'")
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def location(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[str]:
    """Where a fresh log lives: a SQLite file, or a private schema of the test database."""
    if request.param == "sqlite":
        yield str(tmp_path / "audit.db")
    else:
        yield from _postgres_location()


@pytest.fixture
def sqlite_location(tmp_path: pathlib.Path) -> str:
    return str(tmp_path / "audit.db")
