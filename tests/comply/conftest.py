"""Fixtures of the compliance tests: a throw-away PostgreSQL schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    schema = f"kastell_t_{uuid.uuid4().hex[:10]}"
    try:
        connection = psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True, connect_timeout=3
        )
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL not reachable on 127.0.0.1:5432: {error}")
    with connection:
        connection.execute(f"CREATE SCHEMA {schema}")
        try:
            yield f"{PG_URL}?options=-csearch_path%3D{schema}"
        finally:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")
