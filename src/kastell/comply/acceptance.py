"""Signed risk acceptances: who accepted which finding, why, and until when.

A file of acceptances (YAML, strict: unknown fields and duplicate keys are errors) is signed as an
in-toto Statement v1 in a DSSE bundle with the same keys as every other Kastell statement; its
subject is the deployment descriptor (name and SHA-256 of its bytes), so an acceptance binds
that exact descriptor - change the scope, the appetite or anything else and it must be signed
again. ``verify_acceptances`` checks the signature against trusted keys and the digest against
the descriptor; anything short of that accepts nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from kastell.comply._yaml import strict_yaml
from kastell.comply.interface import DescriptorError

__all__ = [
    "ACCEPTANCE_PREDICATE",
    "Acceptance",
    "AcceptanceProblem",
    "acceptance_statement",
    "parse_acceptances",
    "verify_acceptances",
]

ACCEPTANCE_PREDICATE = "https://kastell.dev/risk-acceptance/v1"
_FIELDS = {"finding", "accepted_by", "role", "reason", "until"}


@dataclasses.dataclass(frozen=True)
class Acceptance:
    """One accepted risk."""

    finding: str
    """The verdict item id (e.g. ``redteam:insecure_output``, ``control:NIS2-21.2.c``)."""
    accepted_by: str
    role: str
    reason: str
    until: dt.date
    key_id: str = ""
    """The key that signed the acceptance file (set by ``verify_acceptances``)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the signed predicate entry)."""
        return {"finding": self.finding, "accepted_by": self.accepted_by, "role": self.role,
                "reason": self.reason, "until": self.until.isoformat()}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class AcceptanceProblem:
    """Why the acceptance file accepts nothing (bad signature, other descriptor, ...)."""

    message: str


def _entry(raw: object, index: int, source: str) -> Acceptance:
    where = f"{source}: acceptances[{index}]"
    if not isinstance(raw, Mapping):
        raise DescriptorError(f"{where} is not a mapping")
    unknown, missing = set(raw) - _FIELDS, _FIELDS - set(raw)
    if unknown or missing:
        raise DescriptorError(f"{where}: unknown {sorted(unknown)} / missing {sorted(missing)}")
    texts = {k: raw[k] for k in _FIELDS - {"until"}}
    if not all(isinstance(v, str) and v.strip() for v in texts.values()):
        raise DescriptorError(f"{where}: finding, accepted_by, role and reason must be text")
    until = raw["until"]
    if isinstance(until, str):
        try:
            until = dt.date.fromisoformat(until)
        except ValueError:
            until = None
    if not isinstance(until, dt.date) or isinstance(until, dt.datetime):
        raise DescriptorError(f"{where}: until must be a date (YYYY-MM-DD)")
    if len(str(raw["reason"]).strip()) < 10:
        raise DescriptorError(f"{where}: give a reason (at least a sentence)")
    return Acceptance(str(raw["finding"]).strip(), str(raw["accepted_by"]).strip(),
                      str(raw["role"]).strip(), str(raw["reason"]).strip(), until)  # fmt: skip


def parse_acceptances(raw: object, source: str = "acceptances") -> tuple[Acceptance, ...]:
    """Validate ``{acceptances: [...]}`` (parsed YAML or the signed predicate)."""
    if not isinstance(raw, Mapping) or set(raw) != {"acceptances"}:
        raise DescriptorError(f"{source}: expected exactly one key, acceptances")
    entries = raw["acceptances"]
    if not isinstance(entries, list) or not entries:
        raise DescriptorError(f"{source}: acceptances must be a non-empty list")
    parsed = tuple(_entry(e, i, source) for i, e in enumerate(entries))
    ids = [a.finding for a in parsed]
    if len(set(ids)) != len(ids):
        raise DescriptorError(f"{source}: a finding is accepted twice")
    return parsed


def acceptance_statement(yaml_text: str, descriptor_name: str,
                         descriptor_bytes: bytes) -> dict[str, Any]:  # fmt: skip
    """The in-toto Statement to sign for an acceptance file and the descriptor it binds."""
    try:
        raw = strict_yaml(yaml_text)
    except yaml.YAMLError as error:
        raise DescriptorError(f"the acceptance file is not valid YAML: {error}") from None
    accepted = parse_acceptances(raw)
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": descriptor_name,
                     "digest": {"sha256": hashlib.sha256(descriptor_bytes).hexdigest()}}],
        "predicateType": ACCEPTANCE_PREDICATE,
        "predicate": {"acceptances": [a.to_dict() for a in accepted]},
    }  # fmt: skip


def verify_acceptances(
    bundle: bytes, trusted_keys: Sequence[Any], descriptor_sha256: str
) -> tuple[Acceptance, ...] | AcceptanceProblem:
    """The acceptances of a signed bundle, or why none count."""
    from kastell.errors import KastellError
    from kastell.integrity.bundle import verify_bundle

    try:
        verified = verify_bundle(bundle, trusted_keys)
    except KastellError as error:
        return AcceptanceProblem(f"the risk acceptances do not verify: {error.message}")
    if verified.predicate_type != ACCEPTANCE_PREDICATE:
        return AcceptanceProblem(f"the signed statement is a {verified.predicate_type}")
    subjects = verified.statement.get("subject", [])
    digests = [s.get("digest", {}).get("sha256") for s in subjects if isinstance(s, Mapping)]
    if len(subjects) != 1 or digests != [descriptor_sha256]:
        return AcceptanceProblem(
            "the risk acceptances were signed for another version of the descriptor "
            "(its SHA-256 differs): sign them again after reviewing the change"
        )
    try:
        accepted = parse_acceptances(verified.statement.get("predicate"), "signed acceptances")
    except DescriptorError as error:
        return AcceptanceProblem(error.message)
    return tuple(dataclasses.replace(a, key_id=verified.key_id) for a in accepted)
