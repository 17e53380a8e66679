"""Incidents: applicability by date and scope, impossible times, significance criteria, entity
blocks, GDPR Art. 33, NIS2 Art. 23(4)(e), recipient notices and the Art. 26(5) duty."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import zoneinfo
from typing import Any

import pytest
import yaml

from kastell.cli.main import main
from kastell.comply.clocks import ClockState, clock_exclusions, compute_clocks
from kastell.comply.incident import Incident, IncidentId, Regime, check_significance
from kastell.comply.interface import IncidentError
from kastell.comply.notifications import draft_notifications
from kastell.errors import ExitCode

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
DEPLOYER = {"organisation": "Example GmbH", "contact": "soc@example.eu",
            "member_states": ["DE", "AT"], "nis2_entity_type": "important",
            "nis2_sector": "Annex II 6 digital providers", "cra_roles": [],
            "ai_act_roles": ["deployer"], "provider": "Model Provider SA"}  # fmt: skip


def _incident(aware: dt.datetime, *regimes: Regime, **kw: Any) -> Incident:
    return Incident(IncidentId("INC-1"), "t", aware, "Europe/Berlin", frozenset(regimes), **kw)


def _keys(incident: Incident, now: dt.datetime) -> dict[str, Any]:
    return {c.rule.key: c for c in compute_clocks(incident, now)}


def test_no_cra_clock_before_11_september_2026() -> None:
    before = dt.datetime(2026, 9, 10, 23, 30, tzinfo=BERLIN)
    incident = _incident(before, Regime.CRA_SEVERE_INCIDENT)
    assert _keys(incident, before) == {}
    assert "11" in clock_exclusions(incident)[0]
    after = dt.datetime(2026, 9, 11, 0, 30, tzinfo=BERLIN)  # local day counts
    assert "CRA-14.4.a" in _keys(_incident(after, Regime.CRA_SEVERE_INCIDENT), after)


def test_a_deployer_informs_the_provider_instead_of_art_73() -> None:
    aware = dt.datetime(2026, 10, 5, 9, 0, tzinfo=BERLIN)
    clocks = _keys(_incident(aware, Regime.AIA_SERIOUS, entity=DEPLOYER), aware)
    assert set(clocks) == {"AIA-26.5"}
    assert clocks["AIA-26.5"].state is ClockState.IMMEDIATE
    assert clocks["AIA-26.5"].rule.recipient.startswith("provider")


def test_scope_drops_cra_and_nis2_clocks_for_entities_outside() -> None:
    aware = dt.datetime(2026, 10, 5, 9, 0, tzinfo=BERLIN)
    outside = {**DEPLOYER, "nis2_entity_type": "not_in_scope"}
    incident = _incident(aware, Regime.NIS2_SIGNIFICANT, Regime.CRA_SEVERE_INCIDENT,
                         entity=outside)  # fmt: skip
    assert _keys(incident, aware) == {}
    assert len(clock_exclusions(incident)) >= 2


def test_gdpr_breach_has_a_72_hour_clock() -> None:
    aware = dt.datetime(2026, 10, 24, 10, 0, tzinfo=BERLIN)
    clock = _keys(_incident(aware, Regime.GDPR_BREACH), aware)["GDPR-33.1"]
    assert clock.due is not None
    # across the DST change (25 Oct): 72 real hours, 09:00 CET on the wall clock
    assert clock.due.astimezone(dt.UTC) == aware.astimezone(dt.UTC) + dt.timedelta(hours=72)
    assert clock.due.hour == 9
    assert "supervisory authority" in clock.rule.recipient


def test_recipient_notices_are_immediate_until_submitted() -> None:
    aware = dt.datetime(2026, 10, 5, 9, 0, tzinfo=BERLIN)
    incident = _incident(aware, Regime.NIS2_SIGNIFICANT, Regime.CRA_EXPLOITED_VULNERABILITY)
    clocks = compute_clocks(incident, aware)
    notices = [c for c in clocks if c.rule.key in {"NIS2-23.1", "CRA-14.8"}]
    assert [c.state for c in notices] == [ClockState.IMMEDIATE, ClockState.IMMEDIATE]
    sent = _incident(aware, Regime.NIS2_SIGNIFICANT, submitted={"NIS2-23.1": aware})
    assert _keys(sent, aware)["NIS2-23.1"].state is ClockState.SUBMITTED


def test_nis2_progress_report_while_the_incident_is_ongoing() -> None:
    aware = dt.datetime(2026, 10, 5, 9, 0, tzinfo=BERLIN)
    notified = aware + dt.timedelta(hours=48)
    incident = _incident(aware, Regime.NIS2_SIGNIFICANT, submitted={"NIS2-23.4.b": notified})
    early = _keys(incident, notified)
    assert "NIS2-23.4.e" not in early  # not yet known to be ongoing
    assert early["NIS2-23.4.d"].due == dt.datetime(2026, 11, 7, 9, 0, tzinfo=BERLIN)
    later = dt.datetime(2026, 11, 20, 9, 0, tzinfo=BERLIN)  # still open after the final due
    clocks = _keys(incident, later)
    assert clocks["NIS2-23.4.e"].due == dt.datetime(2026, 11, 7, 9, 0, tzinfo=BERLIN)
    assert clocks["NIS2-23.4.e"].state is ClockState.OVERDUE
    assert clocks["NIS2-23.4.d"].state is ClockState.PENDING_START  # one month after handling
    closed = dt.datetime(2026, 11, 25, 9, 0, tzinfo=BERLIN)
    done = _incident(aware, Regime.NIS2_SIGNIFICANT, closed_at=closed,
                     submitted={"NIS2-23.4.b": notified, "NIS2-23.4.e": later})  # fmt: skip
    assert _keys(done, closed)["NIS2-23.4.d"].due == dt.datetime(2026, 12, 25, 9, 0,
                                                                  tzinfo=BERLIN)  # fmt: skip


def test_significance_needs_a_criterion() -> None:
    with pytest.raises(IncidentError, match="significance"):
        check_significance(frozenset({Regime.NIS2_SIGNIFICANT}), {})
    with pytest.raises(IncidentError, match="significance"):
        check_significance(frozenset({Regime.NIS2_SIGNIFICANT}), {"significance": "20 blocks"})
    check_significance(frozenset({Regime.NIS2_SIGNIFICANT}), {"significance": "nis2-23.3.b"})


def test_every_draft_carries_the_entity_and_product_blocks() -> None:
    aware = dt.datetime(2026, 10, 5, 9, 0, tzinfo=BERLIN)
    entity = {**DEPLOYER, "cra_roles": ["manufacturer"], "cra_product": "SupportBot 2.1"}
    incident = _incident(aware, Regime.NIS2_SIGNIFICANT, Regime.CRA_SEVERE_INCIDENT,
                         Regime.AIA_SERIOUS, entity=entity)  # fmt: skip
    drafts = draft_notifications(incident, compute_clocks(incident, aware), [])
    assert drafts
    for draft in drafts:
        fields = {f.name: f.value for f in draft.fields}
        assert fields["entity_name"] == "Example GmbH"
        assert fields["entity_type"] == "important"
        assert fields["member_states"] == "DE, AT"
        assert fields["entity_contact"] == "soc@example.eu"
        if draft.clock.rule.key.startswith("CRA-"):
            assert fields["product_identification"] == "SupportBot 2.1"
        if draft.clock.rule.key.startswith("AIA-"):
            assert fields["provider_identity"] == "Model Provider SA"
            assert fields["eu_database_number"] is None  # TO FILL, never invented


# ------------------------------------------------------------------------------- CLI, exit 2


def _open(store: pathlib.Path, *extra: str) -> int:
    return main(["incident", "open", "--title", "x", "--store", str(store),
                 "--now", "2026-10-24T12:00+00:00", *extra])  # fmt: skip


@pytest.mark.parametrize(
    "extra",
    [
        ("--aware-at", "2026-10-24T12:00:01+00:00"),  # awareness in the future
        ("--aware-at", "2027-01-01T00:00"),
        ("--regime", "nis2-significant"),  # no criterion
        ("--regime", "nis2-significant", "--fact", "significance=burst of 20 blocks"),
    ],
)
def test_impossible_or_unjustified_openings_exit_2(tmp_path: pathlib.Path,
                                                   extra: tuple[str, ...]) -> None:  # fmt: skip
    assert _open(tmp_path / "ev.sqlite", *extra) == ExitCode.USAGE


@pytest.mark.parametrize(
    "extra",
    [
        ("--fix-available", "2026-10-24T13:00+00:00"),  # fix after now
        ("--close", "2026-10-24T09:00+00:00"),  # end before start
        ("--fix-available", "2026-10-24T09:00+00:00"),  # fix before awareness
        ("--submitted", "NIS2-23.4.a=2026-10-25T09:00+00:00"),  # submitted in the future
    ],
)
def test_impossible_updates_exit_2(tmp_path: pathlib.Path, extra: tuple[str, ...],
                                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    store = tmp_path / "ev.sqlite"
    assert _open(store, "--aware-at", "2026-10-24T10:00+00:00", "--format", "json") == 0
    incident_id = json.loads(capsys.readouterr().out)[0]["id"]
    code = main(["incident", "update", incident_id, "--store", str(store), "--now",
                 "2026-10-24T12:00+00:00", *extra])  # fmt: skip
    assert code == ExitCode.USAGE


def test_open_with_the_descriptor_records_the_entity(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    descriptor = tmp_path / "d.yaml"
    descriptor.write_text(yaml.safe_dump({"name": "d", "model": {"path": "m"}, "scope": {
        "organisation": "Example GmbH", "contact": "soc@example.eu", "member_states": ["DE"],
        "ai_act": {"roles": ["deployer"], "risk_class": "limited",
                   "legal_basis": "Art. 50 chatbot, not Annex III"},
        "nis2": {"entity_type": "important", "sector": "Annex II 6"}}}))  # fmt: skip
    store = tmp_path / "ev.sqlite"
    assert _open(store, "--descriptor", str(descriptor), "--aware-at", "2026-10-24T10:00+00:00",
                 "--regime", "aia-serious", "--format", "json") == 0  # fmt: skip
    opened = json.loads(capsys.readouterr().out)[0]
    assert opened["entity"]["organisation"] == "Example GmbH"
    assert [c["key"] for c in opened["clocks"]] == ["AIA-26.5"]
    assert any("Art. 73" in reason for reason in opened["not_applicable"])
    code = main(["incident", "report", opened["id"], "--store", str(store), "--now",
                 "2026-10-24T12:00+00:00"])  # fmt: skip
    assert code == 0
    draft = capsys.readouterr().out
    assert "| entity name | Example GmbH |" in draft
    assert "without undue delay" in draft
