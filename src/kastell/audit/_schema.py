"""Tables of the audit log and their migrations (version table ``kastell_audit_version``).

``kastell_audit_records`` holds the canonical record body (what the hash covers) plus columns
derived from it for queries (time, type, tenant); verification checks the derived columns
against the body. ``kastell_audit_checkpoints`` holds signed checkpoints.
``kastell_audit_head`` is one row per database: the log id, the current head (sequence number and
hash, serialised by a row lock) and the last checkpoint; verification never trusts it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

from kastell._storage import Migration

VERSION_TABLE = "kastell_audit_version"


def _record_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("tenant", sa.Text, nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    ]


def _checkpoint_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("log_id", sa.String(64), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
    ]


def _head_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("log_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("checkpoint_seq", sa.BigInteger, nullable=False),
        sa.Column("checkpoint_time_us", sa.BigInteger, nullable=False),
        sa.Column("pruned_through", sa.BigInteger, nullable=False),
    ]


_TABLES = {
    "kastell_audit_records": _record_columns,
    "kastell_audit_checkpoints": _checkpoint_columns,
    "kastell_audit_head": _head_columns,
}

metadata = sa.MetaData()
records = sa.Table("kastell_audit_records", metadata, *_record_columns())
checkpoints = sa.Table("kastell_audit_checkpoints", metadata, *_checkpoint_columns())
head = sa.Table("kastell_audit_head", metadata, *_head_columns())


def _create_tables(op: Operations) -> None:
    for name, columns in _TABLES.items():
        op.create_table(name, *columns())
    op.create_index("ix_kastell_audit_records_time_us", "kastell_audit_records", ["time_us"])


MIGRATIONS = [Migration("0001", _create_tables)]
