from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kastell.errors import KastellError
from kastell.integrity.dsse import (
    IN_TOTO_PAYLOAD_TYPE,
    Envelope,
    EnvelopeSignature,
    pae,
    sign_envelope,
    verify_envelope,
)
from kastell.integrity.interface import MalformedBundleError, SignatureMismatchError
from kastell.integrity.keys import KeyAlgorithm, PrivateKey, generate_private_key


@pytest.fixture(scope="module")
def key() -> PrivateKey:
    return generate_private_key()


def test_pae_matches_the_dsse_protocol_example() -> None:
    # The worked example of the DSSE v1 protocol document.
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters() -> None:
    assert pae("t\u00e9", b"\x00\xff") == b"DSSEv1 3 t\xc3\xa9 2 \x00\xff"


@pytest.mark.parametrize("algorithm", KeyAlgorithm.generatable())
def test_sign_then_verify_returns_the_signing_key(algorithm: KeyAlgorithm) -> None:
    key = generate_private_key(algorithm)
    envelope = sign_envelope(b'{"a":1}', IN_TOTO_PAYLOAD_TYPE, key)
    assert envelope.signatures[0].keyid == key.key_id
    assert verify_envelope(envelope, [key.public_key]) == key.public_key
    parsed = Envelope.from_dict(envelope.to_dict())
    assert parsed == envelope


def test_payload_type_is_signed(key: PrivateKey) -> None:
    envelope = sign_envelope(b"{}", IN_TOTO_PAYLOAD_TYPE, key)
    forged = Envelope(envelope.payload, "text/plain", envelope.signatures)
    with pytest.raises(SignatureMismatchError, match="does not verify"):
        verify_envelope(forged, [key.public_key])


def test_a_key_hint_naming_an_untrusted_key_fails_before_any_crypto(key: PrivateKey) -> None:
    envelope = sign_envelope(b"{}", IN_TOTO_PAYLOAD_TYPE, key)
    with pytest.raises(SignatureMismatchError, match="not a trusted key"):
        verify_envelope(envelope, [key.public_key], key_hint="ab" * 32)


def test_any_of_several_signatures_may_verify(key: PrivateKey) -> None:
    good = sign_envelope(b"{}", IN_TOTO_PAYLOAD_TYPE, key).signatures[0]
    envelope = Envelope(b"{}", IN_TOTO_PAYLOAD_TYPE, (EnvelopeSignature(b"\x01" * 70), good))
    assert verify_envelope(envelope, [key.public_key]) == key.public_key


def test_url_safe_unpadded_base64_is_accepted(key: PrivateKey) -> None:
    envelope = sign_envelope(b"\xfb\xff payload", IN_TOTO_PAYLOAD_TYPE, key)
    document = envelope.to_dict()
    document["payload"] = base64.urlsafe_b64encode(envelope.payload).decode().rstrip("=")
    assert Envelope.from_dict(document).payload == envelope.payload


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "not a JSON object"),
        ({"payloadType": "t", "signatures": [{"sig": "AA=="}]}, "'payload' is missing"),
        ({"payload": "e30=", "signatures": [{"sig": "AA=="}]}, "'payloadType' is missing"),
        ({"payload": "e30=", "payloadType": "t", "signatures": []}, "no signatures"),
        ({"payload": "e30=", "payloadType": "t", "signatures": ["x"]}, "not a JSON object"),
        (
            {"payload": "!!", "payloadType": "t", "signatures": [{"sig": "AA=="}]},
            "not valid base64",
        ),
        ({"payload": "e30=", "payloadType": "t", "signatures": [{"sig": ""}]}, "is empty"),
        (
            {"payload": "e30=", "payloadType": "t", "signatures": [{"sig": "AA==", "keyid": 3}]},
            "keyid is not a string",
        ),
    ],
)
def test_malformed_envelopes(document: Any, message: str) -> None:
    with pytest.raises(MalformedBundleError, match=message):
        Envelope.from_dict(document)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["payload", "payloadType", "signatures", "sig", "keyid"])
            | st.text(max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=_json)
def test_fuzz_envelope_parser_raises_only_kastell_errors(document: Any) -> None:
    try:
        envelope = Envelope.from_dict(document)
    except KastellError:
        return
    assert isinstance(envelope.payload, bytes)
    assert envelope.signatures
