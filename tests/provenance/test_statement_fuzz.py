"""Statement bundles are untrusted input: parsing never fails with anything but our errors."""

from __future__ import annotations

import base64
import contextlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.errors import KastellError
from kastell.provenance.statement import parse_signed_statement

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=300))
def test_random_bytes(raw: bytes) -> None:
    with contextlib.suppress(KastellError):
        parse_signed_statement(raw, "fuzz")


@settings(max_examples=200, deadline=2000)
@given(_json, st.sampled_from(["https://in-toto.io/Statement/v1", "x"]))
def test_random_statement_in_valid_envelope(statement: object, type_: str) -> None:
    if isinstance(statement, dict):
        statement.setdefault("_type", type_)
        statement.setdefault("predicateType", "https://slsa.dev/provenance/v1")
    payload = base64.b64encode(json.dumps(statement).encode()).decode()
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": "00"}},
        "dsseEnvelope": {
            "payload": payload,
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"sig": "AAAA", "keyid": "00"}],
        },
    }
    with contextlib.suppress(KastellError):
        parse_signed_statement(json.dumps(bundle).encode(), "fuzz")
