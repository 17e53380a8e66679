"""Red-team results store: SQLite by default, PostgreSQL by URL (SQLAlchemy Core + Alembic ops).

Two tables: ``kastell_redteam_runs`` (one row per run: suite name and digest, per-probe
digests, target, settings, probe configuration) and ``kastell_redteam_attempts`` (one row per
attempt of a run, primary key ``(run_id, attempt_id)``: each attempt is stored once; re-running
an errored attempt on resume replaces its row).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic.operations import Operations

from kastell._storage import Migration, migrate, open_engine, text_of
from kastell.redteam.interface import (
    AttemptId,
    AttemptResult,
    AttemptStatus,
    Category,
    RedteamStoreError,
    RunId,
    RunNotFoundError,
)

__all__ = ["RedteamStore", "RunRecord"]

_META = sa.MetaData()
RUNS = sa.Table(
    "kastell_redteam_runs", _META,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("suite_name", sa.String(100), nullable=False),
    sa.Column("suite_digest", sa.String(80), nullable=False),
    sa.Column("probe_digests", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("settings", sa.Text, nullable=False),
    sa.Column("probe_config", sa.Text, nullable=False),
    sa.Column("planned", sa.Integer, nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40)),
)
ATTEMPTS = sa.Table(
    "kastell_redteam_attempts", _META,
    sa.Column("run_id", sa.String(40), sa.ForeignKey("kastell_redteam_runs.run_id"),
              primary_key=True),
    sa.Column("attempt_id", sa.String(40), primary_key=True),
    sa.Column("probe_id", sa.String(100), nullable=False),
    sa.Column("category", sa.String(40), nullable=False),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("output", sa.Text, nullable=False),
    sa.Column("detector", sa.String(60), nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("refused", sa.Boolean, nullable=False),
    sa.Column("prompt_tokens", sa.Integer, nullable=False),
    sa.Column("completion_tokens", sa.Integer, nullable=False),
    sa.Column("requests", sa.Integer, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("truncated", sa.Boolean, nullable=False, server_default="0"),
    sa.Column("trials", sa.Integer, nullable=False, server_default="1"),
    sa.Column("trial_successes", sa.Integer, nullable=False, server_default="0"),
)
_DEFAULTS = {"truncated": "0", "trials": "1", "trial_successes": "0"}
"""Server defaults of the columns migration 0002 added (older rows: one trial, not cut)."""


def _columns(table: sa.Table) -> list[sa.Column[Any]]:
    return [sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable,
                      server_default=_DEFAULTS.get(c.name))
            for c in table.columns]


def _create_tables(operations: Operations) -> None:
    operations.create_table(RUNS.name, *_columns(RUNS))
    operations.create_table(
        ATTEMPTS.name,
        *[c for c in _columns(ATTEMPTS) if c.name not in _DEFAULTS],
        sa.ForeignKeyConstraint(["run_id"], [f"{RUNS.name}.run_id"]),
    )
    operations.create_index("ix_kastell_redteam_attempts_status", ATTEMPTS.name,
                            ["run_id", "status"])


def _add_trial_columns(operations: Operations) -> None:
    """Truncation flag and trial counts per attempt (older rows: one trial, not truncated)."""
    for column in _columns(ATTEMPTS):
        if column.name in _DEFAULTS:
            operations.add_column(ATTEMPTS.name, column)


MIGRATIONS = [Migration("0001_initial", _create_tables),
              Migration("0002_trials", _add_trial_columns)]


def _default_key_path(location: str | pathlib.Path) -> pathlib.Path:
    text = str(location)
    if "://" in text or text == ":memory:":
        return pathlib.Path(".kastell") / "redteam-store.key"
    return pathlib.Path(text + ".key")


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """A stored run's header."""

    run_id: RunId
    suite_name: str
    suite_digest: str
    probe_digests: Mapping[str, str]
    target: str
    settings: Mapping[str, Any]
    probe_config: Mapping[str, Any]
    planned: int
    started_at: str
    finished_at: str | None


