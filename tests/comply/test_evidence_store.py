from __future__ import annotations

import dataclasses
import pathlib

import pytest
import sqlalchemy as sa

from kastell.comply.evidence_store import (
    CAS_PREFIX,
    EvidenceStore,
    payload_digest,
)
from kastell.comply.interface import EvidenceNotFoundError, PayloadDigestError
from kastell.errors import UsageError
from kastell.types import EvidenceKind

from ._builders import NOW, make_evidence


def _roundtrip(store: EvidenceStore) -> None:
    payload = b'{"passed": true}'
    evidence = make_evidence(EvidenceKind.MODEL_FILE_SCAN)
    evidence = dataclasses.replace(evidence, payload_digest=payload_digest(payload))
    kept = store.record(evidence, payload)
    assert kept.evidence.payload_ref == CAS_PREFIX + str(payload_digest(payload))
    again = store.get(kept.id)
    assert again.evidence.kind is EvidenceKind.MODEL_FILE_SCAN
    assert again.evidence.produced_at == evidence.produced_at
    assert again.evidence.summary == {"passed": True}
    assert store.payload(payload_digest(payload)) == payload
    store.record(make_evidence(EvidenceKind.DOCUMENTATION, subject="policy.md"))
    assert [r.evidence.kind for r in store.list()] == [
        EvidenceKind.MODEL_FILE_SCAN,
        EvidenceKind.DOCUMENTATION,
    ]
    assert len(store.list(kind=EvidenceKind.DOCUMENTATION)) == 1
    assert len(store.list(subject_name="policy.md")) == 1


def test_sqlite_roundtrip(tmp_path: pathlib.Path) -> None:
    with EvidenceStore.open(tmp_path / "ev.sqlite") as store:
        _roundtrip(store)


@pytest.mark.postgres
def test_postgres_roundtrip(pg_url: str) -> None:
    with EvidenceStore.open(pg_url) as store:
        _roundtrip(store)
    with EvidenceStore.open(pg_url) as again:  # a second open migrates nothing, sees the rows
        assert len(again.list()) == 2


def test_version_table_records_revision(tmp_path: pathlib.Path) -> None:
    EvidenceStore.open(tmp_path / "ev.sqlite").close()
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ev.sqlite'}")
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT revision FROM kastell_evidence_version")).all()
    engine.dispose()
    assert rows == [("0001_evidence",)]


def test_payload_is_content_addressed_once(tmp_path: pathlib.Path) -> None:
    store = EvidenceStore.open(tmp_path / "ev.sqlite")
    assert store.put_payload(b"x") == store.put_payload(b"x")


def test_wrong_payload_digest_is_refused(tmp_path: pathlib.Path) -> None:
    store = EvidenceStore.open(tmp_path / "ev.sqlite")
    with pytest.raises(PayloadDigestError, match="differs"):
        store.record(make_evidence(EvidenceKind.AI_BOM), b"not the payload")


def test_tampered_payload_is_detected(tmp_path: pathlib.Path) -> None:
    store = EvidenceStore.open(tmp_path / "ev.sqlite")
    digest = store.put_payload(b"original")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ev.sqlite'}")
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE kastell_evidence_payloads SET data = :d"), {"d": b"evil"}
        )
    engine.dispose()
    with pytest.raises(PayloadDigestError, match="does not match"):
        store.payload(digest)


def test_missing_records_are_helpful_usage_errors(tmp_path: pathlib.Path) -> None:
    store = EvidenceStore.open(tmp_path / "ev.sqlite")
    with pytest.raises(EvidenceNotFoundError, match="id 42") as caught:
        store.get(42)
    assert "kastell evidence list" in caught.value.diagnostics()
    with pytest.raises(EvidenceNotFoundError, match="no payload"):
        store.payload(payload_digest(b"never stored"))


def test_naive_time_is_refused(tmp_path: pathlib.Path) -> None:
    store = EvidenceStore.open(tmp_path / "ev.sqlite")
    evidence = make_evidence(EvidenceKind.AI_BOM)
    naive = dataclasses.replace(evidence, produced_at=NOW.replace(tzinfo=None))
    with pytest.raises(UsageError, match="time zone"):
        store.record(naive)
