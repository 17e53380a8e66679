from __future__ import annotations

import json
import pathlib

import pytest

from kastell.cli.main import main
from kastell.errors import ExitCode

META = ["--title", "Oversight procedure", "--control", "AIA-14.1", "--by", "A. Person",
        "--attester-role", "CISO", "--approver", "B. Person", "--approver-role", "CEO",
        "--valid-until", "2027-12-31"]  # fmt: skip
"""The attestation every ``evidence add`` needs: title, controls, attester, approver, review."""


@pytest.fixture
def store(tmp_path: pathlib.Path) -> str:
    return str(tmp_path / "ev.sqlite")


def _json(capsys: pytest.CaptureFixture[str]) -> object:
    return json.loads(capsys.readouterr().out)


def test_evidence_add_list_show_roundtrip(
    tmp_path: pathlib.Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "oversight.md"
    doc.write_text("# Oversight\n")
    assert (
        main(
            [
                "evidence",
                "add",
                "human_oversight_procedure",
                str(doc),
                "--store",
                store,
                *META[:4],
                "--by",
                "A. Person",
                *META[6:],
                "--format",
                "json",
            ]
        )
        == 0
    )
    added = _json(capsys)
    assert main(["evidence", "list", "--store", store, "--format", "json"]) == 0
    (listed,) = _json(capsys)  # type: ignore[misc]
    assert listed["payload_digest"] == added["payload_digest"]
    out = tmp_path / "payload.md"
    assert (
        main(["evidence", "show", "1", "--store", store, "--payload", str(out), "--format", "json"])
        == 0
    )
    shown = _json(capsys)
    assert shown["summary"]["attested_by"] == "A. Person (CISO)"
    assert shown["summary"]["approved_by"] == "B. Person (CEO)"
    assert shown["summary"]["controls"] == ["AIA-14.1"]
    assert shown["summary"]["valid_until"] == "2027-12-31"
    assert out.read_text() == "# Oversight\n"


def test_evidence_list_controls(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evidence", "list", "--controls"]) == 0
    assert "OWASP-LLM01" in capsys.readouterr().out


def test_evidence_add_unknown_kind_is_usage_error(
    tmp_path: pathlib.Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("x")
    assert main(["evidence", "add", "vibes", str(doc), "--store", store, *META]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "unknown evidence kind 'vibes'" in err
    assert "human_oversight_procedure" in err


def test_evidence_add_missing_file_is_usage_error(
    tmp_path: pathlib.Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["evidence", "add", "documentation", str(tmp_path / "nope"), "--store", store,
                 *META])  # fmt: skip
    assert code == ExitCode.USAGE
    assert "does not exist" in capsys.readouterr().err


def test_evidence_add_directory_is_usage_error(
    tmp_path: pathlib.Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evidence", "add", "documentation", str(tmp_path), "--store", store, *META]) == 2
    assert "is not a file" in capsys.readouterr().err


def test_evidence_show_unknown_id(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evidence", "show", "7", "--store", store]) == ExitCode.USAGE
    assert "no evidence with id 7" in capsys.readouterr().err


def test_evidence_store_bad_url_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evidence", "list", "--store", "nosuchdb://x"]) == ExitCode.USAGE
    assert "cannot use store location" in capsys.readouterr().err


def test_evidence_store_unreachable_postgres_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["evidence", "list", "--store", "postgresql://postgres@127.0.0.1:1/none"])
    assert code == ExitCode.INCOMPLETE


def _open(store: str, *extra: str) -> int:
    return main(
        [
            "incident",
            "open",
            "--title",
            "canary leak",
            "--store",
            store,
            "--aware-at",
            "2026-10-24T10:00",
            "--tz",
            "Europe/Berlin",
            "--now",
            "2026-10-24T12:00+02:00",
            *extra,
        ]
    )


def test_incident_lifecycle(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _open(store, "--regime", "nis2-significant", "--fact", "significance=nis2-23.3.a",
                 "--format", "json") == 0  # fmt: skip
    (opened,) = _json(capsys)  # type: ignore[misc]
    assert opened["id"] == "INC-20261024-001"
    due = {c["key"]: c["due"] for c in opened["clocks"]}
    # DST ends 25 Oct 03:00 -> 02:00: 24 h after 10:00 CEST is 09:00 CET
    assert due["NIS2-23.4.a"] == "2026-10-25T09:00:00+01:00"
    assert main(["incident", "list", "--store", store, "--now", "2026-10-26T12:00+01:00"]) == 1
    listing = capsys.readouterr().out
    assert "OVERDUE: early warning (NIS2 Art. 23(4)(a))" in listing
    assert "next: incident notification (NIS2 Art. 23(4)(b)) due 2026-10-27T09:00+01:00" in listing
    assert (
        main(
            [
                "incident",
                "update",
                opened["id"],
                "--store",
                store,
                "--submitted",
                "NIS2-23.4.a=2026-10-25T08:00",
                "--submitted",
                "NIS2-23.4.b=2026-10-26T09:00",
                "--fact",
                "severity=high",
                "--now",
                "2026-10-26T12:00+01:00",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "incident",
                "report",
                opened["id"],
                "--store",
                store,
                "--format",
                "json",
                "--now",
                "2026-10-26T12:00+01:00",
            ]
        )
        == 0
    )
    drafts = {d["clock"]: d for d in _json(capsys)}  # type: ignore[union-attr]
    assert drafts["NIS2-23.4.d"]["due"] == "2026-11-26T09:00:00+01:00"
    fields = {f["name"]: f["value"] for f in drafts["NIS2-23.4.b"]["fields"]}
    assert fields["severity"] == "high"
    assert (
        main(
            ["incident", "update", opened["id"], "--store", store, "--close", "2026-11-20T10:00"]
            + ["--now", "2026-11-20T12:00+01:00"]  # a fixed clock: the final report is due 11-26
        )
        == 0
    )
    capsys.readouterr()
    assert main(["incident", "list", "--store", store]) == 0
    assert "no open incidents" in capsys.readouterr().out


def test_incident_open_needs_a_title(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["incident", "open", "--store", store]) == ExitCode.USAGE
    assert "--title" in capsys.readouterr().err


def test_incident_bad_time_is_usage_error(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["incident", "open", "--title", "x", "--aware-at", "last tuesday", "--store", store]
    )
    assert code == ExitCode.USAGE
    assert "ISO 8601" in capsys.readouterr().err


def test_incident_bad_zone_is_usage_error(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["incident", "open", "--title", "x", "--tz", "Europe/Atlantis", "--store", store])
        == ExitCode.USAGE
    )
    assert "IANA" in capsys.readouterr().err


def test_incident_bad_fact_is_usage_error(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _open(store, "--fact", "novalue") == ExitCode.USAGE
    assert "KEY=VALUE" in capsys.readouterr().err


def test_incident_update_unknown_clock(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _open(store) == 0
    capsys.readouterr()
    code = main(
        [
            "incident",
            "update",
            "INC-20261024-001",
            "--store",
            store,
            "--submitted",
            "NIS2-99=2026-10-25T08:00",
        ]
    )
    assert code == ExitCode.USAGE
    assert "NIS2-23.4.a" in capsys.readouterr().err


def test_incident_update_unknown_id(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["incident", "update", "INC-nope", "--store", store]) == ExitCode.USAGE
    assert "no incident 'INC-nope'" in capsys.readouterr().err


def test_incident_open_from_guard_events(
    tmp_path: pathlib.Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    events = [
        {
            "event_type": "canary_leak",
            "occurred_at": "2026-10-24T10:00:00+00:00",
            "request_id": "r1",
            "message": "canary kst-1 in answer",
        }
    ]
    events += [
        {
            "event_type": "block",
            "occurred_at": f"2026-10-24T11:00:{s:02d}+00:00",
            "request_id": f"b{s}",
        }
        for s in range(5)
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    assert (
        main(
            [
                "incident",
                "open",
                "--from-events",
                str(path),
                "--burst-threshold",
                "5",
                "--regime",
                "cra-severe-incident",
                "--fact",
                "significance=cra-14.5.a",
                "--store",
                store,
                "--format",
                "json",
                "--now",
                "2026-10-24T12:00+00:00",
            ]
        )
        == 0
    )
    opened = _json(capsys)
    assert [i["source"] for i in opened] == ["canary_leak", "blocked_attack_burst"]  # type: ignore[index]
    assert opened[1]["evidence_refs"] == ["b0", "b1", "b2", "b3", "b4"]  # type: ignore[index]
    # a canary leak is classed as asked; a burst of *blocked* attacks never is by itself
    assert opened[0]["regimes"] == ["cra-severe-incident"]  # type: ignore[index]
    assert opened[1]["regimes"] == []  # type: ignore[index]
    assert opened[1]["clocks"] == []  # type: ignore[index]


def test_incident_open_from_malformed_events(
    tmp_path: pathlib.Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"event_type": "block"}\nnot json\n')
    assert main(["incident", "open", "--from-events", str(path), "--store", store]) == 2
    assert "events.jsonl:2: not JSON" in capsys.readouterr().err


def test_incident_open_from_the_audit_log(
    tmp_path: pathlib.Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    log_module = pytest.importorskip("kastell.audit.log")
    interface = pytest.importorskip("kastell.audit.interface")
    location = str(tmp_path / "audit.sqlite")
    with log_module.AuditLog.open(location) as log:
        log.append(interface.AuditEvent(interface.EventType.REQUEST, request_id="r0"))
        log.append(
            interface.AuditEvent(
                interface.EventType.CANARY_LEAK, request_id="r1", message="canary in answer"
            )
        )
    assert (
        main(
            ["incident", "open", "--from-audit-log", location, "--store", store, "--format", "json"]
        )
        == 0
    )
    (opened,) = _json(capsys)  # type: ignore[misc]
    assert opened["source"] == "canary_leak"
    assert opened["evidence_refs"] == ["r1"]
    # reading the same log again opens nothing new; a new leak in it opens exactly one more
    args = ["incident", "open", "--from-audit-log", location, "--store", store, "--format", "json"]
    assert main(args) == 0
    again = capsys.readouterr()
    assert json.loads(again.out) == []
    assert "no new incident" in again.err
    with log_module.AuditLog.open(location) as log:
        log.append(interface.AuditEvent(interface.EventType.CANARY_LEAK, request_id="r2"))
    assert main(args) == 0
    assert [i["evidence_refs"] for i in _json(capsys)] == [["r2"]]  # type: ignore[index]
    assert main(["incident", "list", "--all", "--store", store, "--format", "json"]) in (0, 1)
    assert len(_json(capsys)) == 2  # type: ignore[arg-type]


def test_incident_open_from_a_missing_audit_log(
    tmp_path: pathlib.Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["incident", "open", "--from-audit-log", str(tmp_path / "none.sqlite"), "--store", store]
    )
    assert code in (ExitCode.USAGE, ExitCode.INCOMPLETE)
    assert "none.sqlite" in capsys.readouterr().err


def test_evidence_add_refuses_huge_files(
    tmp_path: pathlib.Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024 + 1)  # sparse: no real disk use
    assert main(["evidence", "add", "documentation", str(big), "--store", store, *META]) == 2
    assert "larger than 64 MiB" in capsys.readouterr().err


def test_evidence_show_payload_not_held_by_the_store(
    tmp_path: pathlib.Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from kastell.comply.evidence_store import EvidenceStore
    from kastell.types import EvidenceKind

    from ._builders import make_evidence

    with EvidenceStore.open(store) as opened:
        opened.record(make_evidence(EvidenceKind.AI_BOM))
    code = main(["evidence", "show", "1", "--store", store, "--payload", str(tmp_path / "p")])
    assert code == ExitCode.INCOMPLETE
    assert "not held by the store" in capsys.readouterr().err


@pytest.mark.postgres
def test_evidence_cli_on_postgres(
    pg_url: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "policy.md"
    doc.write_text("policy")
    assert main(["evidence", "add", "documentation", str(doc), "--store", pg_url, *META]) == 0
    assert main(["incident", "open", "--title", "t", "--store", pg_url]) == 0
    capsys.readouterr()
    assert main(["evidence", "list", "--store", pg_url, "--format", "json"]) == 0
    kinds = [e["kind"] for e in _json(capsys)]  # type: ignore[union-attr]
    assert kinds == ["documentation", "incident_record"]


def test_command_module_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, kastell.cli.comply; heavy = ('sqlalchemy', 'pydantic', 'jinja2', "
        "'kastell.comply.assess'); print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"  # `kastell assess --help` stays fast


def test_awareness_of_an_event_can_be_later_than_the_event(
    tmp_path: pathlib.Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"event_type": "canary_leak", "occurred_at": "2026-10-24T03:00:00+00:00"}\n')
    assert (
        main(
            [
                "incident",
                "open",
                "--from-events",
                str(path),
                "--aware-at",
                "2026-10-24T09:00:00+00:00",
                "--store",
                store,
                "--format",
                "json",
            ]
        )
        == 0
    )
    (opened,) = _json(capsys)  # type: ignore[misc]
    assert opened["aware_at"] == "2026-10-24T09:00:00+00:00"
