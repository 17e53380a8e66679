"""Attacks on trust policies: ways to make one signature count as two, or a rule say less.

Issue 15 hole 2: ``all_of: [ops, ops2]`` with both names on one key, duplicate YAML keys (the
last silently wins), unknown fields silently ignored. Every case is a usage error (exit 2) at
load time; the parser is fuzzed with hypothesis.
"""

from __future__ import annotations

import base64
import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kastell.integrity.keys import read_public_key
from kastell.provenance.interface import ProvenanceUsageError
from kastell.provenance.trust import AllOf, AnyOf, KindPolicy, SignedBy, load_trust_policy

from ._provenance_fixtures import conftest, no_hang

KeyFiles = conftest.KeyFiles
keys = conftest.keys
dataset_dir = conftest.dataset_dir
model_dir = conftest.model_dir
chain = conftest.chain


def _pem(der: bytes, width: int = 64, newline: str = "\n") -> bytes:
    body = base64.b64encode(der).decode()
    lines = textwrap.wrap(body, width)
    text = newline.join(["-----BEGIN PUBLIC KEY-----", *lines, "-----END PUBLIC KEY-----", ""])
    return text.encode()


def _encodings(public: Path, directory: Path) -> list[Path]:
    """The same P-256 public key written three other ways (all valid SPKI PEM)."""
    key = serialization.load_pem_public_key(public.read_bytes())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    formats = serialization.PublicFormat
    der = key.public_bytes(serialization.Encoding.DER, formats.SubjectPublicKeyInfo)
    point = key.public_bytes(serialization.Encoding.X962, formats.CompressedPoint)
    # SPKI with the compressed point: same key material, other bytes
    compressed = bytes.fromhex("3039301306072a8648ce3d020106082a8648ce3d030107032200") + point
    variants = {
        "rewrapped.pub": _pem(der, width=40),
        "crlf.pub": _pem(der, newline="\r\n"),
        "compressed.pub": _pem(compressed),
    }
    paths = []
    for name, data in variants.items():
        path = directory / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_other_encodings_are_the_same_key(keys: dict[str, KeyFiles], tmp_path: Path) -> None:
    original = read_public_key(keys["ml"].public).key_id
    for variant in _encodings(keys["ml"].public, tmp_path):
        assert read_public_key(variant).key_id == original


@pytest.mark.parametrize("variant", [0, 1, 2, None])
def test_two_names_for_one_key_are_refused(
    keys: dict[str, KeyFiles], tmp_path: Path, variant: int | None
) -> None:
    variants = _encodings(keys["ml"].public, tmp_path)
    other = keys["ml"].public if variant is None else variants[variant]
    policy = _write(
        tmp_path / "p.yaml",
        f"version: 1\nkeys:\n  ops: {keys['ml'].public}\n  ops2: {other}\n"
        "trust:\n  deployment: {all_of: [ops, ops2]}\n",
    )
    with pytest.raises(ProvenanceUsageError, match="same public key") as info:
        load_trust_policy(policy)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    "rule",
    ["{all_of: [ops, ops]}", "{all_of: [ops, {any_of: [ops, ml]}]}",
     "{any_of: [ml, {all_of: [ml, {all_of: [ops, ml]}]}]}"],
)  # fmt: skip
def test_all_of_operands_sharing_a_key(
    keys: dict[str, KeyFiles], tmp_path: Path, rule: str
) -> None:
    policy = _write(
        tmp_path / "p.yaml",
        f"version: 1\nkeys: {{ops: {keys['ops'].public}, ml: {keys['ml'].public}}}\n"
        f"trust: {{deployment: {rule}}}\n",
    )
    with pytest.raises(ProvenanceUsageError, match="same key more than once"):
        load_trust_policy(policy)


def test_all_of_built_in_python_with_one_key_twice(keys: dict[str, KeyFiles]) -> None:
    key = read_public_key(keys["ops"].public)
    with pytest.raises(ProvenanceUsageError):
        AllOf([SignedBy("ops", key), AnyOf([SignedBy("ops2", key)])])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # the lenient second `trust:` would silently replace the strict first one
        ("trust: {deployment: {all_of: [ops, ml]}}\ntrust: {deployment: ops}\n", "duplicate key"),
        ("trust:\n  deployment: {all_of: [ops, ml]}\n  deployment: ops\n", "duplicate key"),
        ("trust: {deployment: ops}\nkeys: {ops: X}\n", "duplicate key"),
        ("trust: {deployment: ops}\nrequire_timestamps: true\n", "unknown field"),
        ("trust: {deployment: ops}\nrequire_model_files: 'yes'\n", "true or false"),
        ("trust: {deployment: &r {all_of: [ops, {any_of: [ml, *r]}]}}\n", "recursive alias"),
        ("trust: {deployment: ops}\nextra: {<<: {a: 1}}\n", "merge keys"),
    ],
)
def test_strict_policy_document(
    keys: dict[str, KeyFiles], tmp_path: Path, body: str, message: str
) -> None:
    head = f"version: 1\nkeys: {{ops: {keys['ops'].public}, ml: {keys['ml'].public}}}\n"
    policy = _write(tmp_path / "p.yaml", head + body.replace("X", str(keys["ops"].public)))
    with pytest.raises(ProvenanceUsageError, match=message) as info:
        load_trust_policy(policy)
    assert info.value.exit_code == 2


