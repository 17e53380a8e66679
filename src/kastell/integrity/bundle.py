"""Sigstore bundle v0.3 with a DSSE envelope over an in-toto Statement v1: the generic API.

This is the format OpenSSF Model Signing writes for key-based signatures::

    {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
     "verificationMaterial": {"publicKey": {"hint": KEY_ID}, "tlogEntries": []},
     "dsseEnvelope": {"payload": B64(STATEMENT_JSON),
                      "payloadType": "application/vnd.in-toto+json",
                      "signatures": [{"sig": B64(SIG over PAE), "keyid": KEY_ID}]}}

``KEY_ID`` is the hex SHA-256 of the signer's SubjectPublicKeyInfo PEM. Any capability can sign
its own statements with ``sign_statement`` and check them with ``verify_bundle``; model
signatures (``signing.py``/``verify.py``) are one predicate on top of it. Keyless (certificate
and transparency-log) bundles are recognised and refused: they need the network.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from kastell._untrusted import load_json
from kastell.integrity.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, sign_envelope, verify_envelope
from kastell.integrity.interface import (
    MalformedBundleError,
    Signer,
    StatementError,
    UnsupportedBundleError,
    VerifiedStatement,
)
from kastell.integrity.keys import PublicKey

__all__ = [
    "BUNDLE_MEDIA_TYPE",
    "IN_TOTO_STATEMENT_TYPE",
    "Bundle",
    "parse_bundle",
    "sign_statement",
    "statement_payload",
    "verify_bundle",
]

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
"""The media type written; the only one model_signing 1.1.1 accepts."""

IN_TOTO_STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
"""The ``_type`` of an in-toto Statement v1."""

_ACCEPTED_MEDIA_TYPES = (BUNDLE_MEDIA_TYPE, "application/vnd.dev.sigstore.bundle+json;version=0.3")
_KEYLESS_MATERIAL = ("x509CertificateChain", "certificate")
_MAX_BUNDLE_BYTES = 512 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Bundle:
    """A key-based Sigstore bundle holding one DSSE envelope.

    Attributes:
        envelope: the DSSE envelope.
        key_hint: the signing key's id from ``verificationMaterial.publicKey.hint`` (may be
            ``None`` in bundles of old signers).
        media_type: the bundle media type.
    """

    envelope: Envelope
    key_hint: str | None
    media_type: str = BUNDLE_MEDIA_TYPE

    def to_json(self) -> bytes:
        """Serialize as model_signing does (compact JSON, same member order)."""
        public_key: dict[str, Any] = {"hint": self.key_hint} if self.key_hint else {}
        document = {
            "mediaType": self.media_type,
            "verificationMaterial": {"publicKey": public_key, "tlogEntries": []},
            "dsseEnvelope": self.envelope.to_dict(),
        }
        return json.dumps(document, separators=(",", ":")).encode("utf-8")


def parse_bundle(data: bytes) -> Bundle:
    """Parse a bundle's JSON without checking any signature.

    Raises:
        MalformedBundleError: not JSON, truncated, or not a bundle with a DSSE envelope.
        UnsupportedBundleError: a keyless bundle, a message-signature bundle or another version.
    """
    if len(data) > _MAX_BUNDLE_BYTES:
        raise MalformedBundleError(f"the signature file is {len(data)} bytes, too large")
    try:
        document = load_json(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedBundleError(
            f"the signature file is not JSON (truncated or corrupt?): {error}"
        ) from None
    except RecursionError:
        raise MalformedBundleError("the signature file nests JSON too deeply") from None
    if not isinstance(document, dict):
        raise MalformedBundleError("the signature file is JSON but not a Sigstore bundle object")
    media_type = document.get("mediaType")
    if not isinstance(media_type, str):
        raise MalformedBundleError("the bundle has no mediaType")
    if media_type not in _ACCEPTED_MEDIA_TYPES:
        raise UnsupportedBundleError(
            f"unsupported bundle media type {media_type[:100]!r}",
            hint=f"Kastell reads {BUNDLE_MEDIA_TYPE} bundles (OpenSSF Model Signing 1.x).",
        )
    material = document.get("verificationMaterial")
    if not isinstance(material, dict):
        raise MalformedBundleError("the bundle has no verificationMaterial object")
    if any(name in material for name in _KEYLESS_MATERIAL):
        raise UnsupportedBundleError(
            "this is a keyless (certificate) Sigstore bundle; kastell verifies key-based "
            "signatures offline only",
            hint="Verify it with `model_signing verify sigstore`, or re-sign with a key.",
        )
    return Bundle(
        envelope=_parse_envelope(document),
        key_hint=_parse_hint(material),
        media_type=media_type,
    )


def _parse_hint(material: Mapping[str, Any]) -> str | None:
    public_key = material.get("publicKey")
    if public_key is None:
        return None
    if not isinstance(public_key, dict):
        raise MalformedBundleError("the bundle's verificationMaterial.publicKey is not an object")
    hint = public_key.get("hint")
    if hint is None or hint == "":
        return None
    if not isinstance(hint, str):
        raise MalformedBundleError("the bundle's publicKey.hint is not a string")
    return hint


def _parse_envelope(document: Mapping[str, Any]) -> Envelope:
    if "dsseEnvelope" not in document:
        if "messageSignature" in document:
            raise UnsupportedBundleError(
                "the bundle holds a message signature, not a DSSE envelope",
                hint="Kastell checks DSSE-signed in-toto statements (OpenSSF Model Signing).",
            )
        raise MalformedBundleError("the bundle has no dsseEnvelope")
    return Envelope.from_dict(document["dsseEnvelope"])


def statement_payload(statement: Mapping[str, Any]) -> bytes:
    """Check an in-toto Statement v1 and serialize it as the bytes to sign.

    Raises:
        StatementError: the mapping is not a Statement v1 or not JSON-serializable.
    """
    problem = _statement_problem(statement)
    if problem:
        raise StatementError(f"cannot sign: {problem}")
    try:
        text = json.dumps(statement, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise StatementError(
            f"cannot sign: the statement is not JSON-serializable: {error}"
        ) from None
    return text.encode("utf-8")


def _statement_problem(statement: object) -> str | None:
    if not isinstance(statement, Mapping):
        return "the statement is not a JSON object"
    if statement.get("_type") != IN_TOTO_STATEMENT_TYPE:
        return f"the statement's _type is not {IN_TOTO_STATEMENT_TYPE}"
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        return "the statement has no subject list"
    for subject in subjects:
        if not isinstance(subject, Mapping):
            return "a subject is not an object"
        digest = subject.get("digest")
        if not isinstance(digest, Mapping) or not digest:
            return "a subject has no digest"
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in digest.items()):
            return "a subject digest is not a map of strings"
    predicate_type = statement.get("predicateType")
    if not isinstance(predicate_type, str) or not predicate_type:
        return "the statement has no predicateType"
    if "predicate" in statement and not isinstance(statement["predicate"], Mapping):
        return "the statement's predicate is not an object"
    return None


def sign_statement(statement: Mapping[str, Any], signer: Signer) -> Bundle:
    """Sign an in-toto Statement v1 into a bundle (``bundle.to_json()`` gives the file).

    Raises:
        StatementError: ``statement`` is not a valid Statement v1.
    """
    envelope = sign_envelope(statement_payload(statement), IN_TOTO_PAYLOAD_TYPE, signer)
    return Bundle(envelope=envelope, key_hint=signer.key_id)


def verify_bundle(
    bundle: bytes | Bundle, trusted_keys: Sequence[PublicKey]
) -> VerifiedStatement:
    """Check a bundle's signature against trusted keys and return its statement.

    Args:
        bundle: the bundle file's bytes, or a parsed ``Bundle``.
        trusted_keys: the public keys allowed to sign.

    Raises:
        MalformedBundleError: the bundle or its statement is malformed.
        UnsupportedBundleError: a bundle kastell cannot check offline.
        SignatureMismatchError: no trusted key signed it, or the signature is invalid.
    """
    parsed = parse_bundle(bundle) if isinstance(bundle, bytes) else bundle
    envelope = parsed.envelope
    key = verify_envelope(envelope, trusted_keys, key_hint=parsed.key_hint)
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise UnsupportedBundleError(
            f"the envelope carries {envelope.payload_type[:100]!r}, not an in-toto statement"
        )
    try:
        statement = load_json(envelope.payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise MalformedBundleError("the signed payload is not JSON") from None
    problem = _statement_problem(statement)
    if problem:
        raise MalformedBundleError(f"the signed payload is not an in-toto Statement v1: {problem}")
    return VerifiedStatement(
        statement=statement,
        key_id=key.key_id,
        predicate_type=statement["predicateType"],
        payload=envelope.payload,
    )
