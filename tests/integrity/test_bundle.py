from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kastell.errors import CheckError, KastellError, UsageError, VerificationError
from kastell.integrity.bundle import (
    BUNDLE_MEDIA_TYPE,
    Bundle,
    parse_bundle,
    sign_statement,
    statement_payload,
    verify_bundle,
)
from kastell.integrity.dsse import Envelope
from kastell.integrity.interface import (
    MalformedBundleError,
    SignatureMismatchError,
    StatementError,
    UnsupportedBundleError,
)
from kastell.integrity.keys import KeyAlgorithm, PrivateKey, generate_private_key

STATEMENT: dict[str, Any] = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "dataset", "digest": {"sha256": "ab" * 32}}],
    "predicateType": "https://example.org/predicate/v1",
    "predicate": {"note": "caf\u00e9"},
}


@pytest.fixture(scope="module")
def key() -> PrivateKey:
    return generate_private_key()


@pytest.fixture(scope="module")
def signed(key: PrivateKey) -> bytes:
    return sign_statement(STATEMENT, key).to_json()


@pytest.mark.parametrize("algorithm", KeyAlgorithm.generatable())
def test_sign_and_verify_a_statement(algorithm: KeyAlgorithm) -> None:
    key = generate_private_key(algorithm)
    data = sign_statement(STATEMENT, key).to_json()
    verified = verify_bundle(data, [generate_private_key().public_key, key.public_key])
    assert verified.statement == STATEMENT
    assert verified.key_id == key.key_id
    assert verified.predicate_type == STATEMENT["predicateType"]
    assert json.loads(verified.payload) == STATEMENT


def test_bundle_layout_is_model_signing_v0_3(signed: bytes, key: PrivateKey) -> None:
    document = json.loads(signed)
    assert document["mediaType"] == BUNDLE_MEDIA_TYPE
    material = document["verificationMaterial"]
    assert material == {"publicKey": {"hint": key.key_id}, "tlogEntries": []}
    envelope = document["dsseEnvelope"]
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert json.loads(base64.b64decode(envelope["payload"])) == STATEMENT
    assert set(envelope["signatures"][0]) == {"sig", "keyid"}


def test_swapped_key_fails_verification(signed: bytes) -> None:
    with pytest.raises(SignatureMismatchError, match="not a trusted key") as caught:
        verify_bundle(signed, [generate_private_key().public_key])
    assert isinstance(caught.value, VerificationError)


def test_without_hint_every_trusted_key_is_tried(signed: bytes, key: PrivateKey) -> None:
    document = json.loads(signed)
    document["verificationMaterial"]["publicKey"] = {}
    data = json.dumps(document).encode()
    trusted = [generate_private_key().public_key, key.public_key]
    assert verify_bundle(data, trusted).key_id == key.key_id
    with pytest.raises(SignatureMismatchError, match="does not verify"):
        verify_bundle(data, [generate_private_key().public_key])


