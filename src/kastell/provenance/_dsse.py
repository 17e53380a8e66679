"""Bridge from provenance to the integrity signing API (DSSE envelopes in Sigstore bundles).

``kastell.integrity`` owns keys, DSSE and bundles; provenance adds co-signing (several
signatures on one envelope, so an ``all_of`` trust rule can be met by one statement) and reads
envelopes without judging them, leaving that to a trust policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kastell.errors import KastellError
from kastell.integrity.bundle import Bundle, parse_bundle, statement_payload
from kastell.integrity.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, EnvelopeSignature, pae
from kastell.integrity.interface import Signer
from kastell.integrity.keys import PrivateKey, PublicKey, read_private_key, read_public_key
from kastell.provenance.interface import ProvenanceUsageError, StatementFormatError

INTOTO_PAYLOAD_TYPE = IN_TOTO_PAYLOAD_TYPE

__all__ = [
    "INTOTO_PAYLOAD_TYPE",
    "PrivateKey",
    "PublicKey",
    "load_private_key",
    "load_public_key",
    "open_envelope",
    "pae",
    "sign_bundle",
]


def load_private_key(path: Path) -> PrivateKey:
    """Read a PEM private key (integrity's loader and errors)."""
    return read_private_key(path)


def load_public_key(path: Path) -> PublicKey:
    """Read a PEM public key (integrity's loader and errors)."""
    return read_public_key(path)


def sign_bundle(statement: Mapping[str, Any], signers: Sequence[Signer]) -> bytes:
    """Sign ``statement`` with every signer into one envelope; return the bundle JSON bytes."""
    if not signers:
        raise ProvenanceUsageError("no signing key given", hint="Pass --key at least once.")
    payload = statement_payload(statement)
    message = pae(INTOTO_PAYLOAD_TYPE, payload)
    signatures = tuple(EnvelopeSignature(sig=s.sign(message), keyid=s.key_id) for s in signers)
    envelope = Envelope(payload=payload, payload_type=INTOTO_PAYLOAD_TYPE, signatures=signatures)
    return Bundle(envelope=envelope, key_hint=signers[0].key_id).to_json()


def open_envelope(raw: bytes, source: str) -> tuple[str, bytes, tuple[tuple[str, bytes], ...]]:
    """Return ``(payload_type, payload, signatures)`` of a bundle; signatures are not checked."""
    try:
        bundle = parse_bundle(raw)
    except KastellError as error:
        raise StatementFormatError(
            f"{source}: {error.message}", hint=error.diagnostics()
        ) from error
    envelope = bundle.envelope
    signatures = tuple((s.keyid, s.sig) for s in envelope.signatures)
    return envelope.payload_type, envelope.payload, signatures
