"""``kastell redteam``: run attack suites against a target, gate, report, diff and baseline."""

from __future__ import annotations

import json
import pathlib
from typing import TYPE_CHECKING, Any

import click

from kastell.cli._render import FORMAT_OPTION, emit_json, format_option, note, progress

if TYPE_CHECKING:
    from kastell.redteam.campaign import CampaignResult
    from kastell.redteam.store import RedteamStore

__all__ = ["redteam"]

_STORE = click.option(
    "--store", default=".kastell/redteam.db", show_default=True, envvar="KASTELL_REDTEAM_STORE",
    help="Results store: a SQLite file path or a postgresql:// URL.",
)
_REPORT_FORMAT = format_option("text", "json", "sarif", "junit", "html")
_GATES = click.option("--fail-on", "fail_on", default="", envvar="KASTELL_REDTEAM_FAIL_ON",
                      help="Gates, e.g. 'prompt_injection>0.10,system_prompt_leakage>0'.")
_BASELINE = click.option("--baseline", type=click.Path(path_type=pathlib.Path), default=None,
                         help="Baseline file of accepted findings (not counted by gates).")
_ALLOW = click.option("--allow-incomplete", is_flag=True,
                      help="Exit 0/1 even if attempts errored or were skipped (still reported).")


def _open_store(location: str) -> RedteamStore:
    from kastell.redteam.store import RedteamStore

    return RedteamStore(location)


def _policy(fail_on: str, baseline_path: pathlib.Path | None) -> tuple[Any, Any]:
    from kastell.redteam.baseline import load_baseline
    from kastell.redteam.gates import parse_gates
    from kastell.redteam.probes.registry import PROBES

    gates = parse_gates(fail_on, tuple(PROBES)) if fail_on else None
    baseline = load_baseline(baseline_path) if baseline_path is not None else None
    return gates, baseline


def _ray_plan(target: str, model: str, workers: int | None, address: str | None,
              judge: str | None) -> Any:
    if workers is None:
        return None
    from kastell.redteam.campaign import RayPlan
    from kastell.redteam.interface import RedteamUsageError

    if judge:
        raise RedteamUsageError("--judge cannot be combined with --workers (Ray backend)")
    return RayPlan(target_spec=target, workers=workers, model=model, address=address)


def _text_summary(result: CampaignResult, allow_incomplete: bool) -> str:
    report = result.to_dict()
    lines = [f"run {result.run.run_id}  suite {result.run.suite_name}  "
             f"{result.run.suite_digest[:23]}…", f"target {result.run.target}", ""]
    lines.append(f"{'category':<28}{'ASR':>8}  {'95% CI':<17}{'succ/trials':>12}{'err':>5}")
    for c in report["summary"]["categories"]:
        rate = "-" if c["asr"] is None else f"{c['asr']:.1%}"
        ci = "" if c["asr"] is None else f"[{c['ci95'][0]:.1%}, {c['ci95'][1]:.1%}]"
        lines.append(f"{c['name']:<28}{rate:>8}  {ci:<17}"
                     f"{c['succeeded']:>5}/{c['trials']:<6}{c['errored'] + c['skipped']:>5}")
    for gate in result.gates:
        state = {True: "pass", False: "FAIL", None: "undecided"}[gate.passed]
        lines.append(f"gate {gate.gate}: {state} ({gate.message})")
    if not result.complete:
        lines.append("INCOMPLETE: " + "; ".join(result.incomplete_reasons()))
    code = int(result.exit_code(allow_incomplete=allow_incomplete))
    verdict = ["passed", "gate failed", "", "incomplete"][code]
    if code == 0 and not result.gates:
        verdict = "complete (no gates set)"
    lines.append(f"verdict: {verdict}")
    return "\n".join(lines)


def _emit(result: CampaignResult, output_format: str, allow_incomplete: bool,
          html: pathlib.Path | None) -> None:
    from kastell.redteam.html_report import render_html_report
    from kastell.redteam.report import junit_xml, report_dict, sarif_log

    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_html_report(result, allow_incomplete=allow_incomplete),
                        encoding="utf-8")
        note(f"HTML report written to {html}")
    if output_format == "json":
        emit_json(report_dict(result, allow_incomplete=allow_incomplete))
    elif output_format == "sarif":
        emit_json(sarif_log(result))
    elif output_format == "junit":
        click.echo(junit_xml(result))
    elif output_format == "html":
        click.echo(render_html_report(result, allow_incomplete=allow_incomplete))
    else:
        click.echo(_text_summary(result, allow_incomplete))


