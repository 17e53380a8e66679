"""Property tests of the parsers that read what a user or attacker writes: descriptor YAML,
risk acceptances, signed report bundles. Each may refuse; none may accept by accident."""

from __future__ import annotations

import contextlib
import pathlib
import shutil

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kastell.cli.main import main
from kastell.comply._yaml import strict_yaml
from kastell.comply.acceptance import (
    AcceptanceProblem,
    acceptance_statement,
    parse_acceptances,
    verify_acceptances,
)
from kastell.comply.interface import DescriptorError
from kastell.errors import ExitCode

from ._builders import NOW
from ._deployment import build_deployment


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_strict_yaml_parses_or_raises_a_yaml_error(text: str) -> None:
    with contextlib.suppress(yaml.YAMLError):
        strict_yaml(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_acceptance_files_parse_or_are_refused_as_usage_errors(text: str) -> None:
    try:
        statement = acceptance_statement(text, "d.yaml", b"descriptor")
    except DescriptorError:
        return
    assert statement["predicate"]["acceptances"]


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=5),
                    max_leaves=20))  # fmt: skip
def test_any_json_shape_as_acceptances_is_refused_or_well_formed(raw: object) -> None:
    try:
        parsed = parse_acceptances(raw)
    except DescriptorError:
        return
    assert all(a.finding and a.accepted_by and len(a.reason) >= 10 for a in parsed)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_verify_as_acceptances(data: bytes) -> None:
    assert isinstance(verify_acceptances(data, [], "0" * 64), AcceptanceProblem)


@pytest.fixture(scope="module")
def signed_bundle(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("bundle")
    path = build_deployment(root, output={"dir": "report", "signing_key": "keys/signer.pem"})
    assert main(["assess", str(path), "--now", NOW.isoformat()]) in (0, 1)
    return root


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=st.data())
def test_any_flipped_byte_of_the_signature_fails_with_exit_1(
    signed_bundle: pathlib.Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    copy = tmp_path_factory.mktemp("copy") / "report"
    shutil.copytree(signed_bundle / "report", copy)
    signature = copy / "report.sig.json"
    raw = bytearray(signature.read_bytes())
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] ^= data.draw(st.integers(1, 255))
    signature.write_bytes(bytes(raw))
    key = signed_bundle / "keys" / "signer.pub"
    assert main(["verify-report", str(copy), "--key", str(key)]) == ExitCode.FAILED
