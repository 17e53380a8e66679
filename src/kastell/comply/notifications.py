"""Draft notifications: one per clock, with the fields the law asks for, pre-filled from evidence.

A field Kastell cannot fill from the incident or the evidence is left as ``None`` and shown as
"TO FILL" in the draft; nothing is invented.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

from kastell.comply.clocks import Clock
from kastell.comply.incident import Incident
from kastell.comply.interface import StoredEvidence
from kastell.types import EvidenceKind

__all__ = ["DraftField", "Notification", "draft_notifications", "render_markdown"]

TO_FILL = "TO FILL"


@dataclasses.dataclass(frozen=True)
class DraftField:
    """One field of a notification, its pre-filled value (or None) and where it came from."""

    name: str
    value: str | None
    source: str


@dataclasses.dataclass(frozen=True)
class Notification:
    """A notification draft for one clock."""

    incident: Incident
    clock: Clock
    fields: tuple[DraftField, ...]

    @property
    def complete(self) -> bool:
        """Whether every field has a value."""
        return all(f.value is not None for f in self.fields)


def _latest(evidence: Sequence[StoredEvidence], kind: EvidenceKind) -> StoredEvidence | None:
    matching = [r for r in evidence if r.evidence.kind is kind]
    return max(matching, key=lambda r: r.evidence.produced_at) if matching else None


def _system(_: Incident, evidence: Sequence[StoredEvidence]) -> tuple[str | None, str]:
    for kind in (EvidenceKind.MODEL_SIGNATURE, EvidenceKind.AI_BOM):
        record = _latest(evidence, kind)
        if record is not None:
            subject = record.evidence.subject
            return f"{subject.name} ({subject.digest})", f"{kind.value} evidence #{record.id}"
    return None, "no model_signature or ai_bom evidence"


def _indicators(incident: Incident, evidence: Sequence[StoredEvidence]) -> tuple[str | None, str]:
    if incident.evidence_refs:
        return ", ".join(incident.evidence_refs), "incident evidence references"
    record = _latest(evidence, EvidenceKind.GUARD_EVENTS)
    if record is not None:
        return f"guard events {record.evidence.payload_digest}", f"guard_events #{record.id}"
    return None, "no guard_events evidence"


def _description(incident: Incident, _: Sequence[StoredEvidence]) -> tuple[str | None, str]:
    text = incident.description or incident.title
    return (text or None), "incident record"


def _measures(incident: Incident, evidence: Sequence[StoredEvidence]) -> tuple[str | None, str]:
    record = _latest(evidence, EvidenceKind.GUARD_POLICY)
    if record is not None and record.evidence.summary.get("passed") is True:
        return f"runtime guard policy in force ({record.evidence.payload_digest})", "guard_policy"
    return None, "no passing guard_policy evidence"


_DERIVED: Mapping[str, Callable[[Incident, Sequence[StoredEvidence]], tuple[str | None, str]]] = {
    "system_identification": _system,
    "product_info": _system,
    "indicators_of_compromise": _indicators,
    "incident_description": _description,
    "detailed_description": _description,
    "nature_of_incident": _description,
    "measures_taken": _measures,
}


def _field(name: str, incident: Incident, evidence: Sequence[StoredEvidence]) -> DraftField:
    if name in incident.facts:
        return DraftField(name, str(incident.facts[name]), "incident facts")
    derive = _DERIVED.get(name)
    if derive is None:
        return DraftField(name, None, "not derivable from evidence; answer with --fact")
    value, source = derive(incident, evidence)
    return DraftField(name, value, source)


def draft_notifications(
    incident: Incident, clocks: Sequence[Clock], evidence: Sequence[StoredEvidence]
) -> tuple[Notification, ...]:
    """One draft per clock, its fields pre-filled from the incident facts and the evidence."""
    return tuple(
        Notification(
            incident, clock, tuple(_field(n, incident, evidence) for n in clock.rule.content)
        )
        for clock in clocks
    )


def render_markdown(notification: Notification) -> str:
    """The draft as Markdown, ready to paste into a reporting platform form."""
    clock, incident = notification.clock, notification.incident
    due = clock.due.isoformat() if clock.due else f"not started (starts at {clock.start_event})"
    lines = [
        f"## {clock.rule.step.capitalize()} - {clock.rule.basis}",
        "",
        f"- Incident: {incident.id} - {incident.title}",
        f"- Recipient: {clock.rule.recipient}",
        f"- Became aware: {incident.aware_at.isoformat()}",
        f"- Due: {due} ({clock.rule.period} from {clock.start_event}); state: {clock.state.value}",
        "",
        "| Field | Value | Source |",
        "|---|---|---|",
    ]
    for f in notification.fields:
        value = (f.value or TO_FILL).replace("|", "\\|")
        lines.append(f"| {f.name.replace('_', ' ')} | {value} | {f.source} |")
    return "\n".join(lines) + "\n"
