from __future__ import annotations

import datetime as dt
import json
import pathlib
import re

import pytest
import yaml

from kastell.cli.main import main
from kastell.comply.assess import Assessment, run_assessment
from kastell.comply.descriptor import load_descriptor, parse_descriptor
from kastell.comply.evidence_store import EvidenceStore
from kastell.comply.interface import ControlStatus, StepOutcome, StepResult
from kastell.comply.report_document import assessment_document
from kastell.comply.report_files import write_report
from kastell.errors import CheckError, ExitCode, VerificationError
from kastell.types import EvidenceKind

from ._builders import NOW, make_evidence
from ._deployment import build_deployment

DESCRIPTOR = {"name": "t", "model": {"path": "m"}}


def _clock() -> dt.datetime:
    return NOW


def _passing(d, now, subject):  # type: ignore[no-untyped-def]
    return StepResult(
        "ok", StepOutcome.PASSED, "fine", evidence=(make_evidence(EvidenceKind.AI_BOM),)
    )


def _failing(d, now, subject):  # type: ignore[no-untyped-def]
    raise VerificationError("signature mismatch")


def _unreachable(d, now, subject):  # type: ignore[no-untyped-def]
    raise CheckError("service down", hint="start it")


def _absent(d, now, subject):  # type: ignore[no-untyped-def]
    raise ImportError("No module named 'kastell.redteam.runner'")


def _assess(tmp_path: pathlib.Path, *runners) -> Assessment:  # type: ignore[no-untyped-def]
    descriptor = parse_descriptor(DESCRIPTOR, tmp_path)
    steps = [(f"s{i}", r) for i, r in enumerate(runners)]
    with EvidenceStore.open(tmp_path / "ev.sqlite") as store:
        return run_assessment(descriptor, store, _clock, steps=steps)


def test_all_steps_passing_exits_0_and_records_evidence(tmp_path: pathlib.Path) -> None:
    result = _assess(tmp_path, _passing, _passing)
    assert result.gates_exit_code == ExitCode.OK
    # every step passed, but applicable controls still lack evidence: open findings, no pass
    assert result.exit_code == ExitCode.FAILED
    assert result.verdict is not None
    assert result.verdict.verdict == "fail"
    assert any(i.id == "control:OWASP-LLM01" for i in result.verdict.items)
    assert len(result.recorded) == 2
    assert {r.evidence.kind for r in result.evidence} == {EvidenceKind.AI_BOM}
    assert len(result.controls) > 100


def test_a_failed_verification_is_a_failed_gate(tmp_path: pathlib.Path) -> None:
    result = _assess(tmp_path, _passing, _failing, _unreachable)
    assert [s.outcome for s in result.steps] == [
        StepOutcome.PASSED,
        StepOutcome.FAILED,
        StepOutcome.NOT_CHECKED,
    ]
    assert result.exit_code == ExitCode.FAILED
    assert "signature mismatch" in result.steps[1].detail


def test_could_not_check_is_exit_3_never_a_pass(tmp_path: pathlib.Path) -> None:
    result = _assess(tmp_path, _passing, _unreachable)
    assert result.gates_exit_code == ExitCode.INCOMPLETE
    assert result.exit_code != ExitCode.OK
    assert "start it" in result.steps[1].detail


def test_a_missing_capability_is_not_checked(tmp_path: pathlib.Path) -> None:
    result = _assess(tmp_path, _absent)
    assert result.steps[0].outcome is StepOutcome.NOT_CHECKED
    assert "not available in this build" in result.steps[0].detail
    assert result.gates_exit_code == ExitCode.INCOMPLETE


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return build_deployment(tmp_path_factory.mktemp("deployment"))


