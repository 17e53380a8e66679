"""Config validation: every bad field is reported with its dotted path (exit 2)."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
import yaml

from kastell.errors import ExitCode
from kastell.guard.config import load_config, parse_config
from kastell.guard.interface import GuardConfigError

from .conftest import make_config

BASE = "http://127.0.0.1:9"


def _bad(config: dict[str, Any]) -> GuardConfigError:
    with pytest.raises(GuardConfigError) as caught:
        parse_config(config)
    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.diagnostics()
    return caught.value


def test_valid_config_loads(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "guard.yaml"
    path.write_text(yaml.safe_dump(make_config(BASE)))
    config = load_config(path)
    assert set(config.tenants) == {"acme", "globex"}
    assert config.limits.max_body_bytes == 1_048_576


def test_bad_key_hash_names_the_field() -> None:
    config = make_config(BASE)
    config["tenants"]["acme"]["key_hashes"] = ["plaintext-key"]
    error = _bad(config)
    assert error.field == "tenants.acme.key_hashes.0"
    assert "tenants.acme.key_hashes.0" in str(error)


def test_unknown_upstream_reference() -> None:
    config = make_config(BASE)
    config["tenants"]["acme"]["upstream"] = "nope"
    assert _bad(config).field == "tenants.acme.upstream"


def test_unknown_policy_reference() -> None:
    config = make_config(BASE)
    config["tenants"]["acme"]["policy"] = "strict"
    assert _bad(config).field == "tenants.acme.policy"


def test_unknown_rule_in_policy() -> None:
    error = _bad(make_config(BASE, policies={"default": {"actions": {"guard.nope": "block"}}}))
    assert error.field == "policies.default.actions"
    assert "guard.pii" in str(error)  # lists the known rules


def test_bad_action_in_policy() -> None:
    error = _bad(make_config(BASE, policies={"default": {"actions": {"guard.pii": "shred"}}}))
    assert "block" in str(error)


def test_unknown_field_is_rejected() -> None:
    assert _bad(make_config(BASE, limitz={})).field == "limitz"


def test_bad_limit_type() -> None:
    assert _bad(make_config(BASE, limits={"max_body_bytes": "big"})).field == (
        "limits.max_body_bytes"
    )


def test_bad_upstream_url() -> None:
    config = make_config(BASE)
    config["upstreams"]["main"]["base_url"] = "ftp://x"
    assert _bad(config).field.startswith("upstreams.main")


def test_local_upstream_needs_signature() -> None:
    config = make_config(BASE)
    config["upstreams"]["main"] = {"type": "local"}
    assert "signature" in str(_bad(config))


def test_bad_rate_limit_backend() -> None:
    assert _bad(make_config(BASE, rate_limit_backend="memcached")).field == "rate_limit_backend"


def test_no_tenants() -> None:
    assert _bad(make_config(BASE, tenants={})).field == "tenants"


def test_not_a_mapping(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "guard.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(GuardConfigError, match="mapping"):
        load_config(path)


def test_invalid_yaml(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "guard.yaml"
    path.write_text("upstreams: [unclosed\n")
    with pytest.raises(GuardConfigError, match="not valid YAML"):
        load_config(path)


def test_missing_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(GuardConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
