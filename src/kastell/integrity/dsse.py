"""DSSE (Dead Simple Signing Envelope) v1: pre-authentication encoding, sign, parse, verify.

An envelope carries a payload, its type and one or more signatures over
``PAE(payloadType, payload)``::

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

where ``LEN`` is the byte length in ASCII decimal and ``SP`` a single space. In JSON the
payload and each signature are base64 (standard or URL-safe alphabet accepted on input;
standard with padding written), as the DSSE protocol specifies.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from kastell.integrity.interface import MalformedBundleError, SignatureMismatchError, Signer
from kastell.integrity.keys import PublicKey

__all__ = [
    "IN_TOTO_PAYLOAD_TYPE",
    "Envelope",
    "EnvelopeSignature",
    "pae",
    "sign_envelope",
    "verify_envelope",
]

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
"""The DSSE payload type of an in-toto Statement."""

_MAX_SIGNATURES = 64


def pae(payload_type: str, payload: bytes) -> bytes:
    """Return the DSSE v1 pre-authentication encoding of a payload (what is signed)."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


@dataclasses.dataclass(frozen=True)
class EnvelopeSignature:
    """One signature of an envelope: raw signature bytes and an optional key id."""

    sig: bytes
    keyid: str = ""


@dataclasses.dataclass(frozen=True)
class Envelope:
    """A DSSE envelope.

    Attributes:
        payload: the signed bytes (for in-toto, a JSON Statement).
        payload_type: media type of the payload.
        signatures: the signatures over ``pae(payload_type, payload)``.
    """

    payload: bytes
    payload_type: str
    signatures: tuple[EnvelopeSignature, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (as in a Sigstore bundle's ``dsseEnvelope``)."""
        return {
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "payloadType": self.payload_type,
            "signatures": [
                {"sig": base64.b64encode(s.sig).decode("ascii"), "keyid": s.keyid}
                for s in self.signatures
            ],
        }

    @classmethod
    def from_dict(cls, document: object) -> Envelope:
        """Parse the JSON form; every deviation is a ``MalformedBundleError``."""
        if not isinstance(document, Mapping):
            raise MalformedBundleError("the DSSE envelope is not a JSON object")
        payload = _b64(_field(document, "payload", str), "payload")
        payload_type = _field(document, "payloadType", str)
        raw_signatures = _field(document, "signatures", list)
        if not raw_signatures:
            raise MalformedBundleError("the DSSE envelope has no signatures")
        if len(raw_signatures) > _MAX_SIGNATURES:
            raise MalformedBundleError(f"the DSSE envelope has {len(raw_signatures)} signatures")
        signatures = []
        for raw in raw_signatures:
            if not isinstance(raw, Mapping):
                raise MalformedBundleError("a DSSE signature is not a JSON object")
            keyid = raw.get("keyid", "")
            if keyid is None:
                keyid = ""
            if not isinstance(keyid, str):
                raise MalformedBundleError("a DSSE signature's keyid is not a string")
            sig = _b64(_field(raw, "sig", str), "signature")
            if not sig:
                raise MalformedBundleError("a DSSE signature is empty")
            signatures.append(EnvelopeSignature(sig=sig, keyid=keyid))
        return cls(payload=payload, payload_type=payload_type, signatures=tuple(signatures))


def _field(document: Mapping[str, Any], name: str, kind: type) -> Any:
    value = document.get(name)
    if not isinstance(value, kind):
        expected = "a string" if kind is str else "a list"
        raise MalformedBundleError(f"the DSSE envelope's {name!r} is missing or not {expected}")
    return value


def _b64(text: str, what: str) -> bytes:
    alphabet = b"-_" if ("-" in text or "_" in text) else b"+/"
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, altchars=alphabet, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedBundleError(f"the DSSE {what} is not valid base64") from None


def sign_envelope(payload: bytes, payload_type: str, signer: Signer) -> Envelope:
    """Sign ``payload`` into a one-signature envelope whose keyid is the signer's key id."""
    signature = signer.sign(pae(payload_type, payload))
    return Envelope(
        payload=payload,
        payload_type=payload_type,
        signatures=(EnvelopeSignature(sig=signature, keyid=signer.key_id),),
    )


def verify_envelope(
    envelope: Envelope, trusted_keys: Sequence[PublicKey], *, key_hint: str | None = None
) -> PublicKey:
    """Return the trusted key that made one of the envelope's signatures.

    Args:
        envelope: the envelope to check.
        trusted_keys: the public keys allowed to sign.
        key_hint: id of the signing key named outside the envelope (a bundle's
            ``publicKey.hint``); when given, only that key is tried.

    Raises:
        SignatureMismatchError: no trusted key made a valid signature.
    """
    candidates = list(trusted_keys)
    if key_hint:
        candidates = [key for key in candidates if key.key_id == key_hint]
        if not candidates:
            ids = ", ".join(key.key_id[:16] for key in trusted_keys) or "none"
            raise SignatureMismatchError(
                f"signed by key {key_hint[:16]}..., which is not a trusted key (given: {ids})",
                hint="Pass the public key that matches the signing key, or distrust the model.",
            )
    data = pae(envelope.payload_type, envelope.payload)
    for signature in envelope.signatures:
        for key in candidates:
            if key.verify(signature.sig, data):
                return key
    raise SignatureMismatchError(
        "the signature does not verify with the trusted key(s): the signed content or the "
        "signature was altered, or another key signed it",
        hint="Do not trust this artefact; obtain a fresh signature from its publisher.",
    )
