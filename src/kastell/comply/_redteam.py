"""The red-team step: run the declared suite against the target through ``kastell.redteam``.

The target is the descriptor's endpoint (OpenAI-compatible URL) or, with ``serve_local``, the
bundled SmolLM2 served in-process. Gates come from the descriptor (the red-team gate syntax, or a
mapping of category -> highest acceptable attack success rate). An incomplete campaign (errors,
undecided gates) is "not checked", never a pass; its report is still kept as evidence.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kastell.comply._evidence import canonical_json, evidence_of
from kastell.comply.descriptor import Descriptor
from kastell.comply.interface import StepOutcome, StepResult, StepUnavailableError
from kastell.errors import ExitCode
from kastell.types import ControlId, Evidence, EvidenceKind, Finding, Location, Severity, Subject

if TYPE_CHECKING:
    from kastell.redteam.interface import ProbeConfig

_OUTCOMES = {
    ExitCode.OK: StepOutcome.PASSED,
    ExitCode.FAILED: StepOutcome.FAILED,
}


def gate_expression(gates: str | Mapping[str, float]) -> str:
    """The red-team gate syntax for the descriptor's gates (a mapping fails above each rate)."""
    if isinstance(gates, str):
        return gates
    return ",".join(f"{name}>{rate:g}" for name, rate in gates.items())


def _target(d: Descriptor) -> tuple[str, str]:
    if d.model.endpoint is not None:
        return d.model.endpoint.url, d.model.endpoint.model
    if d.model.serve_local:
        return "local", "default"
    raise StepUnavailableError(
        "no red-team target: give model.endpoint or model.serve_local: true",
        hint="The red-team step needs a model that answers chat requests.",
    )


def _findings(
    report: Mapping[str, Any], mappings: Mapping[str, tuple[ControlId, ...]]
) -> list[Finding]:
    found = []
    for gate in report.get("gates", ()):
        if gate.get("passed") is False:
            name = str(gate["gate"]).split(">")[0].split(" | ")[0]
            found.append(
                Finding(
                    "KS-REDTEAM-GATE",
                    Severity.HIGH,
                    f"Red-team gate failed: {gate['gate']}",
                    str(gate.get("message", "")),
                    Location(f"redteam:{name}"),
                    mappings.get(name, (ControlId("AIA-15.5.AE"),)),
                )
            )
    return found


def category_mappings() -> dict[str, tuple[ControlId, ...]]:
    """Red-team category (and probe id) -> the control ids its probes map to."""
    from kastell.redteam.probes.registry import PROBES

    table: dict[str, dict[ControlId, None]] = {}
    for probe in PROBES.values():
        for key in (probe.category.value, probe.probe_id):
            table.setdefault(key, {}).update(dict.fromkeys(probe.mappings))
    return {key: tuple(ids) for key, ids in table.items()}


def _chart_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    failed = {
        str(g["gate"]).split(">")[0] for g in report.get("gates", ()) if g.get("passed") is False
    }
    rows = []
    for category in report.get("summary", {}).get("categories", ()):
        rate = category.get("asr")
        if rate is None:
            continue
        low, high = category.get("ci95") or (None, None)
        if low is not None and high is not None:  # float noise must not put the rate outside
            low, high = min(float(low), float(rate)), max(float(high), float(rate))
        rows.append(
            {
                "name": category["name"],
                "attack_success_rate": rate,
                "ci_low": low,
                "ci_high": high,
                "gate_failed": category["name"] in failed,
                "trials": category.get("trials"),
            }
        )
    return rows


def _as_diff_input(result: Any) -> tuple[str, str, str, Any, Any]:
    run = result.run
    return (run.run_id, run.suite_name, run.suite_digest, run.probe_digests, result.summary)


def regression_against_previous(store: pathlib.Path, current: Any) -> dict[str, Any] | None:
    """Compare ``current`` with the previous finished run of the same suite in ``store``.

    Returns the diff with ``passed`` (no category significantly worse: Wilson 95% intervals
    apart), or ``None`` when there is no earlier comparable run.
    """
    from kastell.redteam.campaign import load_summary
    from kastell.redteam.diff import diff_summaries
    from kastell.redteam.store import RedteamStore

    opened = RedteamStore(store)
    try:
        earlier = [
            r
            for r in opened.runs()
            if r.run_id != current.run.run_id
            and r.finished_at
            and r.suite_digest == current.run.suite_digest
        ]
        if not earlier:
            return None
        record, summary = load_summary(opened, earlier[0].run_id)
    finally:
        opened.close()
    previous = (record.run_id, record.suite_name, record.suite_digest, record.probe_digests,
                summary)
    diff = diff_summaries(previous, _as_diff_input(current))
    worse = [c.name for c in diff.categories if c.significant and (c.delta or 0) > 0]
    return {**diff.to_dict(), "worse": worse, "passed": not worse}


