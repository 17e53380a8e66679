"""Incidents kept in the evidence database (own table and version table).

Each open or update also records an ``incident_record`` evidence item whose payload is the
incident's JSON, so the incident history is itself evidence with digests.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from typing import Any

import sqlalchemy as sa
from alembic.operations import Operations

from kastell import __version__
from kastell._storage import Migration, StorageUnavailableError, migrate, open_engine
from kastell.comply.clocks import ClockState, compute_clocks
from kastell.comply.evidence_store import EvidenceStore, payload_digest
from kastell.comply.incident import Incident, IncidentId, incident_from_dict
from kastell.comply.interface import IncidentError
from kastell.types import Evidence, EvidenceKind, Subject

__all__ = ["INCIDENT_VERSION_TABLE", "IncidentStore"]

INCIDENT_VERSION_TABLE = "kastell_incident_version"

_INCIDENTS = sa.Table(
    "kastell_incidents",
    sa.MetaData(),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)


def _create_v1(op: Operations) -> None:
    op.create_table(
        "kastell_incidents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )


_MIGRATIONS = (Migration("0001_incidents", _create_v1),)


class IncidentStore:
    """Incidents by id, beside the evidence they are recorded as.

    Args:
        engine: the evidence database's engine.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        migrate(engine, _MIGRATIONS, INCIDENT_VERSION_TABLE)
        self._evidence = EvidenceStore(engine)

    @classmethod
    def open(cls, location: str | pathlib.Path) -> IncidentStore:
        """Open the store at a file path (SQLite) or a database URL."""
        return cls(open_engine(location))

    @property
    def evidence(self) -> EvidenceStore:
        """The evidence store sharing this database."""
        return self._evidence

    def close(self) -> None:
        """Release the database (the evidence store shares it)."""
        self._evidence.close()

    def __enter__(self) -> IncidentStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self, statement: Any) -> sa.CursorResult[Any]:
        try:
            with self._engine.begin() as connection:
                return connection.execute(statement)
        except sa.exc.OperationalError as error:
            raise StorageUnavailableError(f"incident store unavailable: {error.orig}") from None

    def next_id(self, now: dt.datetime) -> IncidentId:
        """A new id ``INC-YYYYMMDD-NNN`` for an incident opened at ``now``."""
        prefix = f"INC-{now.astimezone(dt.UTC):%Y%m%d}-"
        rows = self._run(sa.select(_INCIDENTS.c.id).where(_INCIDENTS.c.id.like(prefix + "%")))
        return IncidentId(f"{prefix}{len(rows.fetchall()) + 1:03d}")

    def save(self, incident: Incident, now: dt.datetime) -> None:
        """Insert or replace ``incident`` and record it as ``incident_record`` evidence."""
        text = json.dumps(incident.to_dict(), sort_keys=True)
        with self._engine.begin() as connection:
            connection.execute(sa.delete(_INCIDENTS).where(_INCIDENTS.c.id == incident.id))
            connection.execute(
                sa.insert(_INCIDENTS).values(
                    id=incident.id, record=text, updated_at=now.astimezone(dt.UTC).isoformat()
                )
            )
        data = text.encode()
        digest = payload_digest(data)
        overdue = [
            c.rule.key for c in compute_clocks(incident, now) if c.state is ClockState.OVERDUE
        ]
        self._evidence.record(
            Evidence(
                kind=EvidenceKind.INCIDENT_RECORD,
                subject=Subject(f"incident:{incident.id}", digest),
                produced_at=now,
                producer=f"kastell-comply {__version__}",
                payload_digest=digest,
                payload_ref="",
                summary={
                    "passed": not overdue,
                    "incident": incident.id,
                    "regimes": sorted(incident.regimes),
                    "overdue_clocks": overdue,
                },
            ),
            data,
        )

    def get(self, incident_id: str) -> Incident:
        """The incident with this id."""
        row = self._run(
            sa.select(_INCIDENTS.c.record).where(_INCIDENTS.c.id == incident_id)
        ).first()
        if row is None:
            raise IncidentError(f"no incident {incident_id!r}")
        return incident_from_dict(json.loads(row[0]))

    def list(self) -> list[Incident]:
        """Every incident, by id."""
        rows = self._run(sa.select(_INCIDENTS.c.record).order_by(_INCIDENTS.c.id))
        return [incident_from_dict(json.loads(row[0])) for row in rows]
