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

__all__ = [
    "DraftField",
    "Notification",
    "draft_notifications",
    "entity_fields",
    "render_markdown",
]

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


_ENTITY_FIELDS: Mapping[str, tuple[str, ...]] = {
    "entity_name": ("organisation",),
    "entity_sector": ("nis2_sector",),
    "entity_type": ("nis2_entity_type",),
    "member_states": ("member_states",),
    "entity_contact": ("contact",),
    "product_identification": ("cra_product",),
    "provider_identity": ("provider",),
    "eu_database_number": ("eu_database_number",),
}


def entity_fields(key: str) -> tuple[str, ...]:
    """The entity / product block every draft of a clock with ``key`` carries."""
    block: tuple[str, ...] = (
        "entity_name", "entity_sector", "entity_type", "member_states", "entity_contact"
    )
    if key.startswith("CRA-"):
        block += ("product_identification",)
    if key.startswith("AIA-"):
        block += ("provider_identity", "eu_database_number")
    return block


def _entity(name: str, incident: Incident, evidence: Sequence[StoredEvidence]) -> DraftField:
    for attribute in _ENTITY_FIELDS[name]:
        value = incident.entity.get(attribute)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value) or None
        if value:
            return DraftField(name, str(value), "descriptor scope (at opening)")
    if name == "product_identification":
        return DraftField(name, *_system(incident, evidence))
    if name == "provider_identity" and "provider" in incident.entity.get("ai_act_roles", ()):
        organisation = incident.entity.get("organisation")
        if organisation:
            return DraftField(name, str(organisation), "the entity is the provider")
    return DraftField(name, None, "declare it in the descriptor scope (--descriptor) or --fact")


def _field(name: str, incident: Incident, evidence: Sequence[StoredEvidence]) -> DraftField:
    if name in incident.facts:
        return DraftField(name, str(incident.facts[name]), "incident facts")
    if name in _ENTITY_FIELDS:
        return _entity(name, incident, evidence)
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
            incident, clock, tuple(_field(n, incident, evidence)
                                   for n in (*entity_fields(clock.rule.key), *clock.rule.content))
        )  # fmt: skip
        for clock in clocks
    )


def render_markdown(notification: Notification) -> str:
    """The draft as Markdown, ready to paste into a reporting platform form."""
    clock, incident = notification.clock, notification.incident
    if clock.rule.period.unit == "undue_delay":
        due = "without undue delay (no fixed period)"
    elif clock.due:
        due = clock.due.isoformat(timespec="seconds")
    else:
        due = f"not started (starts at {clock.start_event})"
    lines = [
        f"## {clock.rule.step.capitalize()} - {clock.rule.basis}",
        "",
        f"- Incident: {incident.id} - {incident.title}",
        f"- Recipient: {clock.rule.recipient}",
        f"- Became aware: {incident.aware_at.isoformat(timespec='seconds')}",
        f"- Due: {due} ({clock.rule.period} from {clock.start_event}); state: {clock.state.value}",
        "",
        "| Field | Value | Source |",
        "|---|---|---|",
    ]
    for f in notification.fields:
        value = (f.value or TO_FILL).replace("|", "\\|")
        lines.append(f"| {f.name.replace('_', ' ')} | {value} | {f.source} |")
    return "\n".join(lines) + "\n"
