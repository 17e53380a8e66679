"""Opening and updating incidents: the operations behind ``kastell incident``.

The store, the clock and the inputs are arguments; the CLI only parses options and prints.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kastell.comply.clocks import CLOCK_RULES
from kastell.comply.guard_events import detect_candidates, parse_event_lines
from kastell.comply.incident import (
    Incident,
    IncidentSource,
    Regime,
    check_significance,
    check_times,
    parse_time,
)
from kastell.comply.incident_store import IncidentStore
from kastell.comply.interface import IncidentError

__all__ = [
    "IncidentDraft",
    "entity_from_scope",
    "open_from_event_list",
    "open_from_events",
    "open_incident",
    "parse_facts",
    "update_incident",
]


@dataclasses.dataclass(frozen=True)
class IncidentDraft:
    """What the person opening incidents says: zone, regimes, facts, optional title/text."""

    timezone: str = "UTC"
    regimes: frozenset[Regime] = frozenset()
    facts: dict[str, str] = dataclasses.field(default_factory=dict)
    title: str | None = None
    description: str = ""
    aware_at: str | None = None
    """When the organisation became aware (ISO 8601); default: now, or the event's time."""
    entity: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """The reporting entity from the descriptor's scope (``entity_from_scope``)."""


def entity_from_scope(scope: Any) -> dict[str, Any]:
    """The entity block of incidents from a descriptor ``ScopeModel`` (None: empty)."""
    if scope is None:
        return {}
    return {
        "organisation": scope.organisation,
        "contact": scope.contact,
        "member_states": list(scope.member_states),
        "nis2_entity_type": scope.nis2.entity_type,
        "nis2_sector": scope.nis2.sector,
        "cra_roles": list(scope.cra.roles),
        "cra_product": scope.cra.product,
        "cra_product_class": scope.cra.product_class,
        "ai_act_roles": list(scope.ai_act.roles),
        "ai_act_risk_class": scope.ai_act.risk_class,
        "provider": scope.provider,
        "eu_database_number": scope.eu_database_number,
    }


def parse_facts(items: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings as a mapping; raises ``IncidentError`` on a malformed item."""
    facts = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise IncidentError(
                f"--fact {item!r} is not KEY=VALUE", hint="e.g. --fact severity=high"
            )
        facts[key.strip()] = value.strip()
    return facts


def _save(store: IncidentStore, draft: IncidentDraft, title: str, aware: dt.datetime,
          source: IncidentSource, text: str, refs: tuple[str, ...],
          now: dt.datetime) -> Incident:  # fmt: skip
    regimes = draft.regimes
    if source is IncidentSource.BLOCKED_ATTACK_BURST:
        # the guard blocked them: no impact is shown, so no regime applies by itself
        regimes = frozenset()
        text += ("; blocked by the guard: not classed under any regime - decide significance "
                 "by the criteria (kastell incident update --regime ... --fact significance=...)")
    check_significance(regimes, draft.facts)
    incident = Incident(store.next_id(now), title, aware, draft.timezone, regimes, source,
                        text, facts=draft.facts, evidence_refs=refs,
                        entity=dict(draft.entity))  # fmt: skip
    check_times(incident, now)
    store.save(incident, now)
    return incident


def open_incident(store: IncidentStore, draft: IncidentDraft, now: dt.datetime) -> Incident:
    """Open an incident by hand; awareness defaults to ``now``."""
    if not draft.title:
        raise IncidentError("give --title (or --from-events)")
    aware = parse_time(draft.aware_at, draft.timezone) if draft.aware_at else now
    return _save(store, draft, draft.title, aware, IncidentSource.MANUAL, draft.description, (),
                 now)  # fmt: skip


def open_from_events(store: IncidentStore, draft: IncidentDraft, events_text: str, source: str,
                     now: dt.datetime, burst_threshold: int = 20) -> list[Incident]:  # fmt: skip
    """Open one incident per candidate in JSON-lines guard events (see ``guard_events``)."""
    return open_from_event_list(store, draft, parse_event_lines(events_text, source), now,
                                burst_threshold)  # fmt: skip


def open_from_event_list(store: IncidentStore, draft: IncidentDraft,
                         events: Sequence[Mapping[str, Any]], now: dt.datetime,
                         burst_threshold: int = 20) -> list[Incident]:  # fmt: skip
    """Open one incident per new candidate among ``events`` (e.g. read from the audit log).

    Awareness is the event's time unless the draft gives one (e.g. the alert was read later).
    A candidate whose source and event references (request ids or record numbers) are those of
    an incident already in the store is skipped, so reading the same log again (or an export
    that overlaps the last one) does not open the same incident twice.
    """
    given = parse_time(draft.aware_at, draft.timezone) if draft.aware_at else None
    known = {_identity(i.source, i.evidence_refs) for i in store.list()}
    opened = []
    for c in detect_candidates(events, burst_threshold=burst_threshold):
        identity = _identity(c.source, c.event_refs)
        if identity is not None and identity in known:
            continue
        opened.append(_save(store, draft, draft.title or c.title, given or c.occurred_at,
                            c.source, draft.description or c.description, c.event_refs,
                            now))  # fmt: skip
        if identity is not None:
            known.add(identity)
    return opened


def _identity(source: IncidentSource, refs: Sequence[str]) -> tuple[str, tuple[str, ...]] | None:
    """What makes an event-based incident the same one; None when the refs are positional."""
    if source is IncidentSource.MANUAL or not refs or any(r.startswith("event#") for r in refs):
        return None
    return source.value, tuple(refs)


def _submissions(current: Incident, items: Sequence[str]) -> dict[str, dt.datetime]:
    keys = {rule.key for rule in CLOCK_RULES}
    sent = dict(current.submitted)
    for item in items:
        key, sep, when = item.partition("=")
        if not sep or key not in keys:
            raise IncidentError(f"--submitted {item!r}: expected CLOCK=TIME with a clock key",
                                hint=f"Clock keys: {', '.join(sorted(keys))}.")  # fmt: skip
        sent[key] = parse_time(when, current.timezone)
    return sent


def update_incident(
    store: IncidentStore,
    incident_id: str,
    now: dt.datetime,
    *,
    draft: IncidentDraft,
    submitted: Sequence[str] = (),
    fix_available: str | None = None,
    close_at: str | None = None,
) -> Incident:
    """Record submissions (``CLOCK=TIME``), a fix, facts, regimes, a new title or closure."""
    current = store.get(incident_id)
    tz = current.timezone
    updated = dataclasses.replace(
        current,
        title=draft.title or current.title,
        regimes=current.regimes | draft.regimes,
        submitted=_submissions(current, submitted),
        fix_available_at=(
            parse_time(fix_available, tz) if fix_available else current.fix_available_at
        ),
        facts={**current.facts, **draft.facts},
        closed_at=parse_time(close_at, tz) if close_at else current.closed_at,
        entity=dict(draft.entity) or current.entity,
    )
    check_significance(updated.regimes, updated.facts)
    check_times(updated, now)
    store.save(updated, now)
    return updated