def test_unknown_field_of_a_key(keys: dict[str, KeyFiles], tmp_path: Path) -> None:
    policy = _write(
        tmp_path / "p.yaml",
        f"version: 1\nkeys: {{ops: {{public_key: {keys['ops'].public}, expires: 2020-01-01}}}}\n"
        "trust: {deployment: ops}\n",
    )
    with pytest.raises(ProvenanceUsageError, match="unknown field"):
        load_trust_policy(policy)


@pytest.mark.parametrize("version", ["true", "1.0", "'1'"])
def test_version_must_be_the_number_one(
    keys: dict[str, KeyFiles], tmp_path: Path, version: str
) -> None:
    policy = _write(
        tmp_path / "p.yaml",
        f"version: {version}\nkeys: {{ops: {keys['ops'].public}}}\ntrust: {{deployment: ops}}\n",
    )
    with pytest.raises(ProvenanceUsageError, match="version 1"):
        load_trust_policy(policy)


def test_fifo_as_a_key_file_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "ops.pub")
    text = "version: 1\nkeys: {ops: ops.pub}\ntrust: {dataset: ops}\n"
    policy = _write(tmp_path / "p.yaml", text)
    with no_hang(), pytest.raises(Exception, match="not a regular file") as info:
        load_trust_policy(policy)
    assert getattr(info.value, "exit_code", None) == 2


def test_cli_exit_2_for_a_policy_naming_one_key_twice(
    chain: Any, keys: dict[str, KeyFiles]
) -> None:
    document = json.loads(chain.policy.read_text())
    document["keys"]["ops2"] = document["keys"]["ops"]
    document["trust"]["deployment"] = {"all_of": ["ops", "ops2"]}
    chain.policy.write_text(json.dumps(document))
    assert conftest.run("verify-chain", chain.deployment, "--trust", chain.policy) == 2


# --- fuzzing: any text is a policy or a usage error; shared keys never load --------------------

_FRAGMENTS = st.sampled_from(
    ["version: 1\n", "version: 2\n", "keys: {a: a.pub, b: b.pub}\n",
     "keys: {a: a.pub, a: b.pub}\n", "trust: {dataset: a}\n",
     "trust: {dataset: {all_of: [a, b]}}\n", "trust: {dataset: a, dataset: b}\n",
     "require_model_files: true\n", "x: &y 1\n", "z: *y\n", "  - 1\n", "{", "]", ": :\n",
     "\t", "\x00",
     "trust: {deployment: {any_of: [a, {all_of: [b]}]}}\n", "<<: {q: 1}\n", "'\n"]
)  # fmt: skip


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kastell.integrity.keys import KeyAlgorithm, generate_private_key

    directory = tmp_path_factory.mktemp("fuzzkeys")
    first = generate_private_key(KeyAlgorithm.ECDSA_P256).public_key.pem()
    second = generate_private_key(KeyAlgorithm.ED25519).public_key.pem()
    (directory / "a.pub").write_bytes(first)
    (directory / "b.pub").write_bytes(second)
    (directory / "a-again.pub").write_bytes(first.replace(b"\n", b"\r\n"))
    return directory


_FUZZ = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}


@settings(max_examples=300, **_FUZZ)
@given(parts=st.lists(_FRAGMENTS | st.text(max_size=20), max_size=8))
def test_fuzz_policy_text(key_dir: Path, parts: list[str]) -> None:
    policy = key_dir / "policy.yaml"
    policy.write_text("".join(parts), encoding="utf-8", errors="surrogatepass")
    outcome: object
    try:
        outcome = load_trust_policy(policy)
    except ProvenanceUsageError as error:
        outcome = error.exit_code
    assert isinstance(outcome, KindPolicy) or outcome == 2


_RULES = st.recursive(
    st.sampled_from(["a", "b", "c"]),
    lambda inner: st.builds(
        lambda op, items: {op: items}, st.sampled_from(["all_of", "any_of"]),
        st.lists(inner, min_size=1, max_size=3),
    ),
    max_leaves=6,
)  # fmt: skip


def _names(rule: Any) -> set[str]:
    if isinstance(rule, str):
        return {rule}
    ((_, items),) = rule.items()
    return set().union(*(_names(item) for item in items))


def _shares(rule: Any, material: dict[str, str]) -> bool:
    """Whether some all_of in ``rule`` has two operands that may accept the same key."""
    if isinstance(rule, str):
        return False
    ((operator, items),) = rule.items()
    if any(_shares(item, material) for item in items):
        return True
    if operator != "all_of":
        return False
    seen: set[str] = set()
    for item in items:
        keys_of = {material[name] for name in _names(item)}
        if keys_of & seen:
            return True
        seen |= keys_of
    return False


@settings(max_examples=200, **_FUZZ)
@given(
    files=st.fixed_dictionaries(
        {name: st.sampled_from(["a.pub", "b.pub", "a-again.pub"]) for name in "abc"}
    ),
    rule=_RULES,
)
def test_fuzz_one_key_never_counts_twice(
    key_dir: Path, files: dict[str, str], rule: Any
) -> None:
    material = {name: "b" if file == "b.pub" else "a" for name, file in files.items()}
    policy = key_dir / "shared.yaml"
    policy.write_text(json.dumps({"version": 1, "keys": files, "trust": {"deployment": rule}}))
    distinct = len(set(material.values())) == len(material)
    try:
        load_trust_policy(policy)
    except ProvenanceUsageError:
        assert not distinct or _shares(rule, material)
        return
    assert distinct
    assert not _shares(rule, material)
