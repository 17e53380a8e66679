"""``kastell sign`` / ``kastell verify`` end to end: every bad input has its own test."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kastell.cli.main import main

FILES = {
    "config.json": b'{"layers": 2}',
    "weights/part-0.bin": bytes(range(256)) * 40,
    "weights/part-1.bin": b"\x00" * 5000,
    "tokenizer.txt": b"a b c\n",
}


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    for name, content in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    prefix = tmp_path / "keys" / "signer"
    prefix.parent.mkdir()
    assert main(["keygen", "--output", str(prefix)]) == 0
    return prefix


@pytest.fixture
def signature(model: Path, keys: Path, tmp_path: Path) -> Path:
    path = tmp_path / "model.sig"
    assert main(["sign", str(model), "--key", f"{keys}.pem", "--output", str(path)]) == 0
    return path


def _verify(model: Path, signature: Path, key: Path, *extra: str) -> int:
    return main(["verify", str(model), "--signature", str(signature), "--key", str(key), *extra])


def _json_verify(
    model: Path, signature: Path, key: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, object]]:
    capsys.readouterr()
    code = _verify(model, signature, key, "--format", "json")
    return code, json.loads(capsys.readouterr().out)


def test_untouched_model_verifies(
    model: Path, keys: Path, signature: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = _json_verify(model, signature, Path(f"{keys}.pub"), capsys)
    assert code == 0
    assert report["passed"] is True
    assert report["resources_checked"] == len(FILES)
    assert _verify(model, signature, Path(f"{keys}.pub")) == 0
    assert capsys.readouterr().out.startswith("OK: model matches its signature")


@pytest.mark.parametrize(
    ("name", "offset"),
    [
        ("config.json", 0),
        ("weights/part-0.bin", 5000),
        ("weights/part-1.bin", -1),
        ("tokenizer.txt", 3),
    ],
)
def test_a_tampered_byte_anywhere_fails(
    model: Path,
    keys: Path,
    signature: Path,
    name: str,
    offset: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = model / name
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    code, report = _json_verify(model, signature, Path(f"{keys}.pub"), capsys)
    assert code == 1
    assert (report["changed"], report["missing"], report["extra"]) == ([name], [], [])
    assert _verify(model, signature, Path(f"{keys}.pub")) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out
    assert f"changed  {name}" in out


def test_a_renamed_file_fails(
    model: Path, keys: Path, signature: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (model / "tokenizer.txt").rename(model / "tokenizer.md")
    code, report = _json_verify(model, signature, Path(f"{keys}.pub"), capsys)
    assert code == 1
    assert report["missing"] == ["tokenizer.txt"]
    assert report["extra"] == ["tokenizer.md"]


def test_an_added_file_fails(
    model: Path, keys: Path, signature: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (model / "weights" / "backdoor.py").write_bytes(b"import os")
    code, report = _json_verify(model, signature, Path(f"{keys}.pub"), capsys)
    assert code == 1
    assert (report["changed"], report["missing"], report["extra"]) == (
        [],
        [],
        ["weights/backdoor.py"],
    )


def test_an_added_empty_file_or_symlink_fails(
    model: Path, keys: Path, signature: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (model / "empty").write_bytes(b"")
    (model / "link").symlink_to("config.json")
    code, report = _json_verify(model, signature, Path(f"{keys}.pub"), capsys)
    assert code == 1
    assert report["extra"] == ["empty", "link"]


def test_a_removed_file_fails(
    model: Path, keys: Path, signature: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (model / "weights" / "part-1.bin").unlink()
    code, report = _json_verify(model, signature, Path(f"{keys}.pub"), capsys)
    assert code == 1
    assert report["missing"] == ["weights/part-1.bin"]


def test_a_swapped_key_fails(
    model: Path, signature: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "--output", str(tmp_path / "other")]) == 0
    capsys.readouterr()
    assert _verify(model, signature, tmp_path / "other.pub") == 1
    err = capsys.readouterr().err
    assert "not a trusted key" in err
    assert "what to do:" in err


def test_a_truncated_bundle_cannot_be_checked(
    model: Path, keys: Path, signature: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signature.write_bytes(signature.read_bytes()[:-40])
    assert _verify(model, signature, Path(f"{keys}.pub")) == 3
    assert "not JSON (truncated or corrupt?)" in capsys.readouterr().err


def test_a_bundle_that_is_not_json_cannot_be_checked(
    model: Path, keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "bogus.sig"
    bogus.write_bytes(b"-----BEGIN SIGNATURE-----\n")
    assert _verify(model, bogus, Path(f"{keys}.pub")) == 3
    assert "not JSON" in capsys.readouterr().err


def test_a_bundle_for_another_model_fails(
    model: Path, keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other-model"
    other.mkdir()
    (other / "weights.gguf").write_bytes(b"GGUF other")
    other_sig = tmp_path / "other.sig"
    assert main(["sign", str(other), "-k", f"{keys}.pem", "-o", str(other_sig)]) == 0
    capsys.readouterr()
    assert _verify(model, other_sig, Path(f"{keys}.pub")) == 1
    captured = capsys.readouterr()
    assert "missing  weights.gguf" in captured.out
    assert "'other-model'" in captured.err
    assert "right one" in captured.err


def test_a_private_key_given_to_verify_is_a_usage_error(
    model: Path, keys: Path, signature: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _verify(model, signature, Path(f"{keys}.pem")) == 2
    assert "is a private key" in capsys.readouterr().err


def test_an_rsa_key_is_the_wrong_type(
    model: Path, signature: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    (tmp_path / "rsa.pub").write_bytes(
        rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp_path / "rsa.pem").write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert _verify(model, signature, tmp_path / "rsa.pub") == 2
    assert "unsupported key type" in capsys.readouterr().err
    assert main(["sign", str(model), "-k", str(tmp_path / "rsa.pem"), "-o",
                 str(tmp_path / "x.sig")]) == 2
    assert "unsupported private key type" in capsys.readouterr().err


def test_an_ed25519_signature_with_an_ecdsa_key_fails(
    model: Path, keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "--type", "ed25519", "-o", str(tmp_path / "ed")]) == 0
    sig = tmp_path / "ed.sig"
    assert main(["sign", str(model), "-k", str(tmp_path / "ed.pem"), "-o", str(sig)]) == 0
    assert _verify(model, sig, tmp_path / "ed.pub") == 0
    assert _verify(model, sig, Path(f"{keys}.pub")) == 1


def test_signing_with_a_public_key_is_a_usage_error(
    model: Path, keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sign", str(model), "-k", f"{keys}.pub", "-o", str(tmp_path / "s")]) == 2
    assert "is a public key" in capsys.readouterr().err


@pytest.fixture
def encrypted_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIGNING_PASS", "correct horse")
    prefix = tmp_path / "enc"
    assert main(["keygen", "-o", str(prefix), "--passphrase-env", "SIGNING_PASS"]) == 0
    assert b"ENCRYPTED" in Path(f"{prefix}.pem").read_bytes()
    return Path(f"{prefix}.pem")


def test_encrypted_key_signs_with_its_passphrase(
    model: Path, encrypted_key: Path, tmp_path: Path
) -> None:
    pass_file = tmp_path / "pass.txt"
    pass_file.write_text("correct horse\n")
    sig = tmp_path / "enc.sig"
    assert (
        main(
            [
                "sign",
                str(model),
                "-k",
                str(encrypted_key),
                "-o",
                str(sig),
                "--passphrase-env",
                "SIGNING_PASS",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "sign",
                str(model),
                "-k",
                str(encrypted_key),
                "-o",
                str(sig),
                "--passphrase-file",
                str(pass_file),
            ]
        )
        == 0
    )
    assert _verify(model, sig, encrypted_key.with_suffix(".pub")) == 0


def test_encrypted_key_without_passphrase_is_a_usage_error(
    model: Path, encrypted_key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = encrypted_key.with_name("x.sig")
    assert main(["sign", str(model), "-k", str(encrypted_key), "-o", str(out)]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert "encrypted and no passphrase" in err
    assert "--passphrase-env" in err


def test_encrypted_key_with_wrong_passphrase_is_a_usage_error(
    model: Path,
    encrypted_key: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WRONG_PASS", "battery staple")
    assert (
        main(
            [
                "sign",
                str(model),
                "-k",
                str(encrypted_key),
                "-o",
                str(encrypted_key.with_name("x.sig")),
                "--passphrase-env",
                "WRONG_PASS",
            ]
        )
        == 2
    )
    assert "wrong passphrase" in capsys.readouterr().err


def test_unset_passphrase_variable_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.environ.pop("KASTELL_TEST_UNSET", None)
    assert (
        main(["keygen", "-o", str(tmp_path / "k"), "--passphrase-env", "KASTELL_TEST_UNSET"]) == 2
    )
    assert "KASTELL_TEST_UNSET is not set" in capsys.readouterr().err
    assert not (tmp_path / "k.pem").exists()


def test_special_file_in_the_model_cannot_be_checked(
    model: Path, keys: Path, signature: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(model / "pipe")
    assert _verify(model, signature, Path(f"{keys}.pub")) == 3
    assert "FIFO" in capsys.readouterr().err


def test_missing_model_or_signature_is_a_usage_error(
    model: Path, keys: Path, signature: Path, tmp_path: Path
) -> None:
    assert _verify(tmp_path / "nope", signature, Path(f"{keys}.pub")) == 2
    assert _verify(model, tmp_path / "nope.sig", Path(f"{keys}.pub")) == 2


def test_a_directory_as_signature_cannot_be_read(
    model: Path, keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _verify(model, tmp_path, Path(f"{keys}.pub")) == 3
    assert "cannot read signature" in capsys.readouterr().err


def test_signature_inside_the_model_is_skipped(model: Path, keys: Path, tmp_path: Path) -> None:
    sig = model / "model.sig"
    assert main(["sign", str(model), "-k", f"{keys}.pem", "-o", str(sig)]) == 0
    assert _verify(model, sig, Path(f"{keys}.pub")) == 0
    # a copy of the model with its signature verifies too (paths are relative)
    copy = tmp_path / "copy"
    shutil.copytree(model, copy)
    assert _verify(copy, copy / "model.sig", Path(f"{keys}.pub")) == 0


def test_sign_json_output_and_ignore_option(
    model: Path, keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sig = tmp_path / "s.sig"
    capsys.readouterr()
    assert (
        main(
            [
                "sign",
                str(model),
                "-k",
                f"{keys}.pem",
                "-o",
                str(sig),
                "--ignore",
                "tokenizer.txt",
                "--format",
                "json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["files"] == ["config.json", "weights/part-0.bin", "weights/part-1.bin"]
    assert "tokenizer.txt" in report["serialization"]["ignore_paths"]
    (model / "tokenizer.txt").write_bytes(b"changed, but ignored")
    assert _verify(model, sig, Path(f"{keys}.pub")) == 0


def test_sharded_signature_pins_the_changed_file(
    model: Path, keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sig = tmp_path / "shards.sig"
    assert (
        main(["sign", str(model), "-k", f"{keys}.pem", "-o", str(sig), "--shard-size", "1000"]) == 0
    )
    assert _verify(model, sig, Path(f"{keys}.pub")) == 0
    with (model / "weights" / "part-0.bin").open("ab") as handle:
        handle.write(b"+")
    code, report = _json_verify(model, sig, Path(f"{keys}.pub"), capsys)
    assert code == 1
    assert report["changed"] == ["weights/part-0.bin"]


def test_keygen_refuses_to_overwrite_without_force(
    keys: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = Path(f"{keys}.pem").read_bytes()
    assert main(["keygen", "-o", str(keys)]) == 2
    assert "--force" in capsys.readouterr().err
    assert Path(f"{keys}.pem").read_bytes() == before
    assert (
        main(["keygen", "-o", str(keys), "--force", "--type", "ed25519", "--format", "json"]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["algorithm"] == "ed25519"
    assert Path(f"{keys}.pem").read_bytes() != before


def test_sarif_output_has_one_result_per_differing_file(
    model: Path, keys: Path, signature: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (model / "config.json").write_bytes(b"{}")
    (model / "new.py").write_bytes(b"x = 1")
    capsys.readouterr()
    assert _verify(model, signature, Path(f"{keys}.pub"), "--format", "sarif") == 1
    log = json.loads(capsys.readouterr().out)
    results = log["runs"][0]["results"]
    rules = sorted(r["ruleId"] for r in results)
    assert rules == ["integrity/file-changed", "integrity/file-extra"]
    uris = sorted(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results)
    assert uris == [f"{model}/config.json", f"{model}/new.py"]


def test_sarif_of_a_clean_model_has_no_results(model: Path, keys: Path, signature: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert _verify(model, signature, Path(f"{keys}.pub"), "--format", "sarif") == 0
    assert json.loads(capsys.readouterr().out)["runs"][0]["results"] == []


def test_junit_output_for_an_untrusted_key(model: Path, signature: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", "--output", str(tmp_path / "other")]) == 0
    capsys.readouterr()
    assert _verify(model, signature, tmp_path / "other.pub", "--format", "junit") == 1
    out = capsys.readouterr().out
    assert out.startswith("<?xml")
    assert "integrity/signature" in out
    assert "<failure" in out


def test_finding_controls_exist_in_the_catalog() -> None:
    import yaml

    from kastell.integrity.verify import FINDING_CONTROLS

    catalog_path = Path(__file__).parents[2] / "src/kastell/comply/data/controls.yaml"
    document = yaml.safe_load(catalog_path.read_text())
    controls = document["controls"] if isinstance(document, dict) else document
    ids = {control["id"] for control in controls}
    assert set(FINDING_CONTROLS) <= ids


def test_trusted_keys_from_the_environment(
    model: Path, keys: Path, signature: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["keygen", "--output", str(tmp_path / "other")]) == 0
    monkeypatch.setenv("KASTELL_TRUSTED_KEYS", f"{tmp_path / 'other.pub'}{os.pathsep}{keys}.pub")
    assert main(["verify", str(model), "--signature", str(signature)]) == 0
    monkeypatch.setenv("KASTELL_TRUSTED_KEYS", str(tmp_path / "other.pub"))
    assert main(["verify", str(model), "--signature", str(signature)]) == 1
