from __future__ import annotations

import json
import pathlib

import pytest

from kastell.cli.main import main


def test_cli_lifecycle(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "r.jsonl").write_text('{"a": 1}\n' * 10)
    kek, new = str(tmp_path / "kek.key"), str(tmp_path / "new.key")
    assert main(["keygen", "--type", "ed25519", "-o", str(tmp_path / "owner")]) == 0
    owner, owner_pub = str(tmp_path / "owner.pem"), str(tmp_path / "owner.pub")
    assert main(["protect", "keygen", "-o", kek]) == 0
    assert main(["protect", "keygen", "-o", new, "--format", "json"]) == 0
    assert main(["protect", "keygen", "-o", new]) == 2  # refuses to overwrite
    enc, out = str(tmp_path / "enc"), str(tmp_path / "out")
    capsys.readouterr()
    assert main(["protect", "encrypt", str(data), "--kek", kek, "--signing-key", owner,
                 "-o", enc, "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["files"][0]["path"] == "r.jsonl"
    assert main(["protect", "verify", enc, "--trusted-key", owner_pub]) == 0
    assert main(["protect", "verify", enc]) == 2  # no trusted key: refused, not "ok"
    assert main(["protect", "rotate", enc, "--old-kek", kek, "--new-kek", new,
                 "--signing-key", owner]) == 0
    assert main(["protect", "decrypt", enc, "--kek", kek, "--trusted-key", owner_pub,
                 "-o", out]) == 1  # old key: refused
    err = capsys.readouterr().err
    assert "wrapped by KEK" in err
    assert "Traceback" not in err
    assert main(["protect", "decrypt", enc, "--kek", new, "--trusted-key", owner_pub,
                 "-o", out]) == 0
    assert (tmp_path / "out" / "r.jsonl").read_text() == '{"a": 1}\n' * 10
    capsys.readouterr()
    assert main(["protect", "rotate", enc, "--old-kek", new, "--new-kek", kek,
                 "--signing-key", owner, "--rekey", "--format", "json"]) == 0
    rekeyed = json.loads(capsys.readouterr().out)
    assert (rekeyed["epoch"], rekeyed["generation"]) == (2, 3)
    assert main(["protect", "verify", enc, "--trusted-key", owner_pub, "--format", "json"]) == 0
    sealed = tmp_path / "enc" / "data-2" / "r.jsonl.kenc"
    sealed.write_bytes(sealed.read_bytes()[:-1])
    assert main(["protect", "verify", enc, "--trusted-key", owner_pub, "--format", "json"]) == 1
    assert main(["protect", "decrypt", enc, "--kek", kek, "--trusted-key", owner_pub,
                 "-o", out]) == 1


def test_cli_bad_input(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", "--type", "ed25519", "-o", str(tmp_path / "owner")]) == 0
    owner, owner_pub = str(tmp_path / "owner.pem"), str(tmp_path / "owner.pub")
    assert main(["protect", "encrypt", "x", "--kek", str(tmp_path / "nokey"),
                 "--signing-key", owner, "-o", "y"]) == 2
    assert "KEK file not found" in capsys.readouterr().err
    assert main(["protect", "verify", str(tmp_path), "--trusted-key", owner_pub]) == 3
    assert "kastell-protect.json" in capsys.readouterr().err
    assert main(["protect", "verify", str(tmp_path), "--trusted-key", owner]) == 2  # private
