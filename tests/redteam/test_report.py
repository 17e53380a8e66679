from __future__ import annotations

import pathlib

from kastell.redteam.campaign import run_campaign
from kastell.redteam.gates import parse_gates
from kastell.redteam.html_report import render_html_report
from kastell.redteam.interface import ProbeConfig
from kastell.redteam.report import control_coverage, evidence_summary, findings, report_dict


def test_html_report_escapes_model_output_and_shows_digest(tmp_path: pathlib.Path,
                                                           target_module: str) -> None:
    result = run_campaign(suite="kastell-ci-v1", target=f"python:{target_module}:scripted",
                          store=tmp_path / "rt.db", probe_config=ProbeConfig(languages=("en",)),
                          gates=parse_gates("insecure_output>0"))
    page = render_html_report(result)
    assert "<script>fetch(" not in page
    assert "&lt;script&gt;fetch(" in page
    assert result.run.suite_digest in page
    assert "OWASP-LLM05" in page
    assert "gate failed" in page
    report = report_dict(result)
    assert report["exit_code"] == 1
    assert sum(a["prompt"] != "" for a in report["attempts"]) == len(result.results)
    messages = [f.message for f in findings(result)]
    assert any("script element" in message for message in messages)
    coverage = {row["control"]: row for row in control_coverage(result)}
    assert coverage["OWASP-LLM05"]["succeeded"] > 0
    summary = evidence_summary(result)
    assert summary["passed"] is False
    assert summary["suite_digest"] == result.run.suite_digest
    assert "OWASP-LLM05" in summary["controls"]


def test_judge_can_overrule_content_detections_but_not_leaks(tmp_path: pathlib.Path,
                                                              target_module: str) -> None:
    from kastell.redteam.targets.python import PythonTarget

    def run(target: str, judge: str) -> object:
        import asyncio

        from kastell.redteam.campaign import run_campaign_async
        from kastell.redteam.store import RedteamStore

        store = RedteamStore(tmp_path / f"{target}-{judge}.db")
        try:
            return asyncio.run(run_campaign_async(
                suite="kastell-ci-v1", target=PythonTarget(f"{target_module}:{target}"),
                store=store, probe_config=ProbeConfig(languages=("en",)),
                judge=PythonTarget(f"{target_module}:{judge}")))
        finally:
            store.close()

    overruled = run("scripted", "judge_no")
    confirmed = run("scripted", "judge_yes")
    assert overruled.summary.category("insecure_output").succeeded == 0  # type: ignore[attr-defined]
    assert confirmed.summary.category("insecure_output").succeeded > 0  # type: ignore[attr-defined]
    assert "judge" in overruled.run.target  # type: ignore[attr-defined]
    leaks = run("leaky", "judge_no")
    assert leaks.summary.category("system_prompt_leakage").succeeded > 0  # type: ignore[attr-defined]
