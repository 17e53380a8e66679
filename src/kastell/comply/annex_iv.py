"""An AI Act Annex IV technical documentation skeleton, pre-filled from the recorded evidence.

Each section lists what the evidence already shows (with digests) and what a person still has to
write. Nothing is invented: a section without evidence says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from kastell.comply.interface import StoredEvidence
from kastell.types import EvidenceKind

__all__ = ["ANNEX_IV_SECTIONS", "AnnexSection", "AnnexSectionSpec", "annex_iv_skeleton"]


@dataclasses.dataclass(frozen=True)
class AnnexSectionSpec:
    """One Annex IV point: what it covers and which evidence kinds speak to it."""

    point: str
    title: str
    asks_for: str
    kinds: tuple[EvidenceKind, ...]


@dataclasses.dataclass(frozen=True)
class AnnexSection:
    """A pre-filled section: the facts from evidence and what is left to write."""

    spec: AnnexSectionSpec
    facts: tuple[str, ...]
    to_write: str


K = EvidenceKind
ANNEX_IV_SECTIONS: tuple[AnnexSectionSpec, ...] = (
    AnnexSectionSpec("1", "General description of the AI system",
                     "intended purpose, provider, versions, interaction with other systems, "
                     "forms of distribution, hardware, instructions for use",
                     (K.MODEL_SIGNATURE, K.AI_BOM, K.DOCUMENTATION)),
    AnnexSectionSpec("2(a)-(c)", "Development process, design and architecture",
                     "methods and steps of development incl. pre-trained models used, design "
                     "choices, system architecture and computational resources",
                     (K.PROVENANCE_ATTESTATION, K.AI_BOM, K.MODEL_SIGNATURE)),
    AnnexSectionSpec("2(d)", "Data requirements and datasheets",
                     "training data sets, provenance, scope, characteristics, how obtained and "
                     "selected, labelling and cleaning",
                     (K.DATASET_MANIFEST, K.PROVENANCE_ATTESTATION)),
    AnnexSectionSpec("2(e)", "Human oversight measures",
                     "assessment of the human oversight measures needed (Art. 14)",
                     (K.HUMAN_OVERSIGHT_PROCEDURE, K.GUARD_POLICY)),
    AnnexSectionSpec("2(f)", "Changes to the system",
                     "pre-determined changes to the system and its performance, with the "
                     "technical solutions that keep it compliant",
                     (K.PROVENANCE_ATTESTATION, K.ROBUSTNESS_REGRESSION, K.DOCUMENTATION)),
    AnnexSectionSpec("2(g)", "Validation and testing",
                     "validation and testing procedures, metrics (accuracy, robustness), test "
                     "logs and reports, dated and signed",
                     (K.REDTEAM_REPORT, K.ROBUSTNESS_REGRESSION, K.MODEL_FILE_SCAN)),
    AnnexSectionSpec("2(h)", "Cybersecurity measures",
                     "cybersecurity measures put in place (Art. 15(5))",
                     (K.MODEL_SIGNATURE, K.MODEL_FILE_SCAN, K.GUARD_POLICY, K.ACCESS_CONTROL,
                      K.RESIDENCY_POLICY)),
    AnnexSectionSpec("3", "Monitoring, functioning and control",
                     "capabilities and limitations in performance, foreseeable unintended "
                     "outcomes, input data specifications",
                     (K.REDTEAM_REPORT, K.GUARD_EVENTS, K.AUDIT_LOG)),
    AnnexSectionSpec("4", "Appropriateness of the performance metrics",
                     "why the chosen performance metrics suit this AI system",
                     (K.ROBUSTNESS_REGRESSION, K.REDTEAM_REPORT, K.DOCUMENTATION)),
    AnnexSectionSpec("5", "Risk management system", "description of the Art. 9 risk process",
                     (K.DOCUMENTATION, K.REDTEAM_REPORT, K.INCIDENT_RECORD)),
    AnnexSectionSpec("6", "Relevant changes over the lifecycle",
                     "changes the provider made to the system through its lifecycle",
                     (K.PROVENANCE_ATTESTATION, K.MODEL_SIGNATURE, K.AI_BOM)),
    AnnexSectionSpec("7", "Harmonised standards and other specifications",
                     "the harmonised standards applied (OJ references), or the other solutions "
                     "and technical specifications used to meet Chapter III Section 2",
                     (K.DOCUMENTATION,)),
    AnnexSectionSpec("8", "EU declaration of conformity",
                     "a copy of the EU declaration of conformity (Art. 47)", (K.DOCUMENTATION,)),
    AnnexSectionSpec("9", "Post-market monitoring", "the post-market monitoring plan (Art. 72)",
                     (K.GUARD_EVENTS, K.AUDIT_LOG, K.INCIDENT_RECORD)),
)  # fmt: skip
"""The Annex IV points the skeleton covers (the others are purely organisational)."""


def _fact(record: StoredEvidence) -> str:
    e = record.evidence
    outcome = e.summary.get("passed")
    state = "passed" if outcome is True else "failed" if outcome is False else "recorded"
    return (
        f"{e.kind.value} #{record.id}: {e.subject.name} ({e.subject.digest}) {state} "
        f"at {e.produced_at.isoformat(timespec='seconds')} by {e.producer}; "
        f"payload {e.payload_digest}"
    )


def annex_iv_skeleton(evidence: Sequence[StoredEvidence]) -> tuple[AnnexSection, ...]:
    """One section per Annex IV point, with the latest evidence of each relevant kind."""
    latest: dict[EvidenceKind, StoredEvidence] = {}
    for record in evidence:
        current = latest.get(record.evidence.kind)
        if current is None or record.evidence.produced_at >= current.evidence.produced_at:
            latest[record.evidence.kind] = record
    sections = []
    for spec in ANNEX_IV_SECTIONS:
        facts = tuple(_fact(latest[k]) for k in spec.kinds if k in latest)
        absent = [k.value for k in spec.kinds if k not in latest]
        to_write = f"Describe: {spec.asks_for}."
        if absent:
            to_write += f" No evidence yet of: {', '.join(absent)}."
        sections.append(AnnexSection(spec, facts, to_write))
    return tuple(sections)
