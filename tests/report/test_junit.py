from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.report.interface import ToolInfo
from kastell.report.junit import JUnitCase, JUnitRenderer, JUnitSuite, render_junit
from kastell.types import Finding, Location, Severity


def test_counts_and_outcomes() -> None:
    suite = JUnitSuite(
        name="s",
        cases=(
            JUnitCase("ok", "c", time_seconds=0.5, details="out"),
            JUnitCase("bad", "c", failure="attack succeeded", details="the reply"),
            JUnitCase("err", "c", error="timeout"),
            JUnitCase("skip", "c", skipped="budget"),
        ),
        properties=(("suite_digest", "sha256:ab"),),
    )
    root = ET.fromstring(render_junit([suite]))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "4", "1", "1", "1",
    )
    cases = root.findall("./testsuite/testcase")
    assert cases[0].findtext("system-out") == "out"
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == "attack succeeded"
    assert failure.text == "the reply"
    assert cases[2].find("error") is not None
    assert cases[3].find("skipped") is not None
    prop = root.find("./testsuite/properties/property")
    assert prop is not None
    assert prop.get("value") == "sha256:ab"


def test_findings_renderer_one_failure_per_finding() -> None:
    findings = [
        Finding("R1", Severity.HIGH, "t1", "m1", Location("model.bin"), ()),
        Finding("R2", Severity.LOW, "t2", "m2"),
    ]
    root = ET.fromstring(JUnitRenderer().render(findings, ToolInfo("kastell", "0")))
    assert root.get("failures") == "2"
    text = root.findall(".//failure")[0].text or ""
    assert "location: model.bin" in text


def test_no_findings_is_one_passing_case() -> None:
    root = ET.fromstring(JUnitRenderer().render([], ToolInfo("kastell", "0")))
    assert (root.get("tests"), root.get("failures")) == ("1", "0")


@settings(max_examples=200, deadline=2000)
@given(st.text(), st.text())
def test_any_text_gives_well_formed_xml(name: str, details: str) -> None:
    case = JUnitCase(name, name, failure=details, details=details)
    xml = render_junit([JUnitSuite(name, (case,))])
    root = ET.fromstring(xml)
    assert root.get("failures") == "1"
