from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kastell.cli.integrity import parse_size
from kastell.cli.main import main
from kastell.errors import UsageError
from kastell.integrity.manifest import parse_manifest

Writer = Callable[[Path, bytes], Path]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["manifest", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def test_text_output_lists_digests_and_root(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, str(tree))
    assert code == 0
    lines = out.splitlines()
    expected = hashlib.sha256((tree / "config.json").read_bytes()).hexdigest()
    assert f"sha256:{expected}  config.json" in lines
    assert lines[-1].startswith("root sha256:")


def test_json_output_is_the_manifest(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--format", "json", "--algorithm", "blake3", str(tree))
    assert code == 0
    parsed = parse_manifest(out)
    assert parsed.algorithm == "blake3"
    assert {entry.path for entry in parsed.files} >= {"weights.bin", ".hidden"}


def test_output_file_inside_the_tree_is_not_hashed(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tree / "MANIFEST.json"
    code, out, err = _run(capsys, "--output", str(target), "--chunk-size", "4K", str(tree))
    assert code == 0
    assert "wrote" in err
    first = parse_manifest(target.read_bytes())
    assert "MANIFEST.json" not in {entry.path for entry in first.files}
    assert first.chunk_size == 4096
    # running again (manifest now present) gives the same root
    code, out, _ = _run(capsys, "--output", str(target), "--chunk-size", "4K", str(tree))
    assert parse_manifest(target.read_bytes()).root == first.root


def test_check_passes_then_reports_each_kind_of_difference(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "m.json"
    assert _run(capsys, "-o", str(manifest), "--chunk-size", "4K", str(tree))[0] == 0
    code, out, _ = _run(capsys, "--check", str(manifest), str(tree))
    assert code == 0
    assert out.startswith("OK root")
    (tree / "weights.bin").write_bytes(b"tampered")
    (tree / "config.json").unlink()
    (tree / "new.txt").write_bytes(b"added")
    code, out, _ = _run(capsys, "--check", str(manifest), "--format", "json", str(tree))
    assert code == 1
    result = json.loads(out)
    assert result["matches"] is False
    assert result["changed"] == ["weights.bin"]
    assert result["missing"] == ["config.json"]
    assert result["extra"] == ["new.txt"]


def test_check_refuses_a_cache(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "m.json"
    _run(capsys, "-o", str(manifest), str(tree))
    code, _, err = _run(capsys, "--check", str(manifest), "--cache", str(tmp_path / "c"), str(tree))
    assert code == 2
    assert "cache" in err


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"this is not json", "not JSON"),
        (b'{"format": "kastell-manifest", "version": 1}', "schema"),
    ],
)
def test_check_with_a_bad_manifest_file(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, needle: str
) -> None:
    manifest = tmp_path / "m.json"
    manifest.write_bytes(content)
    code, _, err = _run(capsys, "--check", str(manifest), str(tree))
    assert code == 3
    assert needle in err.splitlines()[0]
    assert "what to do" in err


def test_check_with_a_missing_manifest_file(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "--check", str(tmp_path / "nope.json"), str(tree))
    assert code == 3
    assert "cannot read manifest" in err


def test_cache_option_round_trip(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "digests.json"
    first = _run(capsys, "--cache", str(cache), str(tree))
    assert cache.exists()
    second = _run(capsys, "--cache", str(cache), str(tree))
    assert first[1] == second[1]


def test_corrupt_cache_option(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "digests.json"
    cache.write_text("{]")
    code, _, err = _run(capsys, "--cache", str(cache), str(tree))
    assert code == 3
    assert "corrupt" in err


def test_unwritable_output(tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "-o", str(tmp_path / "missing-dir" / "m.json"), str(tree))
    assert code == 3
    assert "cannot write" in err


@pytest.mark.parametrize("value", ["ten", "-1", "1.5M", "12X"])
def test_bad_chunk_size(tree: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    code, _, err = _run(capsys, "--chunk-size", value, str(tree))
    assert code == 2
    assert "invalid size" in err


def test_bad_algorithm_is_usage_error(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "--algorithm", "md5", str(tree))[0] == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1000", 1000),
        ("64M", 64 << 20),
        ("64MiB", 64 << 20),
        ("1g", 1 << 30),
        ("4K", 4096),
        ("0", 0),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


def test_parse_size_rejects_garbage() -> None:
    with pytest.raises(UsageError, match="invalid size"):
        parse_size("lots")


def test_environment_variables(
    tree: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KASTELL_ALGORITHM", "blake3")
    code, out, _ = _run(capsys, str(tree))
    assert code == 0
    assert out.splitlines()[-1].startswith("root blake3:")


def test_help_does_not_import_the_engine() -> None:
    code = (
        "import sys; from kastell.cli.main import main; main(['manifest', '--help']);"
        "heavy = ('pydantic', 'kastell.integrity.hashing', 'blake3');"
        "print([m for m in heavy if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert result.stdout.strip().endswith("[]")


def test_output_onto_the_hashed_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(b"precious")
    code, _, err = _run(capsys, "-o", str(model), str(model))
    assert code == 2
    assert "would overwrite" in err
    assert model.read_bytes() == b"precious"


def test_output_onto_the_checked_manifest_is_refused(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "m.json"
    _run(capsys, "-o", str(manifest), str(tree))
    code, _, err = _run(capsys, "--check", str(manifest), "-o", str(manifest), str(tree))
    assert code == 2
    assert "would overwrite" in err


def test_check_of_a_manifest_kept_inside_the_tree(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tree / "sub" / "MANIFEST.json"
    assert _run(capsys, "-o", str(manifest), str(tree))[0] == 0
    assert "/sub/MANIFEST.json" in parse_manifest(manifest.read_bytes()).ignore
    code, out, _ = _run(capsys, "--check", str(manifest), str(tree))
    assert code == 0, out


def test_text_output_quotes_names_with_newlines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "two\nlines").write_bytes(b"x")
    (tmp_path / "plain").write_bytes(b"y")
    code, out, _ = _run(capsys, str(tmp_path))
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[1].endswith('  "two\\nlines"')
    assert lines[0].endswith("  plain")