def test_real_deployment_passes_every_declared_gate(
    signed: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    descriptor = load_descriptor(signed)
    with EvidenceStore.open(tmp_path / "ev.sqlite") as store:
        result = run_assessment(descriptor, store, _clock)
    outcomes = {s.name: s.outcome for s in result.steps}
    assert outcomes == {
        "integrity": StepOutcome.PASSED,
        "provenance": StepOutcome.PASSED,
        "ai-bom": StepOutcome.PASSED,
        "scan": StepOutcome.PASSED,
        "redteam": StepOutcome.SKIPPED,
        "guard": StepOutcome.SKIPPED,
        "audit log": StepOutcome.SKIPPED,
        "residency": StepOutcome.PASSED,
        "manual evidence": StepOutcome.PASSED,
    }
    assert result.gates_exit_code == ExitCode.OK
    assert result.exit_code == ExitCode.FAILED  # controls without evidence are open findings
    bom = json.loads((signed.parent / "report" / "bom.json").read_text())
    assert bom["bomFormat"] == "CycloneDX"
    assert bom["specVersion"] == "1.6"
    kinds = {r.evidence.kind for r in result.recorded}
    assert {
        EvidenceKind.MODEL_SIGNATURE,
        EvidenceKind.PROVENANCE_ATTESTATION,
        EvidenceKind.DATASET_MANIFEST,
        EvidenceKind.AI_BOM,
        EvidenceKind.MODEL_FILE_SCAN,
        EvidenceKind.RESIDENCY_POLICY,
        EvidenceKind.DOCUMENTATION,
    } <= kinds
    # every recorded payload is held by the store under its digest
    with EvidenceStore.open(tmp_path / "ev.sqlite") as store:
        for record in result.recorded:
            assert store.payload(record.evidence.payload_digest)
    by_id = {r.control.id: r for r in result.controls}
    assert by_id["ATLAS-AML.T0011.000"].status is ControlStatus.SATISFIED  # scan + signature
    assert by_id["OWASP-LLM01"].status is ControlStatus.MISSING  # no red-team, no guard
    doc = assessment_document(result)
    chain = doc["provenance"]["chain"]
    assert chain["kind"] == "deployment"
    assert chain["ok"] is True
    assert any(child["children"] for child in chain["children"])  # training -> dataset


def test_tampered_model_fails_integrity_and_exits_1(tmp_path: pathlib.Path) -> None:
    path = build_deployment(tmp_path)
    (tmp_path / "model" / "config.json").write_text("{}")
    with EvidenceStore.open(tmp_path / "ev2.sqlite") as store:
        result = run_assessment(load_descriptor(path), store, _clock)
    integrity = result.steps[0]
    assert integrity.outcome is StepOutcome.FAILED
    assert any("config.json" in f.message for f in integrity.findings)
    assert result.exit_code == ExitCode.FAILED
    bom = next(s for s in result.steps if s.name == "ai-bom")
    assert bom.outcome is StepOutcome.FAILED  # a BOM of other bytes is refused
    by_id = {r.control.id: r for r in result.controls}
    failing = by_id["AIA-15.5.MP"]
    assert failing.status is ControlStatus.FAILING
    assert any(f.rule_id == "KS-INTEGRITY-MISMATCH" for f in failing.findings)


def test_reports_are_written_and_self_contained(
    signed: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    with EvidenceStore.open(tmp_path / "ev.sqlite") as store:
        result = run_assessment(load_descriptor(signed), store, _clock)
    doc = assessment_document(result)
    paths = write_report(doc, tmp_path / "out", ("html", "json", "md"), NOW)
    assert [p.name for p in paths] == ["report.html", "report.json", "report.md"]
    html = paths[0].read_text()
    assert str(signed.parent) not in html  # paths shown relative to the descriptor
    assert "att/deployment.json" in html
    assert "<script" not in html
    external = re.findall(r"""(?:src|href)=["']?(https?:)""", html)
    assert external == []
    assert 'id="provenance-tree"' in html
    assert 'id="summary"' in html
    assert "Digital Omnibus" in html  # caveats stay visible
    assert json.loads(paths[1].read_text())["verdict"] == "fail"
    markdown = paths[2].read_text()
    assert "Annex IV" in markdown
    assert "Digital Omnibus" in markdown
    assert "sha256:" in markdown


def test_cli_assess_writes_report_and_returns_the_exit_code(
    signed: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "assess",
            str(signed),
            "--store",
            str(tmp_path / "ev.sqlite"),
            "--output-dir",
            str(tmp_path / "r"),
            "--format",
            "json",
            "--now",
            NOW.isoformat(),
        ]
    )
    assert code == ExitCode.FAILED
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "fail"
    assert doc["gates_exit_code"] == 0
    assert (tmp_path / "r" / "report.html").is_file()


@pytest.mark.parametrize("fmt", ["sarif", "junit", "text"])
def test_cli_assess_other_formats(
    signed: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    code = main(
        [
            "assess",
            str(signed),
            "--store",
            str(tmp_path / "ev.sqlite"),
            "--output-dir",
            str(tmp_path / "r"),
            "--format",
            fmt,
        ]
    )
    assert code == ExitCode.FAILED  # applicable controls without evidence are open findings
    out = capsys.readouterr().out
    marker = {"sarif": '"version": "2.1.0"', "junit": "<testsuites", "text": "FAIL (exit 1)"}[fmt]
    assert marker in out


def test_cli_bad_descriptor_exits_2_naming_the_field(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("name: x\nmodel: {path: m}\nredteam: {concurrency: 0}\n")
    assert main(["assess", str(path)]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "redteam.concurrency" in err
    assert "deployment-descriptor.md" in err


def test_cli_missing_descriptor_exits_2(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["assess", str(tmp_path / "none.yaml")]) == ExitCode.USAGE
    assert "does not exist" in capsys.readouterr().err


def test_cli_unwritable_output_dir_exits_3(
    signed: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code = main(
        [
            "assess",
            str(signed),
            "--store",
            str(tmp_path / "ev.sqlite"),
            "--output-dir",
            str(blocker / "sub"),
        ]
    )
    assert code == ExitCode.INCOMPLETE
    assert "cannot write the report" in capsys.readouterr().err


def test_residency_contradicting_the_signed_statement_fails(tmp_path: pathlib.Path) -> None:
    assets = [
        {
            "name": "w",
            "kind": "weights",
            "country": "FR",
            "provider": "self",
            "provider_jurisdiction": "FR",
        }
    ]
    path = build_deployment(tmp_path, residency={"assets": assets})
    with EvidenceStore.open(tmp_path / "ev.sqlite") as store:
        result = run_assessment(load_descriptor(path), store, _clock)
    residency = next(s for s in result.steps if s.name == "residency")
    assert residency.outcome is StepOutcome.FAILED
    assert [f.rule_id for f in residency.findings] == ["RES-005"]
    assert result.exit_code == ExitCode.FAILED


def test_report_renders_when_no_step_could_run(tmp_path: pathlib.Path) -> None:
    descriptor = parse_descriptor(DESCRIPTOR, tmp_path)
    names = [
        "integrity",
        "provenance",
        "ai-bom",
        "scan",
        "redteam",
        "guard",
        "audit log",
        "residency",
        "manual evidence",
    ]
    with EvidenceStore.open(tmp_path / "ev.sqlite") as store:
        result = run_assessment(descriptor, store, _clock, steps=[(n, _unreachable) for n in names])
    assert result.gates_exit_code == ExitCode.INCOMPLETE
    doc = assessment_document(result)
    assert doc["verdict"] == "fail"  # open control findings win over "not checked"
    assert len(doc["findings"]["not_checked_steps"]) == len(names)
    assert all(c["status"] != "satisfied" for c in doc["controls"])  # unknown never passes
    html, md = write_report(doc, tmp_path / "out", ("html", "md"), NOW)
    assert "not_checked" in html.read_text()
    assert "Not verified" in html.read_text()
    assert "service down" in md.read_text()


def _redteam_like(d, now, subject):  # type: ignore[no-untyped-def]
    rows = [
        {
            "name": "prompt_injection",
            "attack_success_rate": 0.25,
            "ci_low": 0.1,
            "ci_high": 0.5,
            "gate_failed": True,
            "trials": 8,
        }
    ]
    return StepResult("redteam", StepOutcome.FAILED, "gate failed", data={"categories": rows})


def test_red_team_results_are_charted_and_tabled(tmp_path: pathlib.Path) -> None:
    descriptor = parse_descriptor(DESCRIPTOR, tmp_path)
    with EvidenceStore.open(tmp_path / "ev.sqlite") as store:
        result = run_assessment(descriptor, store, _clock, steps=[("redteam", _redteam_like)])
    html, md = write_report(assessment_document(result), tmp_path / "o", ("html", "md"), NOW)
    page = html.read_text()
    assert "Attack success rate by category" in page
    assert "prompt_injection" in page
    assert "| prompt_injection | 25.0% | 10.0% - 50.0% | yes |" in md.read_text()


@pytest.mark.postgres
def test_cli_assess_with_a_postgres_evidence_store(
    signed: pathlib.Path, tmp_path: pathlib.Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "assess",
            str(signed),
            "--store",
            pg_url,
            "--output-dir",
            str(tmp_path / "r"),
            "--format",
            "json",
        ]
    )
    assert code == ExitCode.FAILED
    doc = json.loads(capsys.readouterr().out)
    assert doc["gates_exit_code"] == 0
    assert {e["kind"] for e in doc["evidence"]} >= {"model_signature", "ai_bom", "model_file_scan"}
    with EvidenceStore.open(pg_url) as store:
        assert len(store.list()) == len(doc["evidence"])


def test_undeclared_red_team_and_guard_are_not_checked(tmp_path: pathlib.Path) -> None:
    path = build_deployment(tmp_path)
    document = yaml.safe_load(path.read_text())
    del document["redteam"], document["guard"]
    path.write_text(yaml.safe_dump(document))
    with EvidenceStore.open(tmp_path / "ev.sqlite") as store:
        result = run_assessment(load_descriptor(path), store, _clock)
    outcomes = {s.name: s for s in result.steps}
    assert outcomes["redteam"].outcome is StepOutcome.NOT_CHECKED
    assert "enabled: false" in outcomes["redteam"].detail
    assert outcomes["guard"].outcome is StepOutcome.NOT_CHECKED
    assert result.gates_exit_code == ExitCode.INCOMPLETE
