"""SARIF 2.1.0 output for findings (GitHub code scanning, GitLab, Azure DevOps read it)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kastell.report.interface import ToolInfo
from kastell.types import Finding, Severity

__all__ = ["SARIF_SCHEMA_URI", "SarifRenderer", "render_sarif"]

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"

_LEVELS = {
    Severity.INFO: "note",
    Severity.LOW: "note",
    Severity.MEDIUM: "warning",
    Severity.HIGH: "error",
    Severity.CRITICAL: "error",
}
# GitHub reads "security-severity" (0.0-10.0) to rank security alerts.
_SECURITY_SEVERITY = {
    Severity.INFO: "0.0",
    Severity.LOW: "3.0",
    Severity.MEDIUM: "5.5",
    Severity.HIGH: "8.0",
    Severity.CRITICAL: "9.5",
}


def _location(finding: Finding) -> list[dict[str, Any]]:
    if finding.location is None:
        return []
    physical: dict[str, Any] = {"artifactLocation": {"uri": finding.location.path}}
    region: dict[str, Any] = {}
    if finding.location.line is not None:
        region["startLine"] = max(1, finding.location.line)
    if finding.location.byte_offset is not None:
        region["byteOffset"] = max(0, finding.location.byte_offset)
    if region:
        physical["region"] = region
    location: dict[str, Any] = {"physicalLocation": physical}
    if finding.location.member:
        location["logicalLocations"] = [
            {"name": finding.location.member, "kind": "member"}
        ]
    return [location]


def render_sarif(findings: Sequence[Finding], tool: ToolInfo) -> dict[str, Any]:
    """Return a SARIF 2.1.0 log (as a dictionary) with one run holding ``findings``."""
    rules: dict[str, dict[str, Any]] = {}
    for finding in findings:
        rule = rules.setdefault(
            finding.rule_id,
            {
                "id": finding.rule_id,
                "shortDescription": {"text": finding.title},
                "defaultConfiguration": {"level": _LEVELS[finding.severity]},
                "properties": {"tags": sorted(set(finding.mappings)), "security-severity": "0.0"},
            },
        )
        worst = max(float(rule["properties"]["security-severity"]),
                    float(_SECURITY_SEVERITY[finding.severity]))
        rule["properties"]["security-severity"] = f"{worst:.1f}"
    rule_ids = list(rules)
    results = [
        {
            "ruleId": finding.rule_id,
            "ruleIndex": rule_ids.index(finding.rule_id),
            "level": _LEVELS[finding.severity],
            "message": {"text": finding.message},
            "locations": _location(finding),
            "properties": {
                "severity": finding.severity.name.lower(),
                "mappings": list(finding.mappings),
            },
        }
        for finding in findings
    ]
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": tool.name,
                        "version": tool.version,
                        "informationUri": tool.information_uri,
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
            }
        ],
    }


class SarifRenderer:
    """``FindingsRenderer`` producing SARIF 2.1.0 JSON text."""

    def render(self, findings: Sequence[Finding], tool: ToolInfo) -> str:
        """Return the SARIF log as indented JSON."""
        return json.dumps(render_sarif(findings, tool), indent=2)
