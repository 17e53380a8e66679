from __future__ import annotations

import contextlib
import pathlib

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.comply.descriptor import load_descriptor, parse_descriptor
from kastell.comply.interface import DescriptorError
from kastell.errors import ExitCode

GOOD = {
    "name": "demo",
    "model": {"path": "model", "signature": "model.sig", "trusted_keys": ["k.pub"]},
    "redteam": {"suite": "ci", "gates": {"max_attack_success_rate": 0.2}},
    "residency": {
        "assets": [
            {
                "name": "w",
                "kind": "weights",
                "country": "DE",
                "provider": "self",
                "provider_jurisdiction": "DE",
            }
        ]
    },
    "evidence": {"manual": [{"kind": "documentation", "path": "policy.md", "title": "Policy",
                             "controls": ["AIA-4"], "attester": "A. A", "attester_role": "CISO",
                             "approver": "B. B", "approver_role": "CEO",
                             "valid_until": "2027-01-01"}]},
}


def test_good_descriptor_resolves_paths_against_its_directory(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "deployment.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    descriptor = load_descriptor(path)
    assert descriptor.model.path is not None
    assert descriptor.resolve(descriptor.model.path) == tmp_path.resolve() / "model"
    assert descriptor.output.formats == ("html", "json", "md")
    assert descriptor.redteam is not None
    assert descriptor.redteam.gates == {"max_attack_success_rate": 0.2}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model": {}}, "model: Value error, give model.path"),
        ({"model": {"path": "m", "signature": "s"}}, "needs model.trusted_keys"),
        ({"name": ""}, "name:"),
        ({"redteam": {"gates": {"asr": "high"}}}, "redteam.gates.asr"),
        ({"redteam": {"concurrency": 0}}, "redteam.concurrency"),
        (
            {
                "residency": {
                    "assets": [
                        {
                            "name": "w",
                            "kind": "moon",
                            "country": "DE",
                            "provider": "p",
                            "provider_jurisdiction": "DE",
                        }
                    ]
                }
            },
            "residency.assets[0].kind",
        ),
        (
            {
                "residency": {
                    "assets": [
                        {
                            "name": "w",
                            "kind": "logs",
                            "country": "Germany",
                            "provider": "p",
                            "provider_jurisdiction": "DE",
                        }
                    ]
                }
            },
            "residency.assets[0].country",
        ),
        ({"evidence": {"manual": [{"kind": "vibes", "path": "x"}]}}, "evidence.manual[0].kind"),
        ({"output": {"formats": ["docx"]}}, "output.formats[0]"),
        ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
        ({"redteam": {"enabled": False}}, "redteam: Value error, enabled: false needs a reason"),
        ({"guard": {}}, "guard: Value error, guard.policy is required"),
        ({"version": 2}, "version"),
        ({"model": {"endpoint": {"url": "ftp://x", "model": "m"}}}, "model.endpoint.url"),
    ],
)
def test_bad_fields_are_named_by_path(change: dict[str, object], field: str) -> None:
    with pytest.raises(DescriptorError) as caught:
        parse_descriptor({**GOOD, **change}, pathlib.Path("."))
    assert field in caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE
    assert "deployment-descriptor.md" in caught.value.diagnostics()


def test_base_dir_cannot_be_injected() -> None:
    with pytest.raises(DescriptorError, match="base_dir"):
        parse_descriptor({**GOOD, "base_dir": "/"}, pathlib.Path("."))


def test_missing_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(DescriptorError, match="does not exist"):
        load_descriptor(tmp_path / "nope.yaml")


def test_not_yaml(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("name: [unclosed")
    with pytest.raises(DescriptorError, match="not valid YAML"):
        load_descriptor(path)


def test_not_a_mapping(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(DescriptorError, match="must be a mapping"):
        load_descriptor(path)


def test_binary_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DescriptorError, match="cannot read"):
        load_descriptor(path)


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=400))
def test_fuzz_any_bytes_give_a_descriptor_or_a_descriptor_error(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = pathlib.Path(directory) / "d.yaml"
        path.write_bytes(data)
        with contextlib.suppress(DescriptorError):
            load_descriptor(path)


@settings(max_examples=200, deadline=2000)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    ["name", "model", "path", "redteam", "gates", "assets", "kind", "x"]
                ),
                inner,
                max_size=4,
            )
        ),
        max_leaves=12,
    )
)
def test_fuzz_structures_give_a_descriptor_or_a_descriptor_error(raw: object) -> None:
    with contextlib.suppress(DescriptorError):
        parse_descriptor(raw, pathlib.Path("."))


def test_json_schema_accepts_the_demo_and_rejects_unknown_keys(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    import jsonschema

    from kastell.cli.main import main

    assert main(["assess", "--schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "base_dir" not in schema["properties"]
    demo = pathlib.Path(__file__).resolve().parents[2] / "examples" / "demo" / "deployment.yaml"
    document = yaml.safe_load(demo.read_text())
    jsonschema.validate(document, schema)
    parse_descriptor(document, demo.parent)  # and the loader agrees
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**document, "surprise": 1}, schema)
