"""The incident record: what happened, when the organisation became aware, which regimes apply.

An ``Incident`` is a frozen value; updates derive a new one with ``dataclasses.replace``. It is
kept as JSON (``to_dict`` / ``incident_from_dict``) in the incident store and as
``incident_record`` evidence.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import zoneinfo
from collections.abc import Mapping
from typing import Any, NewType

from kastell.comply.interface import IncidentError

__all__ = [
    "SIGNIFICANCE_CRITERIA",
    "Incident",
    "IncidentId",
    "IncidentSource",
    "Regime",
    "check_significance",
    "check_times",
    "incident_from_dict",
    "parse_time",
    "zone",
]

IncidentId = NewType("IncidentId", str)


class IncidentSource(enum.StrEnum):
    """How the incident was raised."""

    MANUAL = "manual"
    CANARY_LEAK = "canary_leak"
    EXTRACTION_ALERT = "extraction_alert"
    BLOCKED_ATTACK_BURST = "blocked_attack_burst"


class Regime(enum.StrEnum):
    """A legal classification of the incident; each one starts its own clocks."""

    NIS2_SIGNIFICANT = "nis2-significant"
    """NIS2 Art. 23: significant incident of an essential or important entity."""
    CRA_EXPLOITED_VULNERABILITY = "cra-exploited-vulnerability"
    """CRA Art. 14(2): actively exploited vulnerability in a product with digital elements."""
    CRA_SEVERE_INCIDENT = "cra-severe-incident"
    """CRA Art. 14(4): severe incident having an impact on the security of the product."""
    AIA_SERIOUS = "aia-serious"
    """AI Act Art. 73(2): serious incident of a high-risk AI system (15 days)."""
    AIA_WIDESPREAD = "aia-widespread"
    """AI Act Art. 73(3): widespread infringement or serious disruption of critical infra."""
    AIA_DEATH = "aia-death"
    """AI Act Art. 73(4): death of a person."""
    GDPR_BREACH = "gdpr-personal-data-breach"
    """GDPR Art. 33: personal data breach (controller -> supervisory authority, 72 hours)."""


SIGNIFICANCE_CRITERIA: Mapping[Regime, Mapping[str, str]] = {
    Regime.NIS2_SIGNIFICANT: {
        "nis2-23.3.a": "NIS2 Art. 23(3)(a): caused or can cause severe operational disruption of "
        "the services or financial loss for the entity",
        "nis2-23.3.b": "NIS2 Art. 23(3)(b): affected or can affect other persons by causing "
        "considerable material or non-material damage",
        "ir2024-2690-3.1.a": "Implementing Regulation (EU) 2024/2690 Art. 3(1)(a): direct "
        "financial loss above EUR 500 000 or 5% of annual turnover, whichever is lower",
        "ir2024-2690-3.1.b": "IR (EU) 2024/2690 Art. 3(1)(b): exfiltration of trade secrets",
        "ir2024-2690-3.1.c": "IR (EU) 2024/2690 Art. 3(1)(c): death of a natural person",
        "ir2024-2690-3.1.d": "IR (EU) 2024/2690 Art. 3(1)(d): considerable damage to health",
        "ir2024-2690-3.1.e": "IR (EU) 2024/2690 Art. 3(1)(e): successful, suspectedly malicious, "
        "unauthorised access capable of causing severe operational disruption",
        "ir2024-2690-entity": "IR (EU) 2024/2690 Art. 4-14: a threshold for the entity's type "
        "(cloud, DNS, online marketplace, search engine, social network, ...) is met",
    },
    Regime.CRA_SEVERE_INCIDENT: {
        "cra-14.5.a": "CRA Art. 14(5)(a): affects or can affect the product's ability to protect "
        "the availability, authenticity, integrity or confidentiality of data or functions",
        "cra-14.5.b": "CRA Art. 14(5)(b): led or can lead to malicious code in the product or "
        "in a user's network and information systems",
    },
}
"""Why an incident meets a regime's threshold: the ``significance`` fact must name one of these.
The IR 2024/2690 entries are paraphrased from recollection (verification: not re-checked)."""


def check_significance(regimes: frozenset[Regime], facts: Mapping[str, Any]) -> None:
    """A regime with a significance threshold needs the criterion that is met (fact).

    A count of blocked requests is no criterion: the guard stopped them.
    """
    for regime in sorted(regimes & SIGNIFICANCE_CRITERIA.keys()):
        known = SIGNIFICANCE_CRITERIA[regime]
        given = [c.strip() for c in str(facts.get("significance", "")).split(",") if c.strip()]
        if not given or not set(given) <= set(known):
            raise IncidentError(
                f"--regime {regime.value} needs --fact significance=CRITERION (which threshold "
                "is met); a count of blocked requests is not one",
                hint="Criteria: " + "; ".join(f"{k} = {v}" for k, v in known.items()),
            )


def check_times(incident: Incident, now: dt.datetime) -> None:
    """Reject impossible times.

    Awareness or a submission in the future, a fix after now, and an end before the start
    (closure, fix or a submission before awareness) are usage errors (exit 2).
    """
    aware = incident.aware_at
    if aware > now:
        raise IncidentError(
            f"awareness {aware.isoformat()} is in the future (now {now.isoformat()})"
        )
    moments = [("fix available", incident.fix_available_at), ("closed", incident.closed_at),
               *((f"submitted {k}", v) for k, v in incident.submitted.items())]  # fmt: skip
    for label, moment in moments:
        if moment is None:
            continue
        if moment > now:
            raise IncidentError(f"{label} {moment.isoformat()} is after now ({now.isoformat()})")
        if moment < aware:
            raise IncidentError(f"{label} {moment.isoformat()} is before awareness "
                                f"{aware.isoformat()}")  # fmt: skip


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA time zone ``name``; raises ``IncidentError`` when unknown."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise IncidentError(
            f"unknown time zone {name!r}", hint="Use an IANA name such as Europe/Berlin or UTC."
        ) from None


def parse_time(text: str, default_zone: str = "UTC") -> dt.datetime:
    """Parse an ISO 8601 time; a time without offset is read in ``default_zone``."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise IncidentError(
            f"cannot read time {text[:60]!r}",
            hint="Write ISO 8601, e.g. 2026-03-29T01:30:00+01:00 or 2026-03-29T01:30 with --tz.",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(default_zone))
    return moment


