"""``kastell sign`` and ``kastell keygen`` options not covered by the verification tests."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from kastell.cli.main import main


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    (root / "sub").mkdir(parents=True)
    (root / "weights.bin").write_bytes(b"\x01" * 10_000)
    (root / "sub" / "config.json").write_bytes(b"{}")
    return root


def _sign(model: Path, key: Path, *options: str) -> int:
    """``kastell sign MODEL -k KEY.pem OPTIONS...``; returns the exit code."""
    return main(["sign", str(model), "-k", f"{key}.pem", *options])


@pytest.fixture
def key(tmp_path: Path) -> Path:
    assert main(["keygen", "-o", str(tmp_path / "k")]) == 0
    return tmp_path / "k"


def test_sign_with_a_digest_cache_records_then_reuses_it(
    model: Path, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "digests.json"
    first, second = tmp_path / "1.sig", tmp_path / "2.sig"
    capsys.readouterr()
    args = ["sign", str(model), "-k", f"{key}.pem", "--cache", str(cache), "--format", "json"]
    assert main([*args, "-o", str(first)]) == 0
    digest = json.loads(capsys.readouterr().out)["model_digest"]
    assert cache.exists()
    assert len(json.loads(cache.read_text())["entries"]) == 2
    assert main([*args, "-o", str(second)]) == 0
    assert json.loads(capsys.readouterr().out)["model_digest"] == digest
    # verification has no cache option and re-reads: a change is found even after cached signing
    (model / "weights.bin").write_bytes(b"\x02" * 10_000)
    assert main(["verify", str(model), "-s", str(second), "-k", f"{key}.pub"]) == 1


def test_corrupt_cache_cannot_be_used(
    model: Path, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "digests.json"
    cache.write_text("{not json")
    assert _sign(model, key, "-o", str(tmp_path / "s.sig"), "--cache", str(cache)) == 3
    assert "cache" in capsys.readouterr().err


def test_ignore_outside_the_model_is_a_usage_error(
    model: Path, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        _sign(model, key, "-o", str(tmp_path / "s.sig"), "--ignore", str(tmp_path / "elsewhere"))
        == 2
    )
    assert "outside the model" in capsys.readouterr().err
    assert _sign(model, key, "-o", str(tmp_path / "s.sig"), "--ignore", "../up") == 2


def test_absolute_ignore_inside_the_model_is_made_relative(
    model: Path, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert (
        _sign(
            model,
            key,
            "-o",
            str(tmp_path / "s.sig"),
            "--ignore",
            str(model / "sub"),
            "--format",
            "json",
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["files"] == ["weights.bin"]
    assert "sub" in report["serialization"]["ignore_paths"]


def test_symlink_in_the_model_is_refused_without_allow_symlinks(
    model: Path, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (model / "alias.bin").symlink_to("weights.bin")
    out = tmp_path / "s.sig"
    assert _sign(model, key, "-o", str(out)) == 2
    assert "--allow-symlinks" in capsys.readouterr().err
    assert not out.exists()
    assert _sign(model, key, "-o", str(out), "--allow-symlinks") == 0
    assert main(["verify", str(model), "-s", str(out), "-k", f"{key}.pub"]) == 0


def test_symlink_pointing_outside_the_model_is_refused(
    model: Path, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "secret").write_bytes(b"outside")
    (model / "escape").symlink_to(tmp_path / "secret")
    assert _sign(model, key, "-o", str(tmp_path / "s.sig"), "--allow-symlinks") == 3
    assert "outside" in capsys.readouterr().err


def test_output_into_a_missing_directory_cannot_be_written(
    model: Path, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _sign(model, key, "-o", str(tmp_path / "no" / "such" / "dir.sig")) == 3
    assert "cannot write signature" in capsys.readouterr().err


def test_keygen_passphrase_file_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pass_file = tmp_path / "pass"
    pass_file.write_text("from a file\r\n")
    capsys.readouterr()
    assert (
        main(
            [
                "keygen",
                "-o",
                str(tmp_path / "f"),
                "--passphrase-file",
                str(pass_file),
                "--format",
                "json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["encrypted"] is True
    assert report["algorithm"] == "ecdsa-p256"
    assert stat.S_IMODE(Path(report["private_key"]).stat().st_mode) == 0o600
    from kastell.integrity.keys import read_private_key

    assert read_private_key(Path(report["private_key"]), b"from a file").key_id == report["key_id"]


def test_keygen_with_both_passphrase_sources_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("P", "x")
    (tmp_path / "p").write_text("x")
    assert (
        main(
            [
                "keygen",
                "-o",
                str(tmp_path / "k"),
                "--passphrase-env",
                "P",
                "--passphrase-file",
                str(tmp_path / "p"),
            ]
        )
        == 2
    )
    assert "not both" in capsys.readouterr().err


@pytest.mark.parametrize("content", ["", "\n"])
def test_keygen_with_an_empty_passphrase_file_is_a_usage_error(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p").write_text(content)
    assert (
        main(["keygen", "-o", str(tmp_path / "k"), "--passphrase-file", str(tmp_path / "p")]) == 2
    )
    assert "is empty" in capsys.readouterr().err


def test_keygen_with_a_missing_passphrase_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["keygen", "-o", str(tmp_path / "k"), "--passphrase-file", str(tmp_path / "absent")])
        == 2
    )
    assert "cannot read passphrase file" in capsys.readouterr().err


def test_keygen_into_a_missing_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "-o", str(tmp_path / "no" / "k")]) == 2
    assert "directory exists" in capsys.readouterr().err


def test_help_does_not_import_cryptography() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from kastell.cli.main import main; main(['verify', '--help']);"
        "print(sorted(m for m in ('cryptography', 'kastell.integrity.hashing') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip().endswith("[]")


def test_sign_refuses_to_overwrite_a_model_file(
    model: Path, key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (model / "weights.bin").read_bytes()
    target = model / "weights.bin"
    assert _sign(model, key, "-o", str(target)) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert target.read_bytes() == before
    assert main(["sign", str(target), "-k", f"{key}.pem", "-o", str(target)]) == 2
    assert "the model file itself" in capsys.readouterr().err
    assert target.read_bytes() == before


def test_sign_replaces_an_earlier_signature_inside_the_model(model: Path, key: Path) -> None:
    inside = model / "model.sig"
    assert _sign(model, key, "-o", str(inside)) == 0
    (model / "weights.bin").write_bytes(b"retrained")
    assert _sign(model, key, "-o", str(inside)) == 0
    assert main(["verify", str(model), "-s", str(inside), "-k", f"{key}.pub"]) == 0


@pytest.mark.parametrize(("size", "expected"), [("4096", 4096), ("4K", 4096), ("1M", 1 << 20)])
def test_shard_size_accepts_units(
    model: Path,
    key: Path,
    tmp_path: Path,
    size: str,
    expected: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    assert (
        _sign(model, key, "-o", str(tmp_path / "s.sig"), "--shard-size", size, "--format", "json")
        == 0
    )
    assert json.loads(capsys.readouterr().out)["serialization"]["shard_size"] == expected


@pytest.mark.parametrize(("size", "message"), [("abc", "invalid size"), ("0", "positive")])
def test_bad_shard_size_is_a_usage_error(
    model: Path,
    key: Path,
    tmp_path: Path,
    size: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _sign(model, key, "-o", str(tmp_path / "s.sig"), "--shard-size", size) == 2
    assert message in capsys.readouterr().err
