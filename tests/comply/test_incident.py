from __future__ import annotations

import datetime as dt
import pathlib

import pytest

from kastell.comply.clocks import compute_clocks
from kastell.comply.incident import Incident, IncidentId, Regime, incident_from_dict, parse_time
from kastell.comply.incident_store import IncidentStore
from kastell.comply.interface import IncidentError
from kastell.comply.notifications import draft_notifications, render_markdown
from kastell.errors import ExitCode
from kastell.types import EvidenceKind

from ._builders import NOW, make_evidence, stored


def _incident(**kw: object) -> Incident:
    base: dict[str, object] = {
        "id": IncidentId("INC-20261126-001"),
        "title": "canary leaked",
        "aware_at": NOW,
        "timezone": "Europe/Vienna",
        "regimes": frozenset({Regime.NIS2_SIGNIFICANT}),
    }
    return Incident(**{**base, **kw})  # type: ignore[arg-type]


def test_incident_roundtrips_through_json() -> None:
    incident = _incident(
        submitted={"NIS2-23.4.a": NOW},
        facts={"severity": "high"},
        fix_available_at=NOW,
        evidence_refs=("sha256:ab",),
    )
    assert incident_from_dict(incident.to_dict()) == incident


def test_parse_time_reads_offsets_and_default_zone() -> None:
    assert parse_time("2026-03-29T01:30:00+01:00").utcoffset() == dt.timedelta(hours=1)
    local = parse_time("2026-07-01T10:00", "Europe/Paris")
    assert local.utcoffset() == dt.timedelta(hours=2)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00", ""])
def test_bad_times_are_usage_errors(text: str) -> None:
    with pytest.raises(IncidentError, match="cannot read time") as caught:
        parse_time(text)
    assert caught.value.exit_code == ExitCode.USAGE
    assert "ISO 8601" in caught.value.diagnostics()


def test_unknown_zone_is_a_usage_error() -> None:
    with pytest.raises(IncidentError, match="unknown time zone"):
        _incident(timezone="Mars/Olympus")


def test_naive_awareness_is_refused() -> None:
    with pytest.raises(IncidentError, match="no time zone"):
        _incident(aware_at=NOW.replace(tzinfo=None))


def test_malformed_record_is_reported() -> None:
    with pytest.raises(IncidentError, match="malformed"):
        incident_from_dict({"id": "x", "aware_at": NOW.isoformat(), "regimes": ["martian"]})


def test_store_saves_lists_and_records_evidence(tmp_path: pathlib.Path) -> None:
    store = IncidentStore.open(tmp_path / "ev.sqlite")
    assert store.next_id(NOW) == "INC-20261126-001"
    store.save(_incident(), NOW)
    assert store.next_id(NOW) == "INC-20261126-002"
    store.save(_incident(title="renamed"), NOW + dt.timedelta(days=4))
    assert [i.title for i in store.list()] == ["renamed"]
    records = store.evidence.list(kind=EvidenceKind.INCIDENT_RECORD)
    assert len(records) == 2
    assert records[0].evidence.summary["passed"] is True
    assert records[1].evidence.summary["passed"] is False  # 4 days later the 72 h clock is overdue
    assert records[1].evidence.summary["overdue_clocks"] == ["NIS2-23.4.a", "NIS2-23.4.b"]
    assert store.evidence.payload(records[0].evidence.payload_digest).startswith(b"{")
    with pytest.raises(IncidentError, match="no incident"):
        store.get("INC-nope")
    store.evidence.close()


def test_drafts_prefill_from_facts_and_evidence_and_leave_the_rest_to_fill() -> None:
    incident = _incident(facts={"suspected_malicious_or_unlawful": "yes"})
    evidence = stored(
        make_evidence(EvidenceKind.MODEL_SIGNATURE, subject="smollm2.gguf"),
        make_evidence(EvidenceKind.GUARD_EVENTS),
    )
    drafts = draft_notifications(incident, compute_clocks(incident, NOW), evidence)
    assert [d.clock.rule.key for d in drafts] == [
        "NIS2-23.4.a", "NIS2-23.4.b", "NIS2-23.1", "NIS2-23.4.d"]
    early = {f.name: f for f in drafts[0].fields}
    assert early["suspected_malicious_or_unlawful"].value == "yes"
    assert early["possible_cross_border_impact"].value is None
    assert not drafts[0].complete
    notification = {f.name: f for f in drafts[1].fields}
    assert "guard events sha256:" in (notification["indicators_of_compromise"].value or "")
    text = render_markdown(drafts[0])
    assert "NIS2 Art. 23(4)(a)" in text
    assert "TO FILL" in text
    assert "Due: 2026-11-27T13:00:00+01:00" in text
