from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest

from kastell.provenance.canary import generate_canaries, load_canaries
from kastell.provenance.dataset import (
    DatasetOrigin,
    build_dataset_statement,
    dataset_predicate_schema,
)
from kastell.provenance.interface import DatasetChangedError, ProvenanceUsageError
from kastell.provenance.statement import DATASET_PREDICATE_TYPE, read_signed_statement

from .conftest import KeyFiles, run

FIXED = dt.datetime(2026, 2, 1, 12, 0, tzinfo=dt.UTC)


def test_statement_matches_schema_and_counts(dataset_dir: Path) -> None:
    origin = DatasetOrigin("s3://bucket/x", "CC-BY-4.0", dt.date(2025, 1, 1), dt.date(2025, 6, 30))
    statement = build_dataset_statement(dataset_dir, origin=origin, clock=lambda: FIXED)
    predicate = statement["predicate"]
    jsonschema.validate(predicate, dataset_predicate_schema())
    assert statement["predicateType"] == DATASET_PREDICATE_TYPE
    assert statement["subject"][0]["digest"] == {"blake3": predicate["manifest"]["root"]}
    records = predicate["records"]
    assert records["byFormat"] == {"jsonl": 3, "csv": 2, "text": 2}
    assert records["total"] == 7
    assert {f["path"] for f in predicate["manifest"]["files"]} == {
        "blob.bin",
        "notes.txt",
        "sub/table.csv",
        "train.jsonl",
    }
    assert predicate["origin"]["collectedTo"] == "2025-06-30"
    assert predicate["attestedAt"] == "2026-02-01T12:00:00Z"


def test_root_changes_when_content_changes(dataset_dir: Path) -> None:
    first = build_dataset_statement(dataset_dir, clock=lambda: FIXED)
    (dataset_dir / "notes.txt").write_text("one\ntwo\nthree")
    second = build_dataset_statement(dataset_dir, clock=lambda: FIXED)
    assert first["subject"] != second["subject"]
    assert second["predicate"]["records"]["byFormat"]["text"] == 3


def test_sha256_manifest(dataset_dir: Path) -> None:
    statement = build_dataset_statement(dataset_dir, algorithm="sha256", clock=lambda: FIXED)
    assert "sha256" in statement["subject"][0]["digest"]
    jsonschema.validate(statement["predicate"], dataset_predicate_schema())