def _step_data(report: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "run": report["run"],
        "suite": report["suite"],
        "gates": report["gates"],
        "overall": report["summary"]["overall"],
        "categories": _chart_rows(report),
        "untested_categories": report.get("untested_categories", []),
    }


def _regression_evidence(
    store: pathlib.Path, result: Any, subject: Subject | None, suite: str, now: dt.datetime
) -> tuple[Evidence, bytes, dict[str, Any]] | None:
    diff = regression_against_previous(store, result)
    if diff is None:
        return None
    payload = canonical_json(diff)
    summary = {
        "passed": diff["passed"],
        "step": "redteam",
        "worse": diff["worse"],
        "compared_with": diff["run_a"],
    }
    item = evidence_of(EvidenceKind.ROBUSTNESS_REGRESSION, subject, suite, now, payload, summary)
    return item, payload, diff


def _probe_config(d: Descriptor) -> ProbeConfig:
    from kastell.redteam.inputs import load_system_prompt
    from kastell.redteam.interface import ProbeConfig
    from kastell.redteam.suites import suite_named

    if d.redteam is None:
        raise StepUnavailableError("no redteam section in the descriptor")
    prompt = d.redteam.system_prompt
    return ProbeConfig(
        languages=suite_named(d.redteam.suite).languages,
        system_prompt=load_system_prompt(d.resolve(prompt)) if prompt else "",
        secrets=tuple(d.redteam.secrets),
    )


def run_redteam_step(d: Descriptor, now: dt.datetime, subject: Subject | None) -> StepResult:
    """Run the red-team suite named in the descriptor against its target."""
    from kastell.redteam.campaign import run_campaign
    from kastell.redteam.gates import parse_gates
    from kastell.redteam.runner import RunSettings

    if d.redteam is None:
        raise StepUnavailableError("no redteam section in the descriptor")
    spec, model = _target(d)
    settings = RunSettings(concurrency=d.redteam.concurrency, sample=d.redteam.max_prompts)
    gates = parse_gates(gate_expression(d.redteam.gates)) if d.redteam.gates else None
    store = (
        d.resolve(d.redteam.store)
        if d.redteam.store
        else d.resolve(d.output.dir) / "redteam.sqlite"
    )
    store.parent.mkdir(parents=True, exist_ok=True)
    result = run_campaign(
        suite=d.redteam.suite,
        target=spec,
        store=store,
        settings=settings,
        probe_config=_probe_config(d),
        gates=gates,
        model=model,
    )
    report = result.to_dict()
    code = result.exit_code()
    outcome = _OUTCOMES.get(code, StepOutcome.NOT_CHECKED)
    findings = _findings(report, category_mappings())
    overall = report["summary"]["overall"]
    passed = None if outcome is StepOutcome.NOT_CHECKED else outcome is StepOutcome.PASSED
    detail = (
        f"{d.redteam.suite} against {spec}: {overall.get('trials')} decided attempt(s), "
        f"overall attack success {overall.get('asr')}; exit {int(code)}"
    )
    if report.get("incomplete_reasons"):
        detail += " (incomplete: " + "; ".join(report["incomplete_reasons"]) + ")"
    payload = canonical_json(report)
    summary = {
        "passed": passed,
        "findings": [f.to_dict() for f in findings],
        "step": "redteam",
        "run_id": report["run"]["run_id"],
        "suite_digest": report["suite"]["digest"],
    }
    item = evidence_of(EvidenceKind.REDTEAM_REPORT, subject, d.redteam.suite, now, payload, summary)
    data = _step_data(report)
    evidence, payloads = [item], {str(item.payload_digest): payload}
    regression = (
        _regression_evidence(store, result, subject, d.redteam.suite, now)
        if passed is not None
        else None
    )
    if regression is not None:
        extra, extra_payload, diff = regression
        evidence.append(extra)
        payloads[str(extra.payload_digest)] = extra_payload
        data = {**data, "regression": diff}
        worse = ", ".join(diff["worse"])
        detail += f"; vs run {diff['run_a']}: " + (
            f"worse in {worse}" if worse else "no regression"
        )
    return StepResult("redteam", outcome, detail, tuple(findings), tuple(evidence), payloads, data)
