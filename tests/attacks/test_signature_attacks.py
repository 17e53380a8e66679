"""Attacks on ``kastell verify``: ways a model that is not the signed one could pass.

Issue 15 hole 8 / item 3: the signer's ignore rules are the verifier's, exactly. Also special
files in place of the signature, key or passphrase, and bundles that two JSON parsers read
differently. model_signing 1.1.1 must keep verifying what kastell signs and vice versa.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kastell.cli.main import main

from ._provenance_fixtures import no_hang

FILES = {"config.json": b'{"layers": 2}', "weights.bin": bytes(range(256)) * 16}


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    root.mkdir()
    for name, content in FILES.items():
        (root / name).write_bytes(content)
    return root


@pytest.fixture
def key(tmp_path: Path) -> Path:
    prefix = tmp_path / "signer"
    assert main(["keygen", "--output", str(prefix)]) == 0
    return prefix


def _sign(model: Path, key: Path, output: Path, *options: str) -> Path:
    assert main(["sign", str(model), "-k", f"{key}.pem", "-o", str(output), *options]) == 0
    return output


def _verify(model: Path, signature: Path, key: Path, *options: str) -> int:
    return main(["verify", str(model), "-s", str(signature), "-k", f"{key}.pub", *options])


@pytest.mark.parametrize("added", [".git/evil.py", ".github/workflows/x.yml", ".gitattributes"])
def test_git_paths_added_after_a_no_ignore_git_paths_signature(
    model: Path, key: Path, tmp_path: Path, added: str
) -> None:
    signature = _sign(model, key, tmp_path / "m.sig", "--no-ignore-git-paths")
    assert _verify(model, signature, key) == 0
    (model / added).parent.mkdir(parents=True, exist_ok=True)
    (model / added).write_text("import os; os.system('id')\n")
    # the verifier applies the signer's rules, whatever its own defaults
    assert _verify(model, signature, key) == 1
    assert _verify(model, signature, key, "--ignore-git-paths") == 1


def test_git_paths_the_signer_ignored_stay_ignored(model: Path, key: Path, tmp_path: Path) -> None:
    signature = _sign(model, key, tmp_path / "m.sig")
    (model / ".git").mkdir()
    (model / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    assert _verify(model, signature, key) == 0
    # a stricter verifier may still check them
    assert _verify(model, signature, key, "--no-ignore-git-paths") == 1


def test_only_the_signed_ignore_paths_are_skipped(model: Path, key: Path, tmp_path: Path) -> None:
    (model / "notes.txt").write_text("draft")
    signature = _sign(model, key, tmp_path / "m.sig", "--ignore", "notes.txt")
    (model / "notes.txt").write_text("changed: ignored by the signer's choice")
    assert _verify(model, signature, key) == 0
    (model / "notes.txt.py").write_text("import os\n")  # a prefix is not the ignored path
    assert _verify(model, signature, key) == 1


def test_signature_file_inside_the_model_is_skipped_only_as_itself(
    model: Path, key: Path, tmp_path: Path
) -> None:
    # the signer signed a file; the verifier is then pointed at that file as "the signature"
    outside = _sign(model, key, tmp_path / "m.sig")
    (model / "config.json").write_bytes(outside.read_bytes())
    # the signed config.json is now a bundle, so it is "changed", not skipped as the signature
    assert _verify(model, model / "config.json", key) == 1


@pytest.mark.parametrize("what", ["signature", "key", "passphrase", "cache", "manifest"])
def test_fifo_inputs_do_not_hang(model: Path, key: Path, tmp_path: Path, what: str) -> None:
    fifo = tmp_path / f"{what}.fifo"
    os.mkfifo(fifo)
    with no_hang():
        if what == "signature":
            code = main(["verify", str(model), "-s", str(fifo), "-k", f"{key}.pub"])
            assert code == 3
        elif what == "key":
            signature = _sign(model, key, tmp_path / "m.sig")
            assert main(["verify", str(model), "-s", str(signature), "-k", str(fifo)]) == 2
        elif what == "passphrase":
            code = main(["sign", str(model), "-k", f"{key}.pem", "-o", str(tmp_path / "p.sig"),
                         "--passphrase-file", str(fifo)])  # fmt: skip
            assert code == 2
        elif what == "cache":
            code = main(["sign", str(model), "-k", f"{key}.pem", "-o", str(tmp_path / "c.sig"),
                         "--cache", str(fifo)])  # fmt: skip
            assert code != 0
        else:
            assert main(["manifest", str(model), "--check", str(fifo)]) != 0


def _bundle(path: Path) -> dict[str, object]:
    document: dict[str, object] = json.loads(path.read_text())
    return document


def test_duplicate_keys_in_the_signed_payload(model: Path, key: Path, tmp_path: Path) -> None:
    from kastell.integrity.dsse import pae
    from kastell.integrity.keys import read_private_key

    signature = _sign(model, key, tmp_path / "m.sig")
    envelope = _bundle(signature)["dsseEnvelope"]
    assert isinstance(envelope, dict)
    payload = base64.b64decode(envelope["payload"]).decode()
    # a second "predicate" that a first-key parser would read instead of the last
    doubled = payload.replace('"predicate":', '"predicate":{"resources":[]},"predicate":', 1)
    signer = read_private_key(Path(f"{key}.pem"))
    sig = signer.sign(pae("application/vnd.in-toto+json", doubled.encode()))
    envelope["payload"] = base64.b64encode(doubled.encode()).decode()
    envelope["signatures"] = [{"sig": base64.b64encode(sig).decode(), "keyid": signer.key_id}]
    document = _bundle(signature)
    document["dsseEnvelope"] = envelope
    signature.write_text(json.dumps(document))
    assert _verify(model, signature, key) == 3


def test_duplicate_envelope_in_the_bundle(model: Path, key: Path, tmp_path: Path) -> None:
    good = _sign(model, key, tmp_path / "good.sig").read_text()
    other_model = tmp_path / "other"
    other_model.mkdir()
    (other_model / "x.bin").write_bytes(b"other")
    other = json.loads(_sign(other_model, key, tmp_path / "other.sig").read_text())
    envelope = json.dumps(other["dsseEnvelope"])
    doubled = good.replace('"dsseEnvelope":', f'"dsseEnvelope":{envelope},"dsseEnvelope":', 1)
    (tmp_path / "doubled.sig").write_text(doubled)
    assert _verify(model, tmp_path / "doubled.sig", key) == 3


# --- interoperability with model_signing 1.1.1 stays (its ignore rules are recorded too) ------

MODEL_SIGNING = Path(sys.executable).parent / "model_signing"


def test_model_signing_cli_verifies_a_no_ignore_git_paths_signature(
    model: Path, key: Path, tmp_path: Path
) -> None:
    pytest.importorskip("model_signing")
    signature = _sign(model, key, tmp_path / "m.sig", "--no-ignore-git-paths")
    result = subprocess.run(
        [str(MODEL_SIGNING), "verify", "key", str(model), "--signature", str(signature),
         "--public_key", f"{key}.pub"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_model_signing_signature_without_git_ignores_checks_git(
    model: Path, key: Path, tmp_path: Path
) -> None:
    pytest.importorskip("model_signing")
    from model_signing import hashing, signing

    signature = tmp_path / "upstream.sig"
    config = signing.Config().use_elliptic_key_signer(private_key=f"{key}.pem")
    config.set_hashing_config(hashing.Config().set_ignored_paths(paths=[], ignore_git_paths=False))
    config.sign(model, signature)
    assert _verify(model, signature, key) == 0
    (model / ".git").mkdir()
    (model / ".git" / "evil.py").write_text("import os\n")
    assert _verify(model, signature, key) == 1


def test_subject_digest_in_an_algorithm_nobody_checks(
    model: Path, key: Path, tmp_path: Path
) -> None:
    from kastell.integrity.bundle import sign_statement
    from kastell.integrity.keys import read_private_key
    from kastell.integrity.signing import describe_model

    statement = describe_model(model).statement()
    # a second subject digest that other documents might refer to, never recomputed
    statement["subject"][0]["digest"]["sha512"] = "0" * 128
    signature = tmp_path / "two-digests.sig"
    signature.write_bytes(
        sign_statement(statement, read_private_key(Path(f"{key}.pem"))).to_json()
    )
    assert _verify(model, signature, key) == 3