def test_parquet_without_pyarrow_is_uncounted_not_zero(
    dataset_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kastell.provenance import records

    monkeypatch.setattr(records, "_pyarrow_available", lambda: False)
    (dataset_dir / "t.parquet").write_bytes(b"PAR1 not really")
    statement = build_dataset_statement(dataset_dir, clock=lambda: FIXED)
    entry = [f for f in statement["predicate"]["records"]["files"] if f["format"] == "parquet"][0]
    assert entry["records"] is None
    assert "pyarrow" in entry["note"]
    jsonschema.validate(statement["predicate"], dataset_predicate_schema())


def test_dataset_changing_during_hashing_is_an_error(dataset_dir: Path) -> None:
    target = dataset_dir / "train.jsonl"

    def tamper(_: int) -> None:
        with target.open("a") as handle:
            handle.write('{"late": 1}\n')

    with pytest.raises(DatasetChangedError, match="changed while it was hashed") as info:
        build_dataset_statement(dataset_dir, clock=lambda: FIXED, on_bytes=tamper)
    assert "attest it again" in info.value.diagnostics()


def test_collection_range_reversed() -> None:
    with pytest.raises(ProvenanceUsageError, match="ends") as info:
        DatasetOrigin(collected_from=dt.date(2025, 2, 1), collected_to=dt.date(2025, 1, 1))
    assert "Swap" in info.value.diagnostics()


def test_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(ProvenanceUsageError, match="not a directory"):
        build_dataset_statement(tmp_path / "f")


def test_malformed_csv_is_a_clear_error(dataset_dir: Path) -> None:
    (dataset_dir / "bad.csv").write_bytes(b"a,b\n\xff\xfe,1\n")
    from kastell.provenance.interface import StatementFormatError

    with pytest.raises(StatementFormatError, match="cannot parse CSV"):
        build_dataset_statement(dataset_dir, clock=lambda: FIXED)


def test_cli_with_canaries_records_digests_only(
    tmp_path: Path, dataset_dir: Path, keys: dict[str, KeyFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    canaries, records = tmp_path / "canaries.json", tmp_path / "canaries.jsonl"
    assert run("canary", "generate", "--n", "5", "--output", canaries, "--records", records) == 0
    capsys.readouterr()
    # plant them in the data, then attest
    (dataset_dir / "canaries.jsonl").write_text(records.read_text())
    out = tmp_path / "ds.json"
    assert (
        run(
            "attest",
            "dataset",
            dataset_dir,
            "--key",
            keys["data"].private,
            "--canaries",
            canaries,
            "--output",
            out,
            "--collected-from",
            "2025-01-01",
            "--format",
            "json",
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed["subject"].startswith("blake3:")
    signed = read_signed_statement(out)
    loaded = load_canaries(signed)
    assert len(loaded.canaries) == 5
    assert not loaded.revealed
    assert "KASTELL-CANARY" not in signed.payload.decode()
    planted = records.read_text()
    assert {c.id for c in loaded.leaked_in(planted)} == {c.id for c in loaded.canaries}
    assert signed.predicate["records"]["byFormat"]["jsonl"] == 3 + 5


def test_cli_bad_key_is_usage_error(
    tmp_path: Path, dataset_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "k.pem"
    key.write_text("not a key")
    assert run("attest", "dataset", dataset_dir, "--key", key, "--output", tmp_path / "o") == 2
    assert "not a PEM private key" in capsys.readouterr().err


def test_cli_canary_file_wrong(
    tmp_path: Path, dataset_dir: Path, keys: dict[str, KeyFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "c.json"
    bad.write_text("[]")
    code = run(
        "attest",
        "dataset",
        dataset_dir,
        "--key",
        keys["data"].private,
        "--canaries",
        bad,
        "--output",
        tmp_path / "o",
    )
    assert code == 2
    assert "not a Kastell canary file" in capsys.readouterr().err


def test_generate_canaries_unique_and_bounded() -> None:
    made = generate_canaries(50)
    assert len(set(made.digests())) == 50
    assert len({c.id for c in made.canaries}) == 50
    with pytest.raises(ProvenanceUsageError, match="cannot generate 0"):
        generate_canaries(0)


def test_parquet_rows_counted_with_pyarrow(dataset_dir: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": list(range(11))}), str(dataset_dir / "t.parquet"))
    statement = build_dataset_statement(dataset_dir, clock=lambda: FIXED)
    assert statement["predicate"]["records"]["byFormat"]["parquet"] == 11


def test_broken_parquet_with_pyarrow(dataset_dir: Path) -> None:
    pytest.importorskip("pyarrow")
    from kastell.provenance.interface import StatementFormatError

    (dataset_dir / "t.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(StatementFormatError, match="Parquet"):
        build_dataset_statement(dataset_dir, clock=lambda: FIXED)


def test_symlink_recorded_not_followed(dataset_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.jsonl"
    outside.write_text('{"x": 1}\n' * 5)
    (dataset_dir / "link.jsonl").symlink_to(outside)
    statement = build_dataset_statement(dataset_dir, clock=lambda: FIXED)
    predicate = statement["predicate"]
    jsonschema.validate(predicate, dataset_predicate_schema())
    assert predicate["manifest"]["symlinks"] == [{"path": "link.jsonl", "target": str(outside)}]
    assert predicate["records"]["byFormat"]["jsonl"] == 3


def test_cli_output_unwritable(
    tmp_path: Path, dataset_dir: Path, keys: dict[str, KeyFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        "attest",
        "dataset",
        dataset_dir,
        "--key",
        keys["data"].private,
        "--output",
        tmp_path / "missing" / "ds.json",
    )
    assert code == 2
    assert "cannot write" in capsys.readouterr().err