@click.group()
def redteam() -> None:
    """Run, compare and gate adversarial test campaigns.

    Exit codes: 0 every gate passed on a complete run, 1 a gate failed (or diff found a
    significant regression), 2 usage error, 3 incomplete run or target unreachable.
    """


@redteam.command()
@click.option("--target", required=True, envvar="KASTELL_REDTEAM_TARGET",
              help="OpenAI-compatible base URL (http://host:port/v1), 'local', or "
                   "python:MODULE:CALLABLE.")
@click.option("--suite", default="kastell-ci-v1", show_default=True,
              envvar="KASTELL_REDTEAM_SUITE", help="Suite name (see `kastell redteam suites`).")
@click.option("--model", default="default", envvar="KASTELL_REDTEAM_MODEL",
              help="Model name sent to an HTTP target.")
@_STORE
@_GATES
@_BASELINE
@_ALLOW
@click.option("--resume", default=None, help="Resume the interrupted run with this id.")
@click.option("--concurrency", default=4, show_default=True, type=int)
@click.option("--max-tokens", default=48, show_default=True, type=int,
              help="max_tokens of each reply.")
@click.option("--max-requests", type=int, default=None, help="Budget: requests in the run.")
@click.option("--max-total-tokens", type=int, default=None, help="Budget: tokens in the run.")
@click.option("--max-seconds", type=float, default=None, help="Budget: wall time in seconds.")
@click.option("--sample", type=int, default=None, help="Run a seeded subset of N attempts.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for sampling attempts and for the target's sampler.")
@click.option("--temperature", type=float, default=0.0, show_default=True,
              help="Sampling temperature sent to the target.")
@click.option("--languages", default=None, help="Comma-separated subset of en,de,fr,it,es.")
@click.option("--records", type=click.Path(path_type=pathlib.Path), default=None,
              help="JSONL of training records for verbatim-extraction probes.")
@click.option("--canaries", type=click.Path(path_type=pathlib.Path), default=None,
              help="JSONL of planted canaries for canary-exposure probes.")
@click.option("--system-prompt", "system_prompt_file", type=click.Path(path_type=pathlib.Path),
              default=None, envvar="KASTELL_REDTEAM_SYSTEM_PROMPT",
              help="File with the deployment's own system prompt: the leakage probes plant "
                   "their canary in it ({CANARY} marks the place) instead of a built-in prompt.")
@click.option("--timeout", type=float, default=60.0, show_default=True,
              help="Seconds per HTTP request.")
@click.option("--retries", type=int, default=2, show_default=True,
              help="Retries per request (connection errors, 429, 5xx).")
@click.option("--workers", type=int, default=None, envvar="KASTELL_REDTEAM_WORKERS",
              help="Fan the campaign over this many Ray workers (needs kastell[ray]).")
@click.option("--ray-address", default=None, envvar="RAY_ADDRESS",
              help="Address of a running Ray cluster (default: start one on this machine).")
@click.option("--judge", default=None, envvar="KASTELL_REDTEAM_JUDGE",
              help="OpenAI-compatible URL of a judge model that may overrule content "
                   "detections (never adds successes).")
@click.option("--judge-model", default="default", envvar="KASTELL_REDTEAM_JUDGE_MODEL")
@click.option("--html", type=click.Path(path_type=pathlib.Path), default=None,
              help="Also write the HTML report to this file.")
