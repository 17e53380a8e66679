from __future__ import annotations

import json
import pathlib
import xml.etree.ElementTree as ET

import pytest

from kastell.cli.main import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["redteam", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def store(tmp_path: pathlib.Path) -> str:
    return str(tmp_path / "rt.db")


def _campaign(capsys: pytest.CaptureFixture[str], store: str, target: str,
              *extra: str) -> tuple[int, str, str]:
    return _run(capsys, "run", "--target", f"python:{target}", "--store", store,
                "--languages", "en", "--exclude-category", "training_data_extraction",
                "--exclude-category", "model_extraction", *extra)


def test_run_json_gate_failure_exit_1(capsys: pytest.CaptureFixture[str], store: str,
                                      target_module: str, tmp_path: pathlib.Path) -> None:
    html = tmp_path / "out" / "report.html"
    code, out, err = _campaign(capsys, store, f"{target_module}:leaky", "--format", "json",
                               "--fail-on", "system_prompt_leakage>0", "--html", str(html))
    assert code == 1
    report = json.loads(out)
    assert report["exit_code"] == 1
    assert report["suite"]["digest"].startswith("sha256:")
    assert report["gates"][0]["passed"] is False
    assert report["complete"] is True
    page = html.read_text(encoding="utf-8")
    assert "gate failed" in page
    assert report["suite"]["digest"] in page
    assert "<svg" in page
    assert "HTML report written" in err


def test_run_text_safe_target_exit_0(capsys: pytest.CaptureFixture[str], store: str,
                                     target_module: str) -> None:
    code, out, _ = _campaign(capsys, store, f"{target_module}:safe", "--fail-on",
                             "prompt_injection>0.1")
    assert code == 0
    assert "verdict: passed" in out
    assert "prompt_injection" in out


def test_incomplete_run_exit_3_and_allow_incomplete(capsys: pytest.CaptureFixture[str],
                                                    store: str, target_module: str) -> None:
    code, out, _ = _campaign(capsys, store, f"{target_module}:flaky")
    assert code == 3
    assert "INCOMPLETE" in out
    code, _, _ = _campaign(capsys, store, f"{target_module}:flaky", "--allow-incomplete")
    assert code == 0


def test_sarif_junit_report_baseline_and_diff(capsys: pytest.CaptureFixture[str], store: str,
                                              target_module: str,
                                              tmp_path: pathlib.Path) -> None:
    code, out, _ = _campaign(capsys, store, f"{target_module}:leaky", "--format", "sarif")
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    assert results
    assert any("OWASP-LLM07" in r["properties"]["mappings"] for r in results)
    code, out, _ = _run(capsys, "runs", "--store", store, "--format", "json")
    leaky_run = json.loads(out)[0]["run_id"]
    code, out, _ = _run(capsys, "report", leaky_run, "--store", store, "--format", "junit")
    root = ET.fromstring(out)
    assert int(root.get("failures", "0")) == len(results)
    baseline = tmp_path / "baseline.json"
    code, out, _ = _run(capsys, "baseline", leaky_run, "--store", store, "-o", str(baseline))
    assert code == 0
    code, _, _ = _run(capsys, "report", leaky_run, "--store", store, "--fail-on", "overall>0",
                      "--baseline", str(baseline))
    assert code == 0
    _campaign(capsys, store, f"{target_module}:safe")
    _, out, _ = _run(capsys, "runs", "--store", store, "--format", "json")
    safe_run = json.loads(out)[0]["run_id"]
    code, out, _ = _run(capsys, "diff", safe_run, leaky_run, "--store", store, "--format",
                        "json")
    assert code == 1  # leakage got significantly worse from safe to leaky
    document = json.loads(out)
    leakage = next(c for c in document["categories"] if c["category"] == "system_prompt_leakage")
    assert leakage["significant"]
    assert leakage["delta"] > 0
    code, _, _ = _run(capsys, "diff", leaky_run, safe_run, "--store", store)
    assert code == 0


def test_diff_refuses_different_suites(capsys: pytest.CaptureFixture[str], store: str,
                                       target_module: str) -> None:
    _campaign(capsys, store, f"{target_module}:safe")
    _run(capsys, "run", "--target", f"python:{target_module}:safe", "--store", store,
         "--languages", "en,de")
    _, out, _ = _run(capsys, "runs", "--store", store, "--format", "json")
    ids = [r["run_id"] for r in json.loads(out)]
    code, _, err = _run(capsys, "diff", ids[0], ids[1], "--store", store)
    assert code == 2
    assert "different suites" in err
    assert "changed" in err
    code, _, err = _run(capsys, "diff", ids[0], ids[1], "--store", store,
                        "--allow-suite-change")
    assert code == 0
    assert "warning" in err


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--suite", "nope"], "unknown suite"),
        (["--fail-on", "jailbreak<0.1"], "bad gate"),
        (["--languages", "en,xx"], "unsupported languages"),
        (["--baseline", "/nonexistent/baseline.json"], "cannot read baseline"),
        (["--records", "/nonexistent/records.jsonl"], "cannot read"),
        (["--concurrency", "0"], "concurrency"),
    ],
)
def test_bad_options_exit_2(capsys: pytest.CaptureFixture[str], store: str, target_module: str,
                            args: list[str], fragment: str) -> None:
    code, _, err = _campaign(capsys, store, f"{target_module}:safe", *args)
    assert code == 2
    assert fragment in err
    assert "what to do" in err


def test_unreachable_http_target_exit_3(capsys: pytest.CaptureFixture[str], store: str) -> None:
    code, _, err = _run(capsys, "run", "--target", "http://127.0.0.1:1/v1", "--store", store,
                        "--retries", "0")
    assert code == 3
    assert "unreachable" in err


def test_unknown_run_exit_2(capsys: pytest.CaptureFixture[str], store: str) -> None:
    code, _, err = _run(capsys, "report", "abcdef123", "--store", store)
    assert code == 2
    assert "no single run" in err


def test_listing_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "suites", "--format", "json")
    suites = {s["name"]: s for s in json.loads(out)}
    assert 80 <= suites["kastell-ci-v1"]["attempts"] <= 120
    code, out, _ = _run(capsys, "show-suite", "kastell-baseline-v1", "--format", "json")
    shown = json.loads(out)
    assert shown["digest"] == suites["kastell-baseline-v1"]["digest"]
    assert "training_data_extraction" in shown["untested_categories"]
    assert code == 0


def test_unreachable_store_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "runs", "--store", "postgresql://postgres@127.0.0.1:1/none")
    assert code == 3
    assert "cannot open store" in err


def test_report_html_to_stdout_and_ambiguous_prefix(capsys: pytest.CaptureFixture[str],
                                                    store: str, target_module: str) -> None:
    _campaign(capsys, store, f"{target_module}:safe")
    _, out, _ = _run(capsys, "runs", "--store", store, "--format", "json")
    run_id = json.loads(out)[0]["run_id"]
    code, out, _ = _run(capsys, "report", run_id[:6], "--store", store, "--format", "html")
    assert code == 0
    assert out.startswith("<!DOCTYPE html>")
    assert "complete (no gates set)" in out
    code, _, err = _run(capsys, "report", run_id[:3], "--store", store)
    assert code == 2
    assert "no single run" in err
