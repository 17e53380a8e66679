"""Interoperability with OpenSSF Model Signing 1.1.1 (the acceptance test of ``kastell sign``).

The ``model_signing`` CLI runs as a subprocess from this interpreter's environment; its Python
API is used in-process only for what its CLI cannot do (shards, blake3).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kastell.cli.main import main

pytest.importorskip("model_signing", reason="install the test extra: model-signing==1.1.1")

MODEL_SIGNING = Path(sys.executable).parent / "model_signing"

FILES = {
    "model.gguf": b"GGUF" + bytes(range(256)) * 64,
    "config.json": b'{"architectures": ["LlamaForCausalLM"]}',
    "tokenizer/vocab.txt": b"<s>\n</s>\nhello\n",
    "empty.txt": b"",
}


def _run_model_signing(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MODEL_SIGNING), *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "smol-model"
    for name, content in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


@pytest.fixture
def ec_key(tmp_path: Path) -> Path:
    prefix = tmp_path / "ec"
    assert main(["keygen", "--type", "ecdsa-p256", "--output", str(prefix)]) == 0
    return prefix


def test_model_signing_cli_verifies_kastell_signature(
    model: Path, ec_key: Path, tmp_path: Path
) -> None:
    signature = tmp_path / "kastell.sig"
    assert main(["sign", str(model), "--key", f"{ec_key}.pem", "--output", str(signature)]) == 0
    result = _run_model_signing(
        "verify", "key", str(model), "--signature", str(signature), "--public_key", f"{ec_key}.pub"
    )
    assert result.returncode == 0, result.stderr
    assert "Verification succeeded" in result.stdout
    # and it is not a rubber stamp: one changed byte makes model_signing reject it too
    (model / "config.json").write_bytes(b'{"architectures": ["LlamaForCausalLN"]}')
    result = _run_model_signing(
        "verify", "key", str(model), "--signature", str(signature), "--public_key", f"{ec_key}.pub"
    )
    assert result.returncode != 0
    assert "config.json" in result.stderr


def test_kastell_verifies_model_signing_signature(
    model: Path, ec_key: Path, tmp_path: Path
) -> None:
    signature = tmp_path / "upstream.sig"
    result = _run_model_signing(
        "sign", "key", str(model), "--private_key", f"{ec_key}.pem", "--signature", str(signature)
    )
    assert result.returncode == 0, result.stderr
    assert (
        main(["verify", str(model), "--signature", str(signature), "--key", f"{ec_key}.pub"]) == 0
    )
    (model / "tokenizer" / "vocab.txt").unlink()
    assert (
        main(["verify", str(model), "--signature", str(signature), "--key", f"{ec_key}.pub"]) == 1
    )


def test_signature_inside_the_model_interoperates(model: Path, ec_key: Path) -> None:
    inside = model / "model.sig"
    result = _run_model_signing(
        "sign", "key", str(model), "--private_key", f"{ec_key}.pem", "--signature", str(inside)
    )
    assert result.returncode == 0, result.stderr
    assert main(["verify", str(model), "-s", str(inside), "-k", f"{ec_key}.pub"]) == 0
    # kastell re-signs in place; model_signing skips the signature file the same way
    assert main(["sign", str(model), "-k", f"{ec_key}.pem", "-o", str(inside)]) == 0
    result = _run_model_signing(
        "verify", "key", str(model), "--signature", str(inside), "--public_key", f"{ec_key}.pub"
    )
    assert result.returncode == 0, result.stderr


def test_signature_by_an_encrypted_kastell_key_verifies_with_model_signing(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (model_signing 1.1.1 itself cannot sign with an encrypted key: its --password is passed
    # to cryptography as str and fails; see docs/signing.md)
    monkeypatch.setenv("KEY_PASS", "interop pass")
    prefix = tmp_path / "enc"
    assert main(["keygen", "-o", str(prefix), "--passphrase-env", "KEY_PASS"]) == 0
    signature = tmp_path / "enc.sig"
    assert (
        main(
            [
                "sign",
                str(model),
                "-k",
                f"{prefix}.pem",
                "-o",
                str(signature),
                "--passphrase-env",
                "KEY_PASS",
            ]
        )
        == 0
    )
    result = _run_model_signing(
        "verify", "key", str(model), "--signature", str(signature), "--public_key", f"{prefix}.pub"
    )
    assert result.returncode == 0, result.stderr


def test_single_file_model_interoperates(model: Path, ec_key: Path, tmp_path: Path) -> None:
    signature = tmp_path / "file.sig"
    weights = model / "model.gguf"
    assert main(["sign", str(weights), "-k", f"{ec_key}.pem", "-o", str(signature)]) == 0
    result = _run_model_signing(
        "verify",
        "key",
        str(weights),
        "--signature",
        str(signature),
        "--public_key",
        f"{ec_key}.pub",
    )
    assert result.returncode == 0, result.stderr


def test_ed25519_is_kastell_only(model: Path, tmp_path: Path) -> None:
    """model_signing 1.1.1 accepts only ECDSA P-256/P-384/P-521 keys (it reads key.curve)."""
    prefix = tmp_path / "ed"
    assert main(["keygen", "--type", "ed25519", "-o", str(prefix)]) == 0
    signature = tmp_path / "ed.sig"
    assert main(["sign", str(model), "-k", f"{prefix}.pem", "-o", str(signature)]) == 0
    assert main(["verify", str(model), "-s", str(signature), "-k", f"{prefix}.pub"]) == 0
    result = _run_model_signing(
        "verify", "key", str(model), "--signature", str(signature), "--public_key", f"{prefix}.pub"
    )
    assert result.returncode != 0
    assert "Verification failed" in result.stderr


@pytest.mark.parametrize("options", [["--shard-size", "1000"], ["--algorithm", "blake3"]])
def test_model_signing_api_verifies_shards_and_blake3(
    model: Path, ec_key: Path, tmp_path: Path, options: list[str]
) -> None:
    """Its 1.1.1 CLI always re-hashes files with sha256; its API follows the signature."""
    from model_signing import verifying

    signature = tmp_path / "variant.sig"
    assert main(["sign", str(model), "-k", f"{ec_key}.pem", "-o", str(signature), *options]) == 0
    verifier = verifying.Config().use_elliptic_key_verifier(public_key=f"{ec_key}.pub")
    verifier.verify(model, signature)
    (model / "model.gguf").write_bytes(b"GGUF tampered")
    with pytest.raises(ValueError, match="Signature mismatch"):
        verifying.Config().use_elliptic_key_verifier(public_key=f"{ec_key}.pub").verify(
            model, signature
        )


def test_kastell_verifies_model_signing_api_shard_signature(
    model: Path, ec_key: Path, tmp_path: Path
) -> None:
    from model_signing import hashing, signing

    signature = tmp_path / "upstream-shards.sig"
    config = signing.Config().use_elliptic_key_signer(private_key=f"{ec_key}.pem")
    config.set_hashing_config(hashing.Config().use_shard_serialization(shard_size=4096))
    config.sign(model, signature)
    assert main(["verify", str(model), "-s", str(signature), "-k", f"{ec_key}.pub"]) == 0
    with (model / "model.gguf").open("r+b") as handle:
        handle.seek(5000)
        handle.write(b"\xff")
    assert main(["verify", str(model), "-s", str(signature), "-k", f"{ec_key}.pub"]) == 1


def test_symlinked_model_interoperates_with_allow_symlinks(
    model: Path, ec_key: Path, tmp_path: Path
) -> None:
    (model / "alias.gguf").symlink_to("model.gguf")
    signature = tmp_path / "links.sig"
    assert (
        main(["sign", str(model), "-k", f"{ec_key}.pem", "-o", str(signature), "--allow-symlinks"])
        == 0
    )
    result = _run_model_signing(
        "verify",
        "key",
        str(model),
        "--signature",
        str(signature),
        "--public_key",
        f"{ec_key}.pub",
        "--allow_symlinks",
    )
    assert result.returncode == 0, result.stderr


_component = st.text(alphabet="aA0.-_~ ", min_size=1, max_size=5).filter(
    lambda n: n not in (".", "..") and not n.startswith(".git")
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    files=st.dictionaries(
        st.lists(_component, min_size=1, max_size=3).map("/".join),
        st.binary(max_size=40),
        min_size=1,
        max_size=6,
    ),
    shard=st.sampled_from([None, 5]),
)
def test_property_statement_equals_model_signing_payload(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes], shard: int | None
) -> None:
    """Same resources, same order and same subject digest as model_signing's own payload."""
    from google.protobuf import json_format
    from model_signing import hashing
    from model_signing._signing.signing import Payload

    from kastell.integrity.signing import Serialization, describe_model

    root = tmp_path_factory.mktemp("prop") / "model"
    for name, content in files.items():
        path = root / name
        if any(parent.is_file() for parent in path.parents) or path.is_dir():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    config = hashing.Config().set_ignored_paths(paths=[], ignore_git_paths=False)
    if shard is None:
        config.use_file_serialization()
        ours = describe_model(root)
    else:
        config.use_shard_serialization(shard_size=shard)
        ours = describe_model(root, Serialization("shards", "sha256", shard_size=shard))
    upstream = json_format.MessageToDict(Payload(config.hash(root)).statement.pb)
    mine = ours.statement()
    assert mine["subject"] == upstream["subject"]
    assert mine["predicate"]["resources"] == upstream["predicate"]["resources"]
