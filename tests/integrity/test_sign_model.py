from __future__ import annotations

import hashlib
import json
from pathlib import Path

import blake3
import pytest

from kastell.errors import UsageError
from kastell.integrity.bundle import verify_bundle
from kastell.integrity.interface import MalformedBundleError, UnsupportedBundleError
from kastell.integrity.keys import PrivateKey, generate_private_key
from kastell.integrity.signing import (
    PREDICATE_TYPE,
    ModelDescription,
    Serialization,
    SymlinkNotAllowedError,
    describe_model,
    sign_model,
)

FILES = {
    "a.txt": b"hello\n",
    "a/b.bin": bytes(range(256)) * 3,
    "a-c": b"",
    ".hidden": b"dot",
}


@pytest.fixture(scope="module")
def key() -> PrivateKey:
    return generate_private_key()


def _model(root: Path, files: dict[str, bytes] = FILES) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def _statement(signed_bytes: bytes, key: PrivateKey) -> dict[str, object]:
    return dict(verify_bundle(signed_bytes, [key.public_key]).statement)


def test_statement_matches_the_model_signing_v1_predicate(tmp_path: Path, key: PrivateKey) -> None:
    model = _model(tmp_path / "my-model")
    statement = _statement(sign_model(model, key).bundle.to_json(), key)
    # model_signing sorts by path components: "a" < "a-c" < "a.txt" ("a/b.bin" comes first).
    names = ["a/b.bin", ".hidden", "a-c", "a.txt"]
    names.sort(key=lambda name: tuple(name.split("/")))
    assert names[0] == ".hidden"
    resources = [
        {"name": n, "algorithm": "sha256", "digest": hashlib.sha256(FILES[n]).hexdigest()}
        for n in names
    ]
    root = hashlib.sha256(b"".join(bytes.fromhex(str(r["digest"])) for r in resources))
    assert statement == {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "my-model", "digest": {"sha256": root.hexdigest()}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": {
                "method": "files",
                "hash_type": "sha256",
                "allow_symlinks": False,
                "ignore_paths": [".git", ".gitattributes", ".github", ".gitignore"],
            },
            "resources": resources,
        },
    }


def test_single_file_model_has_the_one_resource_dot(tmp_path: Path, key: PrivateKey) -> None:
    model = _model(tmp_path)
    description = sign_model(model / "a.txt", key).description
    assert description.name == "a.txt"
    assert [(r.name, r.digest) for r in description.resources] == [
        (".", hashlib.sha256(b"hello\n").hexdigest())
    ]


def test_shards_are_named_path_start_end_and_empty_files_have_none(tmp_path: Path) -> None:
    model = _model(tmp_path)
    description = describe_model(
        model, Serialization(method="shards", hash_type="sha256", shard_size=500)
    )
    content = FILES["a/b.bin"]
    expected = [
        (".hidden:0:3", hashlib.sha256(b"dot").hexdigest()),
        ("a/b.bin:0:500", hashlib.sha256(content[:500]).hexdigest()),
        ("a/b.bin:500:768", hashlib.sha256(content[500:]).hexdigest()),
        ("a.txt:0:6", hashlib.sha256(b"hello\n").hexdigest()),
    ]
    assert [(r.name, r.digest) for r in description.resources] == expected
    assert {r.algorithm for r in description.resources} == {"sha256-sharded-500"}
    assert description.serialization.to_dict()["shard_size"] == 500


def test_blake3_resources(tmp_path: Path, key: PrivateKey) -> None:
    model = _model(tmp_path)
    description = sign_model(model, key, algorithm="blake3").description
    digests = {r.name: r.digest for r in description.resources}
    assert digests["a.txt"] == blake3.blake3(b"hello\n").hexdigest()
    assert description.digest.algorithm == "sha256"


def test_git_paths_are_ignored_only_at_the_root(tmp_path: Path, key: PrivateKey) -> None:
    model = _model(
        tmp_path,
        {
            "w.bin": b"w",
            ".git/HEAD": b"ref",
            ".gitignore": b"*",
            "sub/.gitignore": b"kept",
            "sub/.git/x": b"kept too",
        },
    )
    names = [r.name for r in sign_model(model, key).description.resources]
    assert names == ["sub/.git/x", "sub/.gitignore", "w.bin"]
    names = [r.name for r in sign_model(model, key, ignore_git_paths=False).description.resources]
    assert ".git/HEAD" in names
    assert ".gitignore" in names


def test_ignore_paths_and_the_signature_inside_the_model_are_recorded(
    tmp_path: Path, key: PrivateKey
) -> None:
    model = _model(tmp_path / "m")
    signed = sign_model(
        model,
        key,
        ignore_paths=["a", "x[1]*.md"],
        signature_path=model / "model.sig",
        ignore_git_paths=False,
    )
    (model / "model.sig").write_bytes(signed.bundle.to_json())
    (model / "x[1]*.md").write_bytes(b"not signed")
    serialization = signed.description.serialization
    assert serialization.ignore_paths == ("a", "model.sig", "x[1]*.md")
    names = [r.name for r in describe_model(model, serialization).resources]
    assert names == [".hidden", "a-c", "a.txt"]


@pytest.mark.parametrize("bad", ["../outside", "/abs", ".", "a/../.."])
def test_ignore_paths_outside_the_model_are_a_usage_error(
    tmp_path: Path, key: PrivateKey, bad: str
) -> None:
    with pytest.raises(UsageError, match="not inside the model"):
        sign_model(_model(tmp_path), key, ignore_paths=[bad])


