"""``kastell incident``: incidents and their legal reporting clocks (NIS2, CRA, AI Act)."""

from __future__ import annotations

import datetime as dt
import pathlib
from typing import Any

import click

from kastell.cli._render import FORMAT_OPTION, emit_json, note
from kastell.cli.comply import NOW_OPTION, STORE_OPTION, now_from

__all__ = ["incident"]


_REGIMES = ["nis2-significant", "cra-exploited-vulnerability", "cra-severe-incident",
            "aia-serious", "aia-widespread", "aia-death",
            "gdpr-personal-data-breach"]  # fmt: skip
REGIME_OPTION = click.option(
    "--regime", "regimes", multiple=True, type=click.Choice(_REGIMES),
    help="Legal classification (repeat for several); each starts its own clocks.",
)  # fmt: skip
FACT_OPTION = click.option(
    "--fact", "facts", multiple=True, help="Notification field KEY=VALUE (repeat)."
)
DESCRIPTOR_OPTION = click.option(
    "--descriptor", envvar="KASTELL_DESCRIPTOR", type=click.Path(path_type=pathlib.Path),
    help="Deployment descriptor whose scope names the reporting entity and product "
         "(and decides which clocks apply).",
)  # fmt: skip


def _draft(title: str | None, regimes: tuple[str, ...], facts: tuple[str, ...],
           timezone: str = "UTC", description: str = "", aware_at: str | None = None,
           descriptor: pathlib.Path | None = None) -> Any:  # fmt: skip
    from kastell.comply.incident import Regime
    from kastell.comply.incident_service import IncidentDraft, entity_from_scope, parse_facts

    entity: dict[str, Any] = {}
    if descriptor is not None:
        from kastell.comply.descriptor import load_descriptor

        entity = entity_from_scope(load_descriptor(descriptor).scope)
    return IncidentDraft(timezone, frozenset(Regime(r) for r in regimes), parse_facts(facts),
                         title, description, aware_at, entity)  # fmt: skip


@click.group("incident")
def incident() -> None:
    """Open incidents and track their legal reporting clocks (NIS2, CRA, AI Act)."""


@incident.command("open")
@click.option("--title", help="Short description (required unless --from-events).")
@click.option("--aware-at", help="When you became aware (ISO 8601; default: now / the event time).")
@click.option("--tz", "timezone", envvar="KASTELL_TZ", default="UTC", show_default=True,
              help="The entity's IANA time zone (days and months count on its clock).")
@REGIME_OPTION
@click.option("--description", default="", help="What happened.")
@FACT_OPTION
@click.option("--from-events", type=click.Path(dir_okay=False, path_type=pathlib.Path),
              help="Guard/audit events (Kastell or OCSF JSON lines, or CEF lines): one incident "
                   "per canary leak, extraction alert or burst of blocked attacks.")  # fmt: skip
@click.option("--from-audit-log", help="Read the events from the guard's audit log (path or URL).")
@click.option("--burst-threshold", default=20, show_default=True, help="Blocks per burst.")
@DESCRIPTOR_OPTION
@STORE_OPTION
@NOW_OPTION
@FORMAT_OPTION
def incident_open(title: str | None, aware_at: str | None, timezone: str, regimes: tuple[str, ...],
                  description: str, facts: tuple[str, ...], from_events: pathlib.Path | None,
                  from_audit_log: str | None, burst_threshold: int,
                  descriptor: pathlib.Path | None, store: str, now_text: str | None,
                  output_format: str) -> int:  # fmt: skip
    """Open an incident by hand, or from guard events, and show its clocks."""
    from kastell.comply.incident_service import open_from_events, open_incident
    from kastell.comply.incident_store import IncidentStore
    from kastell.comply.interface import IncidentError

    now = now_from(now_text)
    draft = _draft(title, regimes, facts, timezone, description, aware_at, descriptor)
    with IncidentStore.open(store) as opened:
        if from_audit_log is not None:
            from kastell.comply._audit import read_audit_events
            from kastell.comply.incident_service import open_from_event_list

            events = read_audit_events(from_audit_log)
            incidents = open_from_event_list(opened, draft, events, now, burst_threshold)
        elif from_events is None:
            incidents = [open_incident(opened, draft, now)]
        else:
            try:
                text = from_events.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise IncidentError(f"cannot read events {from_events}: {error}") from None
            incidents = open_from_events(opened, draft, text, str(from_events), now,
                                         burst_threshold)  # fmt: skip
        if not incidents and (from_events is not None or from_audit_log is not None):
            note("no new incident: no candidate in the events, or each already has an incident")
    return _show(incidents, now, output_format)


