"""OSCAL export: Assessment Results and POA&M that compliance-trestle's OSCAL models accept."""

from __future__ import annotations

import json
import pathlib

import pytest

from kastell.comply.assess import run_assessment
from kastell.comply.descriptor import load_descriptor
from kastell.comply.evidence_store import EvidenceStore
from kastell.comply.report_document import assessment_document
from kastell.comply.report_files import write_report

from ._builders import NOW
from ._deployment import build_deployment

trestle = pytest.importorskip("trestle.oscal.assessment_results", reason="kastell[oscal]")


def test_the_export_validates_and_carries_every_finding(tmp_path: pathlib.Path) -> None:
    from trestle.oscal.assessment_results import AssessmentResults
    from trestle.oscal.poam import PlanOfActionAndMilestones

    descriptor = load_descriptor(build_deployment(tmp_path))
    with EvidenceStore.open(tmp_path / "ev.sqlite") as store:
        doc = assessment_document(run_assessment(descriptor, store, lambda: NOW))
    paths = write_report(doc, tmp_path / "out", ("json", "oscal"), NOW)
    names = [p.name for p in paths]
    assert names == ["report.json", "oscal-assessment-results.json", "oscal-poam.json"]
    results = json.loads((tmp_path / "out" / names[1]).read_text())["assessment-results"]
    parsed = AssessmentResults.model_validate(results)  # the models generated from NIST's schema
    findings = parsed.results[0].findings or []
    items = doc["findings"]["items"]
    assert len(findings) == len(items)
    assert {p.value for f in findings for p in (f.props or []) if p.name == "verdict-item"} == {
        i["id"] for i in items}  # fmt: skip
    plan = json.loads((tmp_path / "out" / names[2]).read_text())["plan-of-action-and-milestones"]
    parsed_plan = PlanOfActionAndMilestones.model_validate(plan)
    open_ids = {i["id"] for i in items if i["state"] != "accepted"}
    assert len(parsed_plan.poam_items) == len(open_ids)
    # the same assessment exports the same documents (stable UUIDs)
    again = write_report(doc, tmp_path / "again", ("oscal",), NOW)
    assert again[0].read_bytes() == (tmp_path / "out" / names[1]).read_bytes()


def test_an_invalid_document_is_refused_not_written(tmp_path: pathlib.Path) -> None:
    from kastell.comply.interface import ReportWriteError
    from kastell.comply.oscal import oscal_documents

    doc = {"deployment": "d", "finished_at": "2026-11-26T12:00:00Z", "started_at": "not a time",
           "verdict": "fail", "exit_code": 1, "steps": [], "findings": {"items": []}}  # fmt: skip
    with pytest.raises((ReportWriteError, ValueError)):
        oscal_documents(doc)