def test_symlinks_are_refused_unless_allowed(tmp_path: Path, key: PrivateKey) -> None:
    model = _model(tmp_path / "m")
    (model / "link").symlink_to("a.txt")
    with pytest.raises(SymlinkNotAllowedError, match="symbolic link: link") as caught:
        sign_model(model, key)
    assert "--allow-symlinks" in caught.value.diagnostics()
    description = sign_model(model, key, allow_symlinks=True).description
    digests = {r.name: r.digest for r in description.resources}
    assert digests["link"] == digests["a.txt"]
    assert description.serialization.allow_symlinks is True


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algorithm": "md5"}, "unsupported algorithm"),
        ({"shard_size": 0}, "positive number of bytes"),
        ({"shard_size": 10, "algorithm": "blake3"}, "sha256"),
    ],
)
def test_bad_signing_options(
    tmp_path: Path, key: PrivateKey, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        sign_model(_model(tmp_path), key, **kwargs)  # type: ignore[arg-type]


def _statement_of(tmp_path: Path, key: PrivateKey) -> dict[str, object]:
    return _statement(sign_model(_model(tmp_path), key).bundle.to_json(), key)


def test_from_statement_round_trips(tmp_path: Path, key: PrivateKey) -> None:
    description = sign_model(_model(tmp_path), key).description
    assert ModelDescription.from_statement(description.statement()) == description


def test_inconsistent_subject_digest_is_malformed(tmp_path: Path, key: PrivateKey) -> None:
    statement = json.loads(json.dumps(_statement_of(tmp_path, key)))
    statement["predicate"]["resources"][0]["digest"] = "00" * 32
    with pytest.raises(MalformedBundleError, match="inconsistent"):
        ModelDescription.from_statement(statement)


@pytest.mark.parametrize(
    ("path", "value", "error", "message"),
    [
        (
            ("predicateType",),
            "https://model_signing/Digests/v0.1",
            UnsupportedBundleError,
            "not an OpenSSF model signature",
        ),
        (
            ("predicate", "serialization", "method"),
            "tensors",
            UnsupportedBundleError,
            "unknown model serialization",
        ),
        (("predicate", "serialization", "hash_type"), "blake2b", UnsupportedBundleError, "blake2b"),
        (
            ("predicate", "serialization", "allow_symlinks"),
            "no",
            MalformedBundleError,
            "allow_symlinks",
        ),
        (("predicate", "serialization", "ignore_paths"), "x", MalformedBundleError, "ignore_paths"),
        (("predicate", "serialization", "shard_size"), "1", MalformedBundleError, "shard_size"),
        (("predicate", "resources"), {}, MalformedBundleError, "no resources list"),
        (("predicate", "serialization"), None, MalformedBundleError, "serialization"),
        (("predicate",), [], MalformedBundleError, "predicate"),
        (
            ("subject",),
            [{"name": "a", "digest": {"sha256": "00"}}] * 2,
            MalformedBundleError,
            "one subject",
        ),
    ],
)
def test_statement_fields_are_checked(
    tmp_path: Path,
    key: PrivateKey,
    path: tuple[str, ...],
    value: object,
    error: type[Exception],
    message: str,
) -> None:
    statement = json.loads(json.dumps(_statement_of(tmp_path, key)))
    target = statement
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(error, match=message):
        ModelDescription.from_statement(statement)


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        ("x", "not an object"),
        ({"name": "a", "algorithm": "sha256"}, "lacks a name"),
        ({"name": "a", "algorithm": "sha256", "digest": "xyz"}, "malformed digest"),
        ({"name": "a", "algorithm": "sha256-sharded-4", "digest": "00"}, "PATH:START:END"),
    ],
)
def test_malformed_resources(
    tmp_path: Path, key: PrivateKey, resource: object, message: str
) -> None:
    statement = json.loads(json.dumps(_statement_of(tmp_path, key)))
    statement["predicate"]["resources"].append(resource)
    with pytest.raises(MalformedBundleError, match=message):
        ModelDescription.from_statement(statement)


def test_duplicate_resources_are_malformed(tmp_path: Path, key: PrivateKey) -> None:
    statement = json.loads(json.dumps(_statement_of(tmp_path, key)))
    resources = statement["predicate"]["resources"]
    resources.append(dict(resources[0]))
    with pytest.raises(MalformedBundleError, match="twice"):
        ModelDescription.from_statement(statement)


def test_protobuf_float_shard_size_from_model_signing_is_accepted() -> None:
    document = {
        "method": "shards",
        "hash_type": "sha256",
        "shard_size": 4096.0,
        "allow_symlinks": False,
    }
    assert Serialization.from_dict(document).shard_size == 4096
    with pytest.raises(MalformedBundleError, match="shard_size"):
        Serialization.from_dict(dict(document, shard_size=4096.5))


@pytest.mark.parametrize("entry", ["", "/etc", "../up", "a/../../b", "."])
def test_signed_ignore_paths_must_stay_inside_the_model(entry: str) -> None:
    document = {
        "method": "files",
        "hash_type": "sha256",
        "allow_symlinks": False,
        "ignore_paths": [".git", entry],
    }
    with pytest.raises(MalformedBundleError, match="not a path inside the model"):
        Serialization.from_dict(document)
