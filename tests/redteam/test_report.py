from __future__ import annotations

import pathlib

from kastell.redteam.campaign import run_campaign
from kastell.redteam.gates import parse_gates
from kastell.redteam.html_report import render_html_report
from kastell.redteam.interface import ProbeConfig
from kastell.redteam.report import control_coverage, findings, report_dict


def test_html_report_escapes_model_output_and_shows_digest(tmp_path: pathlib.Path,
                                                           target_module: str) -> None:
    result = run_campaign(suite="kastell-ci-v1", target=f"python:{target_module}:scripted",
                          store=tmp_path / "rt.db", probe_config=ProbeConfig(languages=("en",)),
                          gates=parse_gates("insecure_output>0"))
    page = render_html_report(result)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
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