@dataclasses.dataclass(frozen=True)
class Incident:
    """One incident and the facts the legal clocks and notifications need."""

    id: IncidentId
    title: str
    aware_at: dt.datetime
    """When the organisation became aware (the start of most clocks); time-zone aware."""
    timezone: str = "UTC"
    """The entity's IANA zone: calendar days and months are counted on its wall clock."""
    regimes: frozenset[Regime] = frozenset()
    source: IncidentSource = IncidentSource.MANUAL
    description: str = ""
    submitted: Mapping[str, dt.datetime] = dataclasses.field(default_factory=dict)
    """Clock key (e.g. ``NIS2-23.4.b``) -> when that notification was submitted."""
    fix_available_at: dt.datetime | None = None
    """CRA Art. 14(2)(c): when a corrective or mitigating measure became available."""
    facts: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Answers to notification fields (e.g. ``suspected_malicious_or_unlawful``)."""
    evidence_refs: tuple[str, ...] = ()
    """Digests of evidence the incident rests on (guard events, audit log checkpoints)."""
    closed_at: dt.datetime | None = None
    entity: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """The reporting entity and product at opening (from the descriptor's scope): name,
    contact, Member States, NIS2 type and sector, CRA roles and product, AI Act roles, provider,
    EU database number. Empty: not declared (drafts say TO FILL)."""

    def __post_init__(self) -> None:
        for name in ("aware_at", "fix_available_at", "closed_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise IncidentError(f"incident {name} has no time zone")
        zone(self.timezone)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""

        def iso(value: dt.datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "title": self.title,
            "aware_at": self.aware_at.isoformat(),
            "timezone": self.timezone,
            "regimes": sorted(r.value for r in self.regimes),
            "source": self.source.value,
            "description": self.description,
            "submitted": {k: v.isoformat() for k, v in sorted(self.submitted.items())},
            "fix_available_at": iso(self.fix_available_at),
            "facts": dict(self.facts),
            "evidence_refs": list(self.evidence_refs),
            "closed_at": iso(self.closed_at),
            "entity": dict(self.entity),
        }


def incident_from_dict(raw: Mapping[str, Any]) -> Incident:
    """Rebuild an incident from ``Incident.to_dict()`` output."""

    def when(value: object) -> dt.datetime | None:
        return dt.datetime.fromisoformat(str(value)) if value else None

    try:
        aware = when(raw["aware_at"])
        if aware is None:
            raise IncidentError("incident record has no aware_at")
        return Incident(
            id=IncidentId(str(raw["id"])),
            title=str(raw.get("title", "")),
            aware_at=aware,
            timezone=str(raw.get("timezone", "UTC")),
            regimes=frozenset(Regime(r) for r in raw.get("regimes", ())),
            source=IncidentSource(raw.get("source", "manual")),
            description=str(raw.get("description", "")),
            submitted={
                str(k): dt.datetime.fromisoformat(v) for k, v in raw.get("submitted", {}).items()
            },
            fix_available_at=when(raw.get("fix_available_at")),
            facts=dict(raw.get("facts") or {}),
            evidence_refs=tuple(str(r) for r in raw.get("evidence_refs", ())),
            closed_at=when(raw.get("closed_at")),
            entity=dict(raw.get("entity") or {}),
        )
    except (KeyError, ValueError, TypeError) as error:
        raise IncidentError(f"malformed incident record: {error!r}") from None
