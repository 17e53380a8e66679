"""Library-level verification: ``verify_model``, ``require_match`` and a fuzzed statement reader."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kastell.errors import KastellError, VerificationError
from kastell.integrity.bundle import sign_statement
from kastell.integrity.interface import (
    CacheNotAllowedError,
    ModelMismatchError,
    SignatureMismatchError,
)
from kastell.integrity.keys import generate_private_key
from kastell.integrity.signing import PREDICATE_TYPE, sign_model
from kastell.integrity.verify import (
    compare_resources,
    read_model_signature,
    require_match,
    verify_model,
)

KEY = generate_private_key()


def _model(root: Path) -> Path:
    (root / "d").mkdir(parents=True)
    (root / "w.bin").write_bytes(b"weights" * 100)
    (root / "d" / "c.json").write_bytes(b"{}")
    return root


def test_verify_model_passes_and_reports_the_subject(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    signed = sign_model(model, KEY)
    result = verify_model(model, signed.bundle.to_json(), [KEY.public_key])
    assert result.passed
    assert result.model_digest == signed.description.digest
    assert result.key_id == KEY.key_id
    assert result.checked == 2
    assert require_match(result) is result


def test_require_match_raises_a_verification_error_listing_the_files(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    data = sign_model(model, KEY).bundle.to_json()
    (model / "w.bin").write_bytes(b"other")
    (model / "d" / "c.json").unlink()
    result = verify_model(model, data, [KEY.public_key])
    assert (result.changed, result.missing, result.extra) == (("w.bin",), ("d/c.json",), ())
    with pytest.raises(ModelMismatchError, match=r"changed: w\.bin; missing: d/c\.json") as caught:
        require_match(result)
    assert isinstance(caught.value, VerificationError)


def test_untrusted_key_raises_before_any_file_is_read(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    data = sign_model(model, KEY).bundle.to_json()
    with pytest.raises(SignatureMismatchError):
        verify_model(tmp_path / "does-not-exist", data, [generate_private_key().public_key])


def test_compare_resources_groups_shards_by_file(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    before = sign_model(model, KEY, shard_size=64).description.resources
    with (model / "w.bin").open("r+b") as handle:
        handle.seek(300)
        handle.write(b"X")
    after = sign_model(model, KEY, shard_size=64).description.resources
    assert compare_resources(before, after) == (("w.bin",), (), ())


def test_verification_cannot_use_a_cache() -> None:
    from kastell.integrity.hashing import hash_tree
    from kastell.integrity.interface import HashOptions

    class _Cache:
        def get(self, key: Any) -> None:
            return None

        def put(self, key: Any, digest: Any) -> None:
            return None

    with pytest.raises(CacheNotAllowedError):
        hash_tree(".", HashOptions(), cache=_Cache(), for_verification=True)


_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
_json = st.recursive(
    _leaf,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "serialization",
                    "resources",
                    "method",
                    "hash_type",
                    "shard_size",
                    "allow_symlinks",
                    "ignore_paths",
                    "name",
                    "algorithm",
                    "digest",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(predicate=_json, name=st.text(max_size=10))
def test_fuzz_signed_model_statements_raise_only_kastell_errors(predicate: Any, name: str) -> None:
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": "00" * 32}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate if isinstance(predicate, dict) else {"resources": predicate},
    }
    try:
        data = sign_statement(statement, KEY).to_json()
    except KastellError:
        return
    with contextlib.suppress(KastellError):
        read_model_signature(data, [KEY.public_key])


def test_signed_git_metadata_is_checked_not_skipped(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    (model / ".git").mkdir()
    (model / ".git" / "HEAD").write_bytes(b"ref: main")
    (model / ".gitignore").write_bytes(b"*.tmp")
    data = sign_model(model, KEY, ignore_git_paths=False).bundle.to_json()
    assert verify_model(model, data, [KEY.public_key]).passed
    (model / ".git" / "HEAD").write_bytes(b"ref: evil")
    result = verify_model(model, data, [KEY.public_key])
    assert result.changed == (".git/HEAD",)
    # git metadata that was not signed stays skipped by default
    plain = sign_model(model, KEY).bundle.to_json()
    (model / ".gitignore").write_bytes(b"changed")
    assert verify_model(model, plain, [KEY.public_key]).passed


_names = st.lists(
    st.text(alphabet="abc.-_", min_size=1, max_size=6).filter(lambda n: n not in (".", "..")),
    min_size=1,
    max_size=3,
).map("/".join)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    files=st.dictionaries(_names, st.binary(max_size=64), min_size=1, max_size=5),
    shard=st.sampled_from([None, 7]),
    data=st.data(),
)
def test_property_any_single_byte_change_is_detected(
    tmp_path_factory: pytest.TempPathFactory,
    files: dict[str, bytes],
    shard: int | None,
    data: st.DataObject,
) -> None:
    root = tmp_path_factory.mktemp("prop") / "model"
    written: dict[str, bytes] = {}
    for name, content in files.items():
        path = root / name
        if any(parent.is_file() for parent in path.parents) or path.is_dir():
            continue  # a name that is a prefix directory of another: skip it
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written[name] = content
    if any(
        name.split("/")[0] in (".git", ".github", ".gitignore", ".gitattributes")
        for name in written
    ):
        return
    bundle = sign_model(root, KEY, shard_size=shard).bundle.to_json()
    assert verify_model(root, bundle, [KEY.public_key]).passed
    target = data.draw(st.sampled_from(sorted(written)))
    content = written[target]
    if content:
        offset = data.draw(st.integers(0, len(content) - 1))
        changed = content[:offset] + bytes([content[offset] ^ 0xFF]) + content[offset + 1 :]
    else:
        changed = b"\x00"
    (root / target).write_bytes(changed)
    result = verify_model(root, bundle, [KEY.public_key])
    assert not result.passed
    assert target in result.changed or (shard and target in result.extra)