@_REPORT_FORMAT
def run(target: str, suite: str, model: str, store: str, fail_on: str,
        baseline: pathlib.Path | None, allow_incomplete: bool, resume: str | None,
        concurrency: int, max_tokens: int, max_requests: int | None,
        max_total_tokens: int | None, max_seconds: float | None, sample: int | None, seed: int,
        temperature: float,
        languages: str | None, records: pathlib.Path | None, canaries: pathlib.Path | None,
        system_prompt_file: pathlib.Path | None, timeout: float, retries: int,
        workers: int | None, ray_address: str | None,
        judge: str | None, judge_model: str, html: pathlib.Path | None,
        output_format: str) -> int:
    """Run SUITE against TARGET and gate the result."""
    import asyncio

    from kastell.redteam.campaign import run_campaign_async
    from kastell.redteam.inputs import load_canaries, load_records, load_system_prompt
    from kastell.redteam.interface import ProbeConfig, RedteamUsageError
    from kastell.redteam.runner import Budget, RunSettings
    from kastell.redteam.suites import suite_named
    from kastell.redteam.targets.spec import open_target

    gates, accepted = _policy(fail_on, baseline)
    chosen = suite_named(suite)
    langs = tuple(x.strip() for x in languages.split(",")) if languages else chosen.languages
    unknown = set(langs) - {"en", "de", "fr", "it", "es"}
    if unknown:
        raise RedteamUsageError(f"unsupported languages {sorted(unknown)}",
                                hint="Use a subset of en,de,fr,it,es.")
    config = ProbeConfig(
        languages=langs,
        records=load_records(records) if records else (),
        canaries=load_canaries(canaries) if canaries else (),
        system_prompt=load_system_prompt(system_prompt_file) if system_prompt_file else "",
    )
    settings = RunSettings(
        concurrency=concurrency, max_tokens=max_tokens, seed=seed, sample=sample,
        temperature=temperature,
        budget=Budget(max_requests=max_requests, max_tokens=max_total_tokens,
                      max_seconds=max_seconds),
    )
    results_store = _open_store(store)

    plan = _ray_plan(target, model, workers, ray_address, judge)

    async def main() -> CampaignResult:
        opened = None if plan else open_target(target, model=model, timeout=timeout,
                                               max_retries=retries)
        judged = (open_target(judge, model=judge_model, timeout=timeout, max_retries=retries,
                              api_key_env="KASTELL_JUDGE_API_KEY") if judge else None)
        try:
            with progress("red-team attempts", None) as advance:
                return await run_campaign_async(
                    suite=suite, target=opened, store=results_store, settings=settings,
                    probe_config=config, gates=gates, baseline=accepted, resume=resume,
                    on_result=lambda _: advance(1), judge=judged, ray=plan,
                )
        finally:
            if opened is not None:
                await opened.aclose()
            if judged is not None:
                await judged.aclose()

    try:
        result = asyncio.run(main())
    finally:
        results_store.close()
    _emit(result, output_format, allow_incomplete, html)
    return int(result.exit_code(allow_incomplete=allow_incomplete))


@redteam.command()
@click.argument("run_id")
@_STORE
@_GATES
@_BASELINE
@_ALLOW
@click.option("--html", type=click.Path(path_type=pathlib.Path), default=None,
              help="Also write the HTML report to this file.")
@_REPORT_FORMAT
def report(run_id: str, store: str, fail_on: str, baseline: pathlib.Path | None,
           allow_incomplete: bool, html: pathlib.Path | None, output_format: str) -> int:
    """Report a stored run (RUN_ID or a unique prefix), re-evaluating gates."""
    from kastell.redteam.campaign import load_campaign

    gates, accepted = _policy(fail_on, baseline)
    results_store = _open_store(store)
    try:
        result = load_campaign(results_store, run_id, gates=gates, baseline=accepted)
    finally:
        results_store.close()
    _emit(result, output_format, allow_incomplete, html)
    return int(result.exit_code(allow_incomplete=allow_incomplete))


@redteam.command()
@click.argument("run_a")
@click.argument("run_b")
@_STORE
@click.option("--allow-suite-change", is_flag=True,
              help="Compare even when the suite digests differ (the changes are listed).")
@FORMAT_OPTION
def diff(run_a: str, run_b: str, store: str, allow_suite_change: bool,
         output_format: str) -> int:
    """Compare RUN_A (before) with RUN_B (after), category by category."""
    from kastell.redteam.campaign import load_campaign
    from kastell.redteam.diff import diff_summaries

    results_store = _open_store(store)
    try:
        a = load_campaign(results_store, run_a)
        b = load_campaign(results_store, run_b)
    finally:
        results_store.close()
    result = diff_summaries(
        (a.run.run_id, a.run.suite_name, a.run.suite_digest, a.run.probe_digests, a.summary),
        (b.run.run_id, b.run.suite_name, b.run.suite_digest, b.run.probe_digests, b.summary),
        allow_suite_change=allow_suite_change,
    )
    worse = [c for c in result.categories if c.significant and (c.delta or 0) > 0]
    if output_format == "json":
        emit_json(result.to_dict())
    else:
        for change in result.suite_changes:
            note(f"warning: {change}")
        click.echo(f"{'category':<28}{'before':>8}{'after':>8}{'delta':>9}  flag")
        for c in result.categories:
            before = "-" if c.before.rate is None else f"{c.before.rate:.1%}"
            after = "-" if c.after.rate is None else f"{c.after.rate:.1%}"
            delta = "-" if c.delta is None else f"{c.delta:+.1%}"
            flag = ("WORSE" if (c.delta or 0) > 0 else "better") if c.significant else ""
            click.echo(f"{c.name:<28}{before:>8}{after:>8}{delta:>9}  {flag}")
    return 1 if worse else 0


