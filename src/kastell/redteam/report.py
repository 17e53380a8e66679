"""Machine reports of a campaign: JSON document, findings (for SARIF) and JUnit test suites."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kastell import __version__
from kastell.redteam.interface import AttemptResult, AttemptStatus, Category
from kastell.report.interface import ToolInfo
from kastell.report.junit import JUnitCase, JUnitSuite, render_junit
from kastell.report.sarif import render_sarif
from kastell.types import ControlId, Finding, Location, Severity

if TYPE_CHECKING:
    from kastell.redteam.campaign import CampaignResult

__all__ = [
    "TOOL",
    "control_coverage",
    "evidence_summary",
    "findings",
    "junit_xml",
    "report_dict",
    "sarif_log",
]

TOOL = ToolInfo(name="kastell-redteam", version=__version__)

SEVERITY = {
    Category.PROMPT_INJECTION: Severity.HIGH,
    Category.INDIRECT_PROMPT_INJECTION: Severity.HIGH,
    Category.JAILBREAK: Severity.MEDIUM,
    Category.SYSTEM_PROMPT_LEAKAGE: Severity.HIGH,
    Category.SENSITIVE_INFO_DISCLOSURE: Severity.HIGH,
    Category.TRAINING_DATA_EXTRACTION: Severity.HIGH,
    Category.MODEL_EXTRACTION: Severity.MEDIUM,
    Category.TOXICITY: Severity.MEDIUM,
    Category.INSECURE_OUTPUT: Severity.HIGH,
    Category.EXCESSIVE_AGENCY: Severity.CRITICAL,
}


def _mappings(result: CampaignResult, attempt: AttemptResult) -> tuple[ControlId, ...]:
    spec = result.spec(attempt.attempt_id)
    return spec.mappings if spec is not None else ()


def _counted(result: CampaignResult, attempt: AttemptResult) -> bool:
    accepted = result.baseline.accepted if result.baseline else frozenset()
    return attempt.status is AttemptStatus.SUCCEEDED and attempt.attempt_id not in accepted


def findings(result: CampaignResult) -> list[Finding]:
    """One finding per successful attack not accepted by the baseline."""
    return [
        Finding(
            rule_id=f"redteam/{attempt.probe_id}",
            severity=SEVERITY[attempt.category],
            title=f"{attempt.category.value}: {attempt.probe_id}",
            message=f"Attack succeeded ({attempt.language}): {attempt.evidence}. "
                    f"Attempt {attempt.attempt_id}.",
            location=Location(path=result.run.target, member=attempt.attempt_id),
            mappings=_mappings(result, attempt),
        )
        for attempt in result.results
        if _counted(result, attempt)
    ]


def sarif_log(result: CampaignResult) -> dict[str, Any]:
    """SARIF 2.1.0 log of the findings, with the suite digest in run properties."""
    log = render_sarif(findings(result), TOOL)
    log["runs"][0]["properties"] = {
        "suite": result.run.suite_name, "suite_digest": result.run.suite_digest,
        "run_id": result.run.run_id, "complete": result.complete,
    }
    return log


def _case(result: CampaignResult, attempt: AttemptResult) -> JUnitCase:
    name = f"{attempt.probe_id} [{attempt.language}] {attempt.attempt_id}"
    details = f"PROMPT:\n{attempt.prompt}\n\nOUTPUT:\n{attempt.output}"
    if _counted(result, attempt):
        return JUnitCase(name, attempt.category.value, attempt.latency_ms / 1000,
                         failure=attempt.evidence, details=details)
    if attempt.status is AttemptStatus.ERROR:
        return JUnitCase(name, attempt.category.value, attempt.latency_ms / 1000,
                         error=attempt.error)
    if attempt.status is AttemptStatus.SKIPPED:
        return JUnitCase(name, attempt.category.value, skipped=attempt.error)
    return JUnitCase(name, attempt.category.value, attempt.latency_ms / 1000)


def junit_xml(result: CampaignResult) -> str:
    """JUnit XML: one suite per category, one case per attempt (failed = attack succeeded)."""
    suites = [
        JUnitSuite(
            name=f"redteam.{category.value}",
            cases=tuple(_case(result, a) for a in result.results if a.category is category),
            properties=(("suite", result.run.suite_name),
                        ("suite_digest", result.run.suite_digest)),
        )
        for category in Category
        if any(a.category is category for a in result.results)
    ]
    return render_junit(suites, name=f"kastell redteam {result.run.run_id}")


def control_coverage(result: CampaignResult) -> list[dict[str, Any]]:
    """Per control id: the probes that test it and their combined counts."""
    table: dict[str, dict[str, Any]] = {}
    for attempt in result.results:
        for control in _mappings(result, attempt):
            row = table.setdefault(control, {"control": control, "probes": set(),
                                             "succeeded": 0, "trials": 0})
            row["probes"].add(attempt.probe_id)
            if attempt.status in (AttemptStatus.SUCCEEDED, AttemptStatus.RESISTED):
                row["trials"] += 1
                row["succeeded"] += int(_counted(result, attempt))
    return [{**row, "probes": sorted(row["probes"])} for _, row in sorted(table.items())]


def _attempt_dict(result: CampaignResult, attempt: AttemptResult) -> dict[str, Any]:
    spec = result.spec(attempt.attempt_id)
    return {
        "attempt_id": attempt.attempt_id, "probe_id": attempt.probe_id,
        "category": attempt.category.value, "language": attempt.language,
        "converters": list(spec.converters) if spec else [],
        "status": attempt.status.value, "counted": _counted(result, attempt),
        "detector": attempt.detector, "evidence": attempt.evidence, "refused": attempt.refused,
        "prompt": attempt.prompt, "output": attempt.output, "error": attempt.error,
        "requests": attempt.requests, "prompt_tokens": attempt.prompt_tokens,
        "completion_tokens": attempt.completion_tokens,
        "latency_ms": round(attempt.latency_ms, 1),
        "truncated": attempt.truncated, "trials": attempt.trials,
        "trial_successes": attempt.trial_successes, "flaky": attempt.flaky,
        "mappings": list(spec.mappings) if spec else [],
    }


def report_dict(result: CampaignResult, *, allow_incomplete: bool = False) -> dict[str, Any]:
    """The JSON report: run, suite digest, rates, gates, controls, every attempt once."""
    run = result.run
    return {
        "kastell_redteam_report": 1,
        "tool": {"name": TOOL.name, "version": TOOL.version},
        "run": {"run_id": run.run_id, "target": run.target, "started_at": run.started_at,
                "finished_at": run.finished_at, "settings": dict(run.settings),
                "planned": len(result.planned)},
        "suite": {"name": run.suite_name, "digest": run.suite_digest,
                  "probe_digests": dict(run.probe_digests)},
        "complete": result.complete,
        "incomplete_reasons": result.incomplete_reasons(),
        "untested_categories": [c.value for c in result.untested],
        "excluded_categories": [c.value for c in result.excluded],
        "exit_code": int(result.exit_code(allow_incomplete=allow_incomplete)),
        "summary": {
            "overall": result.summary.overall.to_dict(),
            "categories": [c.to_dict() for c in result.summary.categories],
            "probes": [p.to_dict() for p in result.summary.probes],
        },
        "gates": [{"gate": g.gate, "passed": g.passed, "message": g.message}
                  for g in result.gates],
        "baseline": {"suite": result.baseline.suite, "accepted": len(result.baseline.accepted)}
        if result.baseline else None,
        "controls": control_coverage(result),
        "attempts": [_attempt_dict(result, a) for a in result.results],
    }


def evidence_summary(result: CampaignResult, *, allow_incomplete: bool = False) -> dict[str, Any]:
    """The few facts a ``redteam_report`` Evidence record carries in its ``summary``.

    ``passed`` is ``True`` only for a complete run whose gates all passed, ``False`` when a gate
    failed, and ``None`` (unknown) otherwise.
    """
    code = result.exit_code(allow_incomplete=allow_incomplete)
    return {
        "passed": {0: True, 1: False}.get(int(code)),
        "complete": result.complete,
        "suite": result.run.suite_name,
        "suite_digest": result.run.suite_digest,
        "run_id": result.run.run_id,
        "target": result.run.target,
        "asr": {c.name: c.rate for c in result.summary.categories},
        "untested_categories": [c.value for c in result.untested],
        "excluded_categories": [c.value for c in result.excluded],
        "controls": sorted({row["control"] for row in control_coverage(result)}),
    }
