"""``kastell guard`` commands: exit codes, output formats, helpful errors."""

from __future__ import annotations

import json
import pathlib

import pytest
import yaml

from kastell.cli.main import main

from .conftest import make_config


def _write(tmp_path: pathlib.Path, config: dict[str, object]) -> pathlib.Path:
    path = tmp_path / "guard.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_hash_key_generate_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["guard", "hash-key", "--generate", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["key_hash"].startswith("sha256$")
    assert document["api_key"].startswith("kst-")


def test_hash_key_from_env(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TENANT_KEY", "kst-0123456789abcdef0123")
    assert main(["guard", "hash-key", "--key-env", "TENANT_KEY"]) == 0
    assert capsys.readouterr().out.startswith("sha256$")


def test_hash_key_short_key_is_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TENANT_KEY", "short")
    assert main(["guard", "hash-key", "--key-env", "TENANT_KEY"]) == 2
    assert "--generate" in capsys.readouterr().err


def test_hash_key_unset_env(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["guard", "hash-key", "--key-env", "KASTELL_TEST_UNSET_VAR"]) == 2
    assert "not set" in capsys.readouterr().err


def test_lint_clean_config_passes(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config("http://127.0.0.1:9", audit={"url": str(tmp_path / "a.db")})
    config["upstreams"]["main"]["declared_model_digest"] = "sha256:" + "ab" * 32
    assert main(["guard", "lint", str(_write(tmp_path, config)), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["passed"] is True
    assert document["findings"] == []


def test_lint_weak_config_fails(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_config(
        "http://model.example.com",
        policies={
            "default": {
                "actions": {"guard.input.prompt_injection": "flag", "guard.secret": "allow"},
                "canary": False,
            }
        },
    )
    assert main(["guard", "lint", str(_write(tmp_path, config)), "--format", "json"]) == 1
    rules = {f["rule_id"] for f in json.loads(capsys.readouterr().out)["findings"]}
    assert rules == {
        "guard.lint.no_audit_log",
        "guard.lint.injection_not_blocked",
        "guard.lint.rule_disabled",
        "guard.lint.canary_off",
        "guard.lint.plain_http_upstream",
        "guard.lint.unpinned_remote_model",
    }


def test_lint_sarif(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, make_config("http://127.0.0.1:9"))
    assert main(["guard", "lint", str(path), "--format", "sarif", "--fail-on", "critical"]) == 0
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["version"] == "2.1.0"
    assert sarif["runs"][0]["results"][0]["ruleId"] == "guard.lint.no_audit_log"


def test_lint_bad_config_exit_2_names_field(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config("http://127.0.0.1:9")
    config["tenants"]["acme"]["key_hashes"] = ["nope"]
    assert main(["guard", "lint", str(_write(tmp_path, config))]) == 2
    assert "tenants.acme.key_hashes.0" in capsys.readouterr().err


def test_serve_bad_config_exit_2(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config("http://127.0.0.1:9", limits={"max_body_bytes": -1})
    assert main(["guard", "serve", "--config", str(_write(tmp_path, config))]) == 2
    assert "limits.max_body_bytes" in capsys.readouterr().err


def test_serve_check_opens_audit_log(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config("http://127.0.0.1:9", audit={"url": "audit.db"})
    path = _write(tmp_path, config)
    assert main(["guard", "serve", "--config", str(path), "--check", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert (tmp_path / "audit.db").exists()  # relative to the config file
