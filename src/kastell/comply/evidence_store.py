"""The evidence store: ``Evidence`` records plus their payloads, content-addressed.

SQLite by default (a file), PostgreSQL by URL (``postgresql://...``), through
``kastell._storage``; schema revisions are tracked in the table ``kastell_evidence_version``.
A payload is stored once under its SHA-256 digest and referenced as ``cas:sha256:<hex>``; reading
it back re-checks the digest, so a tampered row is reported, not returned.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import pathlib
from typing import Any

import sqlalchemy as sa
from alembic.operations import Operations

from kastell._storage import Migration, StorageUnavailableError, migrate, open_engine
from kastell.comply.interface import (
    ComplyUsageError,
    EvidenceId,
    EvidenceNotFoundError,
    PayloadDigestError,
    StoredEvidence,
)
from kastell.types import Digest, Evidence, EvidenceKind, Subject

__all__ = [
    "CAS_PREFIX",
    "EVIDENCE_VERSION_TABLE",
    "EvidenceStore",
    "payload_digest",
]

CAS_PREFIX = "cas:"
EVIDENCE_VERSION_TABLE = "kastell_evidence_version"

_META = sa.MetaData()
_EVIDENCE = sa.Table(
    "kastell_evidence",
    _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(64), nullable=False, index=True),
    sa.Column("subject_name", sa.Text, nullable=False),
    sa.Column("subject_digest", sa.String(140), nullable=False),
    sa.Column("produced_at", sa.String(40), nullable=False),
    sa.Column("producer", sa.String(200), nullable=False),
    sa.Column("payload_digest", sa.String(140), nullable=False),
    sa.Column("payload_ref", sa.Text, nullable=False),
    sa.Column("signature", sa.Text, nullable=True),
    sa.Column("summary", sa.Text, nullable=False),
)
_PAYLOADS = sa.Table(
    "kastell_evidence_payloads",
    _META,
    sa.Column("digest", sa.String(140), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)


def _create_v1(op: Operations) -> None:
    op.create_table(
        "kastell_evidence",
        *[
            sa.Column(
                c.name,
                c.type,
                primary_key=c.primary_key,
                nullable=c.nullable,
                autoincrement=c.autoincrement,
            )
            for c in _EVIDENCE.columns
        ],
    )
    op.create_index("ix_kastell_evidence_kind", "kastell_evidence", ["kind"])
    op.create_table(
        "kastell_evidence_payloads",
        *[
            sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
            for c in _PAYLOADS.columns
        ],
    )


MIGRATIONS = (Migration("0001_evidence", _create_v1),)


def payload_digest(data: bytes) -> Digest:
    """The SHA-256 digest under which ``data`` is stored."""
    return Digest("sha256", hashlib.sha256(data).hexdigest())


def _utc_text(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ComplyUsageError(
            "evidence time has no time zone", hint="Record aware datetimes (UTC)."
        )
    return moment.astimezone(dt.UTC).isoformat()


def _to_row(evidence: Evidence) -> dict[str, Any]:
    return {
        "kind": evidence.kind.value,
        "subject_name": evidence.subject.name,
        "subject_digest": str(evidence.subject.digest),
        "produced_at": _utc_text(evidence.produced_at),
        "producer": evidence.producer,
        "payload_digest": str(evidence.payload_digest),
        "payload_ref": evidence.payload_ref,
        "signature": evidence.signature,
        "summary": json.dumps(dict(evidence.summary), sort_keys=True, default=str),
    }


def _from_row(row: sa.RowMapping) -> StoredEvidence:
    evidence = Evidence(
        kind=EvidenceKind(row["kind"]),
        subject=Subject(row["subject_name"], Digest.parse(row["subject_digest"])),
        produced_at=dt.datetime.fromisoformat(row["produced_at"]),
        producer=row["producer"],
        payload_digest=Digest.parse(row["payload_digest"]),
        payload_ref=row["payload_ref"],
        signature=row["signature"],
        summary=json.loads(row["summary"]),
    )
    return StoredEvidence(EvidenceId(int(row["id"])), evidence)


class EvidenceStore:
    """Evidence records and content-addressed payloads in one SQL database.

    Args:
        engine: a SQLAlchemy engine (see ``EvidenceStore.open`` for a path or URL).
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        migrate(engine, MIGRATIONS, EVIDENCE_VERSION_TABLE)

    @classmethod
    def open(cls, location: str | pathlib.Path) -> EvidenceStore:
        """Open (and migrate) the store at a file path (SQLite) or a database URL."""
        return cls(open_engine(location))

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def __enter__(self) -> EvidenceStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self, statement: Any) -> sa.CursorResult[Any]:
        try:
            with self._engine.begin() as connection:
                return connection.execute(statement)
        except sa.exc.OperationalError as error:
            raise StorageUnavailableError(f"evidence store unavailable: {error.orig}") from None

    def put_payload(self, data: bytes) -> Digest:
        """Store ``data`` under its digest (idempotent) and return the digest."""
        digest = payload_digest(data)
        with self._engine.begin() as connection:
            exists = connection.execute(
                sa.select(_PAYLOADS.c.digest).where(_PAYLOADS.c.digest == str(digest))
            ).first()
            if exists is None:
                connection.execute(sa.insert(_PAYLOADS).values(digest=str(digest), data=data))
        return digest

    def payload(self, digest: Digest) -> bytes:
        """The payload stored under ``digest``, re-checked against it."""
        row = self._run(
            sa.select(_PAYLOADS.c.data).where(_PAYLOADS.c.digest == str(digest))
        ).first()
        if row is None:
            raise EvidenceNotFoundError(f"no payload {digest} in the evidence store")
        data = bytes(row[0])
        if payload_digest(data) != digest:
            raise PayloadDigestError(f"stored payload {digest} does not match its digest")
        return data

    def record(self, evidence: Evidence, payload: bytes | None = None) -> StoredEvidence:
        """Record ``evidence``; with ``payload``, store it too and point ``payload_ref`` at it."""
        if payload is not None:
            digest = self.put_payload(payload)
            if digest != evidence.payload_digest:
                raise PayloadDigestError(
                    f"payload digest {digest} differs from the evidence's "
                    f"{evidence.payload_digest}",
                    hint="Compute payload_digest from the exact bytes you store.",
                )
            evidence = dataclasses.replace(evidence, payload_ref=CAS_PREFIX + str(digest))
        result = self._run(sa.insert(_EVIDENCE).values(**_to_row(evidence)))
        key = result.inserted_primary_key
        return StoredEvidence(EvidenceId(int(key[0]) if key else 0), evidence)

    def get(self, evidence_id: int) -> StoredEvidence:
        """The record with this id."""
        row = (
            self._run(sa.select(_EVIDENCE).where(_EVIDENCE.c.id == evidence_id)).mappings().first()
        )
        if row is None:
            raise EvidenceNotFoundError(f"no evidence with id {evidence_id}")
        return _from_row(row)

    def list(
        self, kind: EvidenceKind | None = None, subject_name: str | None = None
    ) -> list[StoredEvidence]:
        """Records, oldest first, optionally filtered by kind and subject name."""
        query = sa.select(_EVIDENCE).order_by(_EVIDENCE.c.id)
        if kind is not None:
            query = query.where(_EVIDENCE.c.kind == kind.value)
        if subject_name is not None:
            query = query.where(_EVIDENCE.c.subject_name == subject_name)
        return [_from_row(row) for row in self._run(query).mappings()]
