"""The protect manifest parser: malformed, ambiguous or legacy manifests never pass.

Malformed (truncated, duplicate keys, unknown or missing fields, out-of-range numbers) exits 2
even when the owner signed it; any change an attacker makes without the owner's key exits 1
(the signature is checked before a field is read); a v1 folder exits 2 and says how to migrate.
"""

from __future__ import annotations

import base64
import contextlib
import json
import pathlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kastell.cli.main import main
from kastell.integrity.dsse import sign_envelope
from kastell.integrity.keys import KeyAlgorithm, generate_private_key
from kastell.protect import encrypt_tree, generate_kek_file, verify_tree
from kastell.protect.dataset import MANIFEST_NAME
from kastell.protect.interface import (
    LegacyFormatError,
    ManifestError,
    ProtectError,
    SignatureError,
)
from kastell.protect.manifest import PAYLOAD_TYPE, decode_manifest, parse_signed_manifest

OWNER = generate_private_key(KeyAlgorithm.ED25519)
TRUSTED = [OWNER.public_key]


@pytest.fixture(scope="module")
def valid(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real signed manifest (its payload lists two files)."""
    root = tmp_path_factory.mktemp("valid")
    (root / "data").mkdir()
    (root / "data" / "a.txt").write_text("a")
    (root / "data" / "b.txt").write_text("b")
    encrypt_tree(root / "data", root / "enc", generate_kek_file(root / "k"), OWNER)
    return (root / "enc" / MANIFEST_NAME).read_bytes()


def _payload(valid: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(base64.b64decode(json.loads(valid)["payload"]))
    return document


def _signed(payload: dict[str, Any] | bytes) -> bytes:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return json.dumps(sign_envelope(raw, PAYLOAD_TYPE, OWNER).to_dict()).encode()


def test_valid_manifest_parses(valid: bytes) -> None:
    manifest, signer = parse_signed_manifest(valid, TRUSTED)
    assert len(manifest.files) == 2
    assert signer.key_id == OWNER.key_id


@pytest.mark.parametrize("cut", [1, 10, 100, -2])
def test_truncated_manifest(valid: bytes, cut: int) -> None:
    with pytest.raises(ManifestError):
        parse_signed_manifest(valid[:cut], TRUSTED)


def test_duplicate_keys_in_envelope_and_payload(valid: bytes) -> None:
    envelope = json.loads(valid)
    doubled = valid.rstrip()[:-1] + b', "payloadType": "x"}'
    with pytest.raises(ManifestError, match="duplicate"):
        parse_signed_manifest(doubled, TRUSTED)
    raw = json.dumps(_payload(valid))[:-1] + ', "generation": 7}'
    with pytest.raises(ManifestError, match="duplicate"):
        parse_signed_manifest(_signed(raw.encode()), TRUSTED)
    assert envelope["payloadType"] == PAYLOAD_TYPE


@pytest.mark.parametrize("where", ["top", "file"])
def test_unknown_fields(valid: bytes, where: str) -> None:
    payload = _payload(valid)
    target = payload if where == "top" else payload["files"][0]
    target["require_timestamps"] = True
    with pytest.raises(ManifestError, match="require_timestamps"):
        parse_signed_manifest(_signed(payload), TRUSTED)
    unsigned = json.loads(valid)
    unsigned["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    with pytest.raises(SignatureError):
        parse_signed_manifest(json.dumps(unsigned).encode(), TRUSTED)
    envelope = json.loads(valid)
    envelope["note"] = "x"
    with pytest.raises(ManifestError):
        parse_signed_manifest(json.dumps(envelope).encode(), TRUSTED)


_TOP = ["format", "cipher", "chunk_size", "dataset_id", "epoch", "generation", "kek_id", "files"]
_FILE = ["path", "file_id", "plaintext_sha256", "plaintext_size", "ciphertext_sha256",
         "ciphertext_size", "chunks", "slot_sha256"]


@pytest.mark.parametrize("field", _TOP + [f"files.{name}" for name in _FILE])
def test_missing_fields(valid: bytes, field: str) -> None:
    payload = _payload(valid)
    if field.startswith("files."):
        del payload["files"][0][field.removeprefix("files.")]
    else:
        del payload[field]
    with pytest.raises(ManifestError):
        parse_signed_manifest(_signed(payload), TRUSTED)


@pytest.mark.parametrize(
    "value", [0, -1, 2**32, 2**64, 2**64 + 1, True, "2", 2.0, None, [1]]
)
@pytest.mark.parametrize("field", ["generation", "epoch"])
def test_generation_and_epoch_out_of_range(valid: bytes, field: str, value: object) -> None:
    payload = _payload(valid)
    payload[field] = value
    with pytest.raises(ManifestError):
        parse_signed_manifest(_signed(payload), TRUSTED)


@pytest.mark.parametrize(
    ("field", "value"),
    [("plaintext_size", -1), ("chunks", 0), ("file_id", "zz" * 16), ("slot_sha256", "A" * 64),
     ("ciphertext_sha256", ""), ("path", 5)],
)
def test_malformed_file_fields(valid: bytes, field: str, value: object) -> None:
    payload = _payload(valid)
    payload["files"][0][field] = value
    with pytest.raises(ManifestError):
        parse_signed_manifest(_signed(payload), TRUSTED)


def test_other_payload_type_and_empty_signatures(valid: bytes) -> None:
    payload = base64.b64decode(json.loads(valid)["payload"])
    other = sign_envelope(payload, "application/vnd.in-toto+json", OWNER).to_dict()
    with pytest.raises(ManifestError, match="payload type"):
        parse_signed_manifest(json.dumps(other).encode(), TRUSTED)
    envelope = json.loads(valid)
    envelope["signatures"] = []
    with pytest.raises(ManifestError):
        parse_signed_manifest(json.dumps(envelope).encode(), TRUSTED)


def test_extra_signature_by_an_untrusted_key_does_not_help(valid: bytes) -> None:
    payload = _payload(valid)
    payload["kek_id"] = "local:attacker"
    forged = json.loads(_signed(payload))
    intruder = generate_private_key(KeyAlgorithm.ED25519)
    forged["signatures"] = sign_envelope(
        json.dumps(payload).encode(), PAYLOAD_TYPE, intruder
    ).to_dict()["signatures"] + [dict(json.loads(valid)["signatures"][0])]
    with pytest.raises(SignatureError):
        parse_signed_manifest(json.dumps(forged).encode(), TRUSTED)


def _write_v1(root: pathlib.Path) -> None:
    root.mkdir()
    v1 = {
        "format": "kastell.protect-manifest/v1", "cipher": "AES-256-GCM", "chunk_size": 64,
        "kek_id": "local:x", "files": [],
    }
    (root / MANIFEST_NAME).write_text(json.dumps(v1))


def test_legacy_v1_folder_is_a_clear_usage_error(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_v1(tmp_path / "old")
    with pytest.raises(LegacyFormatError):
        verify_tree(tmp_path / "old", TRUSTED)
    (tmp_path / "o.pub").write_bytes(OWNER.public_key.pem())
    assert main(["protect", "verify", str(tmp_path / "old"), "--trusted-key",
                 str(tmp_path / "o.pub")]) == 2
    assert "kastell protect migrate" in capsys.readouterr().err


def test_cli_exit_codes_for_malformed_and_forged(
    valid: bytes, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "o.pub").write_bytes(OWNER.public_key.pem())
    folder = tmp_path / "enc"
    folder.mkdir()
    payload = _payload(valid)
    payload["unknown"] = 1
    cases = [(valid[: len(valid) // 2], 2), (_signed(payload), 2)]
    forged = json.loads(valid)
    forged["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    cases.append((json.dumps(forged).encode(), 1))
    for raw, code in cases:
        (folder / MANIFEST_NAME).write_bytes(raw)
        assert main(["protect", "verify", str(folder), "--trusted-key",
                     str(tmp_path / "o.pub")]) == code
    assert "Traceback" not in capsys.readouterr().err


# --- fuzz: only typed errors, whatever the bytes ----------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes(data: bytes) -> None:
    with contextlib.suppress(ProtectError):
        parse_signed_manifest(data, TRUSTED)
    with contextlib.suppress(ProtectError):
        decode_manifest(data)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(_TOP + ["x"]), _JSON, max_size=9))
def test_fuzz_signed_payloads_of_any_shape(payload: dict[str, Any]) -> None:
    """Even a payload the owner signed is parsed into a manifest or a ManifestError."""
    with contextlib.suppress(ManifestError):
        manifest, _ = parse_signed_manifest(_signed(payload), TRUSTED)
        assert manifest.generation >= 1


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.integers(0, 10**6), mask=st.integers(1, 255))
def test_fuzz_flipped_byte_never_verifies_as_other_content(
    valid: bytes, position: int, mask: int
) -> None:
    mutated = bytearray(valid)
    mutated[position % len(valid)] ^= mask
    try:
        manifest, _ = parse_signed_manifest(bytes(mutated), TRUSTED)
    except ProtectError:
        return
    # only JSON whitespace or base64 re-encodings of the same bytes may pass
    assert manifest == parse_signed_manifest(valid, TRUSTED)[0]