def test_tampered_payload_fails(signed: bytes, key: PrivateKey) -> None:
    document = json.loads(signed)
    statement = dict(STATEMENT, predicate={"note": "changed"})
    document["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    with pytest.raises(SignatureMismatchError, match="does not verify"):
        verify_bundle(json.dumps(document).encode(), [key.public_key])


def test_truncated_bundle_is_malformed(signed: bytes, key: PrivateKey) -> None:
    with pytest.raises(MalformedBundleError, match="not JSON") as caught:
        verify_bundle(signed[: len(signed) // 2], [key.public_key])
    assert isinstance(caught.value, CheckError)


@pytest.mark.parametrize("data", [b"", b"\xff\xfe garbage", b"hello", b"<xml/>"])
def test_bundle_that_is_not_json(data: bytes) -> None:
    with pytest.raises(MalformedBundleError, match="not JSON"):
        parse_bundle(data)


def test_deeply_nested_json_is_malformed_not_a_crash() -> None:
    with pytest.raises(MalformedBundleError):
        parse_bundle(b"[" * 100_000 + b"]" * 100_000)


@pytest.mark.parametrize(
    ("mutate", "error", "message"),
    [
        (lambda d: [d], MalformedBundleError, "not a Sigstore bundle object"),
        (lambda d: d.pop("mediaType"), MalformedBundleError, "no mediaType"),
        (lambda d: d.update(mediaType="application/x"), UnsupportedBundleError, "media type"),
        (lambda d: d.pop("verificationMaterial"), MalformedBundleError, "verificationMaterial"),
        (lambda d: d["verificationMaterial"].update(publicKey=[]), MalformedBundleError,
         "publicKey"),
        (lambda d: d["verificationMaterial"]["publicKey"].update(hint=5), MalformedBundleError,
         "hint is not a string"),
        (lambda d: d["verificationMaterial"].update(certificate={"rawBytes": "AA=="}),
         UnsupportedBundleError, "keyless"),
        (lambda d: d.pop("dsseEnvelope"), MalformedBundleError, "no dsseEnvelope"),
        (lambda d: d.update(messageSignature={}) or d.pop("dsseEnvelope"), UnsupportedBundleError,
         "message signature"),
    ],
)
def test_malformed_and_unsupported_bundles(
    signed: bytes, mutate: Any, error: type[Exception], message: str
) -> None:
    document = json.loads(signed)
    result = mutate(document)
    data = json.dumps(result if isinstance(result, list) else document).encode()
    with pytest.raises(error, match=message):
        parse_bundle(data)


def test_non_in_toto_payload_type_is_unsupported(key: PrivateKey) -> None:
    from kastell.integrity.dsse import sign_envelope

    envelope = sign_envelope(b"{}", "text/plain", key)
    data = Bundle(envelope, key.key_id).to_json()
    with pytest.raises(UnsupportedBundleError, match="not an in-toto statement"):
        verify_bundle(data, [key.public_key])


def test_signed_payload_that_is_not_a_statement_is_malformed(key: PrivateKey) -> None:
    from kastell.integrity.dsse import IN_TOTO_PAYLOAD_TYPE, sign_envelope

    data = Bundle(sign_envelope(b'{"_type": "x"}', IN_TOTO_PAYLOAD_TYPE, key), key.key_id).to_json()
    with pytest.raises(MalformedBundleError, match="not an in-toto Statement v1"):
        verify_bundle(data, [key.public_key])


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ([], "not a JSON object"),
        (dict(STATEMENT, _type="https://in-toto.io/Statement/v0.1"), "_type"),
        (dict(STATEMENT, subject=[]), "no subject list"),
        (dict(STATEMENT, subject=[{"name": "x"}]), "no digest"),
        (dict(STATEMENT, subject=[{"name": "x", "digest": {"sha256": 1}}]), "map of strings"),
        ({k: v for k, v in STATEMENT.items() if k != "predicateType"}, "no predicateType"),
        (dict(STATEMENT, predicate=[1]), "predicate is not an object"),
        (dict(STATEMENT, predicate={"x": float("nan")}), "not JSON-serializable"),
        (dict(STATEMENT, predicate={"x": object()}), "not JSON-serializable"),
    ],
)
def test_invalid_statements_are_refused_before_signing(
    key: PrivateKey, statement: Any, message: str
) -> None:
    with pytest.raises(StatementError, match=message) as caught:
        sign_statement(statement, key)
    assert isinstance(caught.value, UsageError)


def test_statement_payload_is_canonical_json() -> None:
    assert statement_payload(STATEMENT) == statement_payload(dict(reversed(STATEMENT.items())))


# --- fuzzing: the bundle parser and verifier only ever raise KastellError subclasses ---------

@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_mutated_bundles_raise_only_kastell_errors(data: st.DataObject) -> None:
    key_for_fuzz = _FUZZ_KEY.public_key
    raw = bytearray(_FUZZ_BUNDLE)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        if action == "flip":
            raw[position] ^= data.draw(st.integers(1, 255))
        elif action == "delete":
            del raw[position]
        elif action == "insert":
            raw[position:position] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del raw[position:]
        if not raw:
            raw = bytearray(b"{")
    with contextlib.suppress(KastellError):
        verify_bundle(bytes(raw), [key_for_fuzz])


_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=12) | st.just("AAAA")
_json = st.recursive(
    _leaf,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(
        st.sampled_from(["mediaType", "verificationMaterial", "publicKey", "hint",
                         "dsseEnvelope", "payload", "payloadType", "signatures", "sig"]),
        children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=_json)
def test_fuzz_structured_bundles_raise_only_kastell_errors(document: Any) -> None:
    if isinstance(document, dict):
        document.setdefault("mediaType", BUNDLE_MEDIA_TYPE)
    with contextlib.suppress(KastellError):
        verify_bundle(json.dumps(document).encode(), [_FUZZ_KEY.public_key])


def test_envelope_from_a_parsed_bundle_round_trips(signed: bytes) -> None:
    bundle = parse_bundle(signed)
    assert isinstance(bundle.envelope, Envelope)
    assert bundle.to_json() == signed


_FUZZ_KEY = generate_private_key()
_FUZZ_BUNDLE = sign_statement(STATEMENT, _FUZZ_KEY).to_json()