@redteam.command()
@click.argument("run_id")
@_STORE
@click.option("--output", "-o", type=click.Path(path_type=pathlib.Path), required=True,
              help="Baseline file to write.")
@click.option("--reason", default="accepted at baseline", show_default=True)
@FORMAT_OPTION
def baseline(run_id: str, store: str, output: pathlib.Path, reason: str,
             output_format: str) -> int:
    """Write a baseline accepting every successful attack of RUN_ID."""
    from kastell.redteam.baseline import baseline_from_results
    from kastell.redteam.campaign import load_campaign

    results_store = _open_store(store)
    try:
        result = load_campaign(results_store, run_id)
    finally:
        results_store.close()
    document = baseline_from_results(result.run.suite_name, result.results, reason).to_dict()
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if output_format == "json":
        emit_json({"baseline": str(output), "accepted": len(document["accepted"])})
    else:
        click.echo(f"{len(document['accepted'])} accepted finding(s) written to {output}")
    return 0


@redteam.command()
@_STORE
@FORMAT_OPTION
def runs(store: str, output_format: str) -> int:
    """List stored runs, newest first."""
    results_store = _open_store(store)
    try:
        records = results_store.runs()
    finally:
        results_store.close()
    rows: list[dict[str, Any]] = [
        {"run_id": r.run_id, "suite": r.suite_name, "suite_digest": r.suite_digest,
         "target": r.target, "planned": r.planned, "started_at": r.started_at,
         "finished_at": r.finished_at}
        for r in records
    ]
    if output_format == "json":
        emit_json(rows)
    else:
        for row in rows:
            click.echo(f"{row['run_id']}  {row['started_at'][:19]}  {row['suite']:<22}"
                       f"{row['planned']:>5}  {row['target']}")
    return 0


@redteam.command()
@FORMAT_OPTION
def suites(output_format: str) -> int:
    """List the built-in suites with their digests (default configuration)."""
    from kastell.redteam.suites import SUITES, materialize

    rows = []
    for suite in SUITES.values():
        built = materialize(suite)
        rows.append({"name": suite.name, "description": suite.description,
                     "attempts": len(built.attempts), "digest": built.digest})
    if output_format == "json":
        emit_json(rows)
    else:
        for row in rows:
            click.echo(f"{row['name']:<22}{row['attempts']:>5}  {row['digest']}\n"
                       f"    {row['description']}")
    return 0


@redteam.command("show-suite")
@click.argument("name")
@FORMAT_OPTION
def show_suite(name: str, output_format: str) -> int:
    """Show a suite's probes, attempt counts and digests."""
    from kastell.redteam.probes.registry import probe_named
    from kastell.redteam.suites import materialize, suite_named

    built = materialize(suite_named(name))
    probes: list[dict[str, Any]] = []
    for probe_id, digest in built.probe_digests.items():
        probe = probe_named(probe_id)
        probes.append({
            "probe_id": probe_id, "category": probe.category.value, "version": probe.version,
            "attempts": sum(a.probe_id == probe_id for a in built.attempts),
            "mappings": list(probe.mappings), "digest": digest,
            "description": probe.description,
        })
    if output_format == "json":
        emit_json({"name": built.name, "digest": built.digest, "probes": probes,
                   "untested_categories": [c.value for c in built.untested_categories]})
    else:
        click.echo(f"{built.name}  {built.digest}  ({len(built.attempts)} attempts)")
        for p in probes:
            click.echo(f"  {p['probe_id']:<32}{p['category']:<28}{p['attempts']:>4}  "
                       f"{', '.join(p['mappings'])}")
    return 0
