"""JUnit XML for CI systems (GitLab, Jenkins, Azure DevOps, GitHub test reporters read it).

Two entry points: ``render_junit`` for callers that have test suites of their own (the red-team
harness: one test case per probe, failed when an attack succeeded, errored when it could not be
run), and ``JUnitRenderer`` for plain findings (one failed test case per finding). Characters that
XML 1.0 forbids (most C0 controls, lone surrogates) are replaced, so model output can go in as is.
"""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from kastell.report.interface import ToolInfo
from kastell.types import Finding

__all__ = ["JUnitCase", "JUnitRenderer", "JUnitSuite", "render_junit"]

_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _ILLEGAL_XML.sub("\ufffd", text)


@dataclasses.dataclass(frozen=True)
class JUnitCase:
    """One test case. At most one of ``failure``, ``error`` and ``skipped`` is set."""

    name: str
    classname: str
    time_seconds: float = 0.0
    failure: str | None = None
    """Message of a failed case (the check ran and found a problem)."""
    error: str | None = None
    """Message of a case that could not be run."""
    skipped: str | None = None
    """Reason the case was skipped."""
    details: str = ""
    """Longer text: body of the failure/error element, or system-out of a passing case."""


@dataclasses.dataclass(frozen=True)
class JUnitSuite:
    """A named group of test cases."""

    name: str
    cases: tuple[JUnitCase, ...]
    properties: tuple[tuple[str, str], ...] = ()


def _case_element(case: JUnitCase) -> ET.Element:
    element = ET.Element(
        "testcase",
        name=_clean(case.name),
        classname=_clean(case.classname),
        time=f"{max(0.0, case.time_seconds):.3f}",
    )
    outcome = None
    if case.failure is not None:
        outcome = ET.SubElement(element, "failure", message=_clean(case.failure), type="failure")
    elif case.error is not None:
        outcome = ET.SubElement(element, "error", message=_clean(case.error), type="error")
    elif case.skipped is not None:
        ET.SubElement(element, "skipped", message=_clean(case.skipped))
    if case.details:
        if outcome is not None:
            outcome.text = _clean(case.details)
        else:
            ET.SubElement(element, "system-out").text = _clean(case.details)
    return element


def _suite_element(suite: JUnitSuite) -> ET.Element:
    cases = suite.cases
    element = ET.Element(
        "testsuite",
        name=_clean(suite.name),
        tests=str(len(cases)),
        failures=str(sum(c.failure is not None for c in cases)),
        errors=str(sum(c.failure is None and c.error is not None for c in cases)),
        skipped=str(
            sum(c.failure is None and c.error is None and c.skipped is not None for c in cases)
        ),
        time=f"{sum(max(0.0, c.time_seconds) for c in cases):.3f}",
    )
    if suite.properties:
        properties = ET.SubElement(element, "properties")
        for name, value in suite.properties:
            ET.SubElement(properties, "property", name=_clean(name), value=_clean(value))
    element.extend(_case_element(case) for case in cases)
    return element


def render_junit(suites: Sequence[JUnitSuite], *, name: str = "kastell") -> str:
    """Return a JUnit XML document (``<testsuites>``) for the given suites."""
    root = ET.Element("testsuites", name=_clean(name))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        element = _suite_element(suite)
        for key in totals:
            totals[key] += int(element.get(key, "0"))
        root.append(element)
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


class JUnitRenderer:
    """``FindingsRenderer`` producing JUnit XML: one failed test case per finding."""

    def render(self, findings: Sequence[Finding], tool: ToolInfo) -> str:
        """Return the JUnit document; no findings gives one passing case."""
        cases = tuple(
            JUnitCase(
                name=f"{finding.rule_id}: {finding.title}",
                classname=f"{tool.name}.{finding.rule_id}",
                failure=finding.message,
                details="\n".join(
                    [f"severity: {finding.severity.name.lower()}"]
                    + ([f"location: {finding.location}"] if finding.location else [])
                    + ([f"controls: {', '.join(finding.mappings)}"] if finding.mappings else [])
                ),
            )
            for finding in findings
        )
        if not cases:
            cases = (JUnitCase(name="no findings", classname=tool.name),)
        return render_junit([JUnitSuite(name=f"{tool.name} {tool.version}", cases=cases)])
