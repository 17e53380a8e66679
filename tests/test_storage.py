from __future__ import annotations

import pathlib

import pytest
import sqlalchemy as sa
from alembic.operations import Operations

from kastell._storage import Migration, StorageUnavailableError, migrate, open_engine, text_of


def _create(op: Operations) -> None:
    op.create_table("things", sa.Column("id", sa.Integer, primary_key=True))


def _add(op: Operations) -> None:
    op.add_column("things", sa.Column("name", sa.String(20)))


STEPS = [Migration("0001", _create), Migration("0002", _add)]


def test_migrate_applies_once_and_records_revision(tmp_path: pathlib.Path) -> None:
    engine = open_engine(tmp_path / "sub" / "db.sqlite")
    assert migrate(engine, STEPS[:1], "v_test") == "0001"
    assert migrate(engine, STEPS, "v_test") == "0002"
    assert migrate(engine, STEPS, "v_test") == "0002"  # idempotent
    columns = {c["name"] for c in sa.inspect(engine).get_columns("things")}
    assert columns == {"id", "name"}


def test_newer_schema_is_refused(tmp_path: pathlib.Path) -> None:
    engine = open_engine(tmp_path / "db.sqlite")
    migrate(engine, STEPS, "v_test")
    with pytest.raises(StorageUnavailableError):
        migrate(engine, STEPS[:1] + [Migration("0009", _add)], "v_test")


def test_password_is_masked() -> None:
    assert text_of("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
