"""The gateway writing its audit log to the real PostgreSQL (private schema per test)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from kastell.audit.codec import parse_record
from kastell.audit.interface import EventType
from kastell.audit.log import AuditLog
from kastell.audit.store import AuditStore
from kastell.cli.main import main
from kastell.guard.app import GuardApp
from kastell.guard.audit_sink import AuditLogSink
from kastell.guard.config import parse_config
from kastell.guard.runtime import build_runtime

from ._servers import MockUpstream, serve_in_thread
from .conftest import KEY, make_config

pytestmark = pytest.mark.postgres
ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_location() -> Iterator[str]:
    schema = f"kastell_guard_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(ADMIN)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def test_exchanges_are_logged_to_postgres(
    upstream: tuple[MockUpstream, str], pg_location: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = GuardApp(
        build_runtime(
            parse_config(make_config(upstream[1])), audit=AuditLogSink(AuditLog.open(pg_location))
        )
    )
    auth = {"Authorization": f"Bearer {KEY}"}
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with serve_in_thread(app) as url:
        assert httpx.post(f"{url}/v1/chat/completions", json=body, headers=auth).status_code == 200
        streamed = httpx.post(
            f"{url}/v1/chat/completions", json={**body, "stream": True}, headers=auth
        )
        assert streamed.status_code == 200
    store = AuditStore.open(pg_location, create=False)
    try:
        kinds = [parse_record(row.body.encode()).event.event_type for row in store.iter_rows()]
    finally:
        store.close()
    assert kinds == [EventType.RESPONSE, EventType.REQUEST, EventType.RESPONSE]
    assert main(["audit", "verify", pg_location, "--min-retention-days", "0"]) == 0
    capsys.readouterr()