def _show(incidents: list[Any], now: dt.datetime, output_format: str) -> int:
    from kastell.comply._text import incident_block, overdue
    from kastell.comply.clocks import clock_exclusions, compute_clocks
    from kastell.comply.report_document import clock_entry

    rows, late = [], 0
    for item in incidents:
        clocks = compute_clocks(item, now)
        late += len(overdue(clocks))
        if output_format == "json":
            rows.append({**item.to_dict(), "clocks": [clock_entry(c) for c in clocks],
                         "not_applicable": list(clock_exclusions(item))})  # fmt: skip
        else:
            click.echo(incident_block(item, clocks))
    if output_format == "json":
        emit_json(rows)
    return 1 if late else 0


@incident.command("update")
@click.argument("incident_id")
@click.option("--title")
@REGIME_OPTION
@click.option("--submitted", multiple=True,
              help="CLOCK=TIME: a notification was submitted (e.g. NIS2-23.4.b=...).")
@click.option("--fix-available", help="When a corrective measure became available (CRA).")
@FACT_OPTION
@click.option("--close", "close_at", help="Close the incident at this time.")
@DESCRIPTOR_OPTION
@STORE_OPTION
@NOW_OPTION
@FORMAT_OPTION
def incident_update(incident_id: str, title: str | None, regimes: tuple[str, ...],
                    submitted: tuple[str, ...], fix_available: str | None, facts: tuple[str, ...],
                    close_at: str | None, descriptor: pathlib.Path | None, store: str,
                    now_text: str | None, output_format: str) -> int:  # fmt: skip
    """Record submissions, a fix, new facts or regimes; show the clocks again."""
    from kastell.comply.incident_service import update_incident
    from kastell.comply.incident_store import IncidentStore

    now = now_from(now_text)
    with IncidentStore.open(store) as opened:
        draft = _draft(title, regimes, facts, descriptor=descriptor)
        updated = update_incident(opened, incident_id, now, draft=draft,
                                  submitted=submitted, fix_available=fix_available,
                                  close_at=close_at)  # fmt: skip
    return _show([updated], now, output_format)


@incident.command("report")
@click.argument("incident_id")
@STORE_OPTION
@NOW_OPTION
@FORMAT_OPTION
def incident_report(incident_id: str, store: str, now_text: str | None, output_format: str) -> int:
    """Draft every notification the incident's clocks call for, pre-filled from evidence."""
    from kastell.comply.clocks import compute_clocks
    from kastell.comply.incident_store import IncidentStore
    from kastell.comply.notifications import draft_notifications, render_markdown

    now = now_from(now_text)
    with IncidentStore.open(store) as opened:
        item = opened.get(incident_id)
        drafts = draft_notifications(item, compute_clocks(item, now), opened.evidence.list())
    if output_format == "json":
        emit_json([{"clock": d.clock.rule.key, "basis": d.clock.rule.basis,
                    "recipient": d.clock.rule.recipient, "state": d.clock.state.value,
                    "due": d.clock.due.isoformat(timespec="seconds") if d.clock.due else None,
                    "fields": [{"name": f.name, "value": f.value, "source": f.source}
                               for f in d.fields]} for d in drafts])  # fmt: skip
    else:
        click.echo(f"# Notification drafts for {item.id}: {item.title}\n")
        click.echo("\n".join(render_markdown(d) for d in drafts) or "no clocks: set --regime")
    return 0


@incident.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include closed incidents.")
@STORE_OPTION
@NOW_OPTION
@FORMAT_OPTION
def incident_list(show_all: bool, store: str, now_text: str | None, output_format: str) -> int:
    """Show open incidents with what is due next and what is overdue (exit 1 if overdue)."""
    from kastell.comply.incident_store import IncidentStore

    now = now_from(now_text)
    with IncidentStore.open(store) as opened:
        items = [i for i in opened.list() if show_all or i.closed_at is None]
    if not items and output_format == "text":
        click.echo("no open incidents")
        return 0
    return _show(items, now, output_format)
