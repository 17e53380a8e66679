"""Deployment statements: which model is served where, behind which guard policy.

Predicate type ``https://kastell.dev/attestation/deployment/v1``. The subject is the served
model's digest; the predicate binds it to an endpoint, a guard policy digest and a residency
declaration, and points at the model signature and the training provenance so
``verify-chain`` can walk upstream.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from kastell import __version__
from kastell.provenance.interface import ProvenanceUsageError
from kastell.provenance.statement import DEPLOYMENT_PREDICATE_TYPE, build_statement, digest_set
from kastell.types import Digest, Subject

__all__ = ["Reference", "Residency", "build_deployment_statement"]

_RESIDENCY_PARTS = ("weights", "data", "keys")
_PLACE_FIELDS = ("country", "provider", "jurisdiction")


@dataclasses.dataclass(frozen=True)
class Reference:
    """A pointer to another attestation file: path relative to the statement, and its SHA-256."""

    uri: str
    digest: Digest

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (an in-toto ResourceDescriptor subset)."""
        return {"uri": self.uri, "digest": digest_set(self.digest)}


@dataclasses.dataclass(frozen=True)
class Residency:
    """Where the weights, the data and the keys live.

    Each part maps to ``{"country": ISO 3166 alpha-2, "provider": ..., "jurisdiction": ...}``.
    """

    places: Mapping[str, Mapping[str, str]]

    @classmethod
    def parse(cls, document: Any, source: str = "residency") -> Residency:
        """Validate a residency declaration document."""
        if not isinstance(document, Mapping):
            raise ProvenanceUsageError(f"{source}: residency must be a mapping")
        places: dict[str, dict[str, str]] = {}
        for part in _RESIDENCY_PARTS:
            place = document.get(part)
            if not isinstance(place, Mapping) or not all(
                isinstance(place.get(f), str) and place.get(f) for f in _PLACE_FIELDS
            ):
                raise ProvenanceUsageError(
                    f"{source}: residency of {part!r} needs country, provider and jurisdiction",
                    hint="Declare weights, data and keys, each with country (ISO 3166 alpha-2), "
                    "provider and jurisdiction.",
                )
            extra = sorted(str(f) for f in place if f not in _PLACE_FIELDS)
            if extra:
                raise ProvenanceUsageError(
                    f"{source}: unknown field(s) {extra} in the residency of {part!r}",
                    hint="A place has exactly country, provider and jurisdiction.",
                )
            country = str(place["country"])
            if len(country) != 2 or not country.isalpha() or not country.isupper():
                raise ProvenanceUsageError(
                    f"{source}: country {country!r} of {part!r} is not an ISO 3166 alpha-2 code",
                    hint="Use two capital letters, e.g. DE or FR.",
                )
            places[part] = {f: str(place[f]) for f in _PLACE_FIELDS}
        unknown = set(document) - set(_RESIDENCY_PARTS)
        if unknown:
            raise ProvenanceUsageError(
                f"{source}: unknown residency part(s) {sorted(unknown)}",
                hint="Only weights, data and keys are declared.",
            )
        return cls(places)


def build_deployment_statement(
    model: Subject,
    *,
    endpoint: str,
    guard_policy: Digest | None,
    residency: Residency,
    model_signature: Reference | None,
    training: Reference | None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> dict[str, Any]:
    """The (unsigned) deployment statement."""
    if not endpoint:
        raise ProvenanceUsageError("an endpoint is required", hint="Pass --endpoint URL.")
    predicate: dict[str, Any] = {
        "endpoint": endpoint,
        "guardPolicy": {"digest": digest_set(guard_policy)} if guard_policy else None,
        "residency": {part: dict(place) for part, place in residency.places.items()},
        "modelSignature": model_signature.to_dict() if model_signature else None,
        "training": training.to_dict() if training else None,
        "deployedAt": clock().astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "attestor": f"kastell {__version__}",
    }
    return build_statement([model], DEPLOYMENT_PREDICATE_TYPE, predicate)