class RedteamStore:
    """Runs and attempts in a database given by path or URL."""

    def __init__(self, location: str | pathlib.Path,
                 key_path: pathlib.Path | None = None) -> None:
        self._location = text_of(location)
        self._engine = open_engine(location)
        migrate(self._engine, MIGRATIONS, "kastell_redteam_version")
        self._key_path = key_path or _default_key_path(location)

    def key(self) -> bytes:
        """The store's key for keyed digests of secrets (created on first use, mode 0600)."""
        from kastell.redteam.redaction import load_or_create_key

        return load_or_create_key(self._key_path)

    def _fail(self, error: sa.exc.SQLAlchemyError) -> RedteamStoreError:
        return RedteamStoreError(f"red-team store {self._location}: {error.__class__.__name__}: "
                                 f"{str(error).splitlines()[0][:200]}")

    def create_run(self, record: RunRecord) -> None:
        """Insert a new run header."""
        values = dataclasses.asdict(record)
        for key in ("probe_digests", "settings", "probe_config"):
            values[key] = json.dumps(values[key], sort_keys=True)
        try:
            with self._engine.begin() as connection:
                connection.execute(sa.insert(RUNS).values(**values))
        except sa.exc.SQLAlchemyError as error:
            raise self._fail(error) from None

    def finish_run(self, run_id: RunId, finished_at: dt.datetime) -> None:
        """Record the end of a run."""
        try:
            with self._engine.begin() as connection:
                connection.execute(sa.update(RUNS).where(RUNS.c.run_id == run_id)
                                   .values(finished_at=finished_at.isoformat()))
        except sa.exc.SQLAlchemyError as error:
            raise self._fail(error) from None

    def put_attempt(self, run_id: RunId, result: AttemptResult) -> None:
        """Store (or replace) one attempt's result."""
        self.put_attempts(run_id, [result])

    def put_attempts(self, run_id: RunId, results: Sequence[AttemptResult]) -> None:
        """Store (or replace) several attempts' results in one transaction."""
        if not results:
            return
        rows = []
        for result in results:
            values = dataclasses.asdict(result)
            values["status"] = result.status.value
            values["category"] = result.category.value
            rows.append({"run_id": run_id, **values})
        ids = [result.attempt_id for result in results]
        try:
            with self._engine.begin() as connection:
                connection.execute(sa.delete(ATTEMPTS).where(
                    (ATTEMPTS.c.run_id == run_id) & ATTEMPTS.c.attempt_id.in_(ids)))
                connection.execute(sa.insert(ATTEMPTS), rows)
        except sa.exc.SQLAlchemyError as error:
            raise self._fail(error) from None

    def run(self, run_id: str) -> RunRecord:
        """The header of run ``run_id`` (a unique prefix of at least 6 characters works)."""
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(
                    sa.select(RUNS).where(RUNS.c.run_id.startswith(run_id)).limit(2)
                ).mappings().all()
        except sa.exc.SQLAlchemyError as error:
            raise self._fail(error) from None
        if len(rows) != 1 or len(run_id) < 6:
            raise RunNotFoundError(
                f"no single run {run_id!r} in {self._location}"
                + (" (ambiguous prefix)" if len(rows) > 1 else "")
            )
        row = dict(rows[0])
        for key in ("probe_digests", "settings", "probe_config"):
            row[key] = json.loads(row[key])
        return RunRecord(**row)

    def runs(self) -> list[RunRecord]:
        """Every run, newest first."""
        try:
            with self._engine.connect() as connection:
                ids = connection.execute(
                    sa.select(RUNS.c.run_id).order_by(RUNS.c.started_at.desc())
                ).scalars().all()
        except sa.exc.SQLAlchemyError as error:
            raise self._fail(error) from None
        return [self.run(run_id) for run_id in ids]

    def attempts(self, run_id: RunId) -> list[AttemptResult]:
        """Every stored attempt of a run."""
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(
                    sa.select(ATTEMPTS).where(ATTEMPTS.c.run_id == run_id)
                    .order_by(ATTEMPTS.c.attempt_id)
                ).mappings().all()
        except sa.exc.SQLAlchemyError as error:
            raise self._fail(error) from None
        results = []
        for row in rows:
            values = {k: v for k, v in row.items() if k != "run_id"}
            values["status"] = AttemptStatus(values["status"])
            values["category"] = Category(values["category"])
            values["attempt_id"] = AttemptId(values["attempt_id"])
            results.append(AttemptResult(**values))
        return results

    def close(self) -> None:
        """Release connections."""
        self._engine.dispose()
