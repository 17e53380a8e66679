"""``kastell redteam``: run attack suites against a target, gate, report, diff and baseline."""

from __future__ import annotations

import json
import pathlib
from typing import TYPE_CHECKING, Any

import click

from kastell.cli._render import FORMAT_OPTION, emit_json, format_option, note, progress
from kastell.cli.redteam_attack import attack
from kastell.cli.redteam_backdoor import backdoor
from kastell.cli.redteam_privacy import privacy

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


_STORE_KEY = click.option(
    "--store-key", type=click.Path(path_type=pathlib.Path), default=None,
    envvar="KASTELL_REDTEAM_STORE_KEY",
    help="Key file for the keyed digests of secrets in the store (default: the SQLite path "
         "plus .key, created on first use).")


def _open_store(location: str, key: pathlib.Path | None = None) -> RedteamStore:
    from kastell.redteam.store import RedteamStore

    return RedteamStore(location, key)


def _policy(fail_on: str, baseline_path: pathlib.Path | None) -> tuple[Any, Any]:
    from kastell.redteam.baseline import load_baseline
    from kastell.redteam.gates import parse_gates
    from kastell.redteam.probes.registry import PROBES

    gates = parse_gates(fail_on, tuple(PROBES)) if fail_on else None
    baseline = load_baseline(baseline_path) if baseline_path is not None else None
    return gates, baseline


def _ray_plan(target: str, model: str, workers: int | None, address: str | None,
              judge: str | None, timeout: float, retries: int) -> Any:
    if workers is None:
        return None
    from kastell.redteam.campaign import RayPlan
    from kastell.redteam.interface import RedteamUsageError

    if judge:
        raise RedteamUsageError("--judge cannot be combined with --workers (Ray backend)")
    return RayPlan(target_spec=target, workers=workers, model=model, address=address,
                   timeout=timeout, retries=retries)


def _text_summary(result: CampaignResult, allow_incomplete: bool) -> str:
    report = result.to_dict()
    settings = result.run.settings
    lines = [f"run {result.run.run_id}  suite {result.run.suite_name}  "
             f"{result.run.suite_digest[:23]}…", f"target {result.run.target}",
             f"seed {settings.get('seed')}  temperature {settings.get('temperature')}  "
             f"max_tokens {settings.get('max_tokens')}  trials {settings.get('trials', 1)}", ""]
    lines.append(f"{'category':<28}{'ASR':>8}  {'95% CI':<17}{'succ/trials':>12}{'err':>5}"
                 f"{'undec':>6}{'flaky':>6}{'trunc':>6}")
    for c in report["summary"]["categories"]:
        rate = "-" if c["asr"] is None else f"{c['asr']:.1%}"
        ci = "" if c["asr"] is None else f"[{c['ci95'][0]:.1%}, {c['ci95'][1]:.1%}]"
        lines.append(f"{c['name']:<28}{rate:>8}  {ci:<17}"
                     f"{c['succeeded']:>5}/{c['trials']:<6}{c['errored'] + c['skipped']:>5}"
                     f"{c['undecided']:>6}{c['flaky']:>6}{c['truncated']:>6}")
    flaky = [a for a in result.results if a.flaky]
    for attempt in flaky[:10]:
        lines.append(f"flaky {attempt.attempt_id} {attempt.probe_id}: succeeded in "
                     f"{attempt.trial_successes}/{attempt.trials} trials")
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
@click.option("--max-tokens", default=256, show_default=True, type=int,
              help="max_tokens of each reply (replies cut at it are flagged truncated).")
@click.option("--trials", type=int, default=1, show_default=True,
              help="Sample each attempt K times (trial i uses seed+i); reports per-attempt "
                   "success rates and flakiness.")
@click.option("--exclude-category", "excluded", multiple=True,
              help="Leave a category out by name (repeatable); every other category must be "
                   "tested for the run to be complete.")
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
              help="File with the deployment's own system prompt: the leakage probes send it "
                   "unchanged instead of a built-in prompt and look for it and the --secret "
                   "values in replies ({CANARY} in it plants a canary there).")
@click.option("--secret", "secrets", multiple=True,
              help="A secret of the deployment (repeatable): any form of it in a reply to a "
                   "leakage probe is a leak.")
@click.option("--plant-canary", is_flag=True,
              help="Append a canary line to the deployment's system prompt.")
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
@_STORE_KEY
@click.option("--store-plaintext", is_flag=True,
              help="Store the system prompt, secrets, canaries and leaked replies as they are "
                   "(default: keyed digests, leaked values cut out of stored replies).")
@_REPORT_FORMAT
def run(target: str, suite: str, model: str, store: str, fail_on: str,
        baseline: pathlib.Path | None, allow_incomplete: bool, resume: str | None,
        concurrency: int, max_tokens: int, trials: int, excluded: tuple[str, ...],
        max_requests: int | None,
        max_total_tokens: int | None, max_seconds: float | None, sample: int | None, seed: int,
        temperature: float,
        languages: str | None, records: pathlib.Path | None, canaries: pathlib.Path | None,
        system_prompt_file: pathlib.Path | None, secrets: tuple[str, ...], plant_canary: bool,
        timeout: float, retries: int,
        workers: int | None, ray_address: str | None,
        judge: str | None, judge_model: str, html: pathlib.Path | None,
        store_key: pathlib.Path | None, store_plaintext: bool, output_format: str) -> int:
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
        secrets=tuple(secrets), plant_canary=plant_canary,
    )
    settings = RunSettings(
        concurrency=concurrency, max_tokens=max_tokens, seed=seed, sample=sample,
        temperature=temperature, trials=trials, excluded=tuple(excluded),
        budget=Budget(max_requests=max_requests, max_tokens=max_total_tokens,
                      max_seconds=max_seconds),
    )
    results_store = _open_store(store, store_key)

    plan = _ray_plan(target, model, workers, ray_address, judge, timeout, retries)

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
                    store_plaintext=store_plaintext,
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
@click.option("--system-prompt", "system_prompt_file", type=click.Path(path_type=pathlib.Path),
              default=None, help="The run's system prompt (runs stored as keyed digests).")
@click.option("--secret", "secrets", multiple=True, help="The run's secrets (repeatable).")
@click.option("--records", type=click.Path(path_type=pathlib.Path), default=None)
@click.option("--canaries", type=click.Path(path_type=pathlib.Path), default=None)
@_REPORT_FORMAT
def report(run_id: str, store: str, fail_on: str, baseline: pathlib.Path | None,
           allow_incomplete: bool, html: pathlib.Path | None,
           system_prompt_file: pathlib.Path | None, secrets: tuple[str, ...],
           records: pathlib.Path | None, canaries: pathlib.Path | None,
           output_format: str) -> int:
    """Report a stored run (RUN_ID or a unique prefix), re-evaluating gates.

    A run stored with keyed digests (the default) needs its --system-prompt, --secret,
    --records and --canaries again; the suite digest proves they are the run's own.
    """
    from kastell.redteam.campaign import load_campaign
    from kastell.redteam.inputs import load_canaries, load_records, load_system_prompt
    from kastell.redteam.interface import ProbeConfig

    gates, accepted = _policy(fail_on, baseline)
    given = ProbeConfig(
        system_prompt=load_system_prompt(system_prompt_file) if system_prompt_file else "",
        secrets=tuple(secrets), records=load_records(records) if records else (),
        canaries=load_canaries(canaries) if canaries else ())
    results_store = _open_store(store)
    try:
        result = load_campaign(results_store, run_id, gates=gates, baseline=accepted,
                               probe_config=given)
    finally:
        results_store.close()
    _emit(result, output_format, allow_incomplete, html)
    return int(result.exit_code(allow_incomplete=allow_incomplete))


def _rate(stats: Any) -> str:
    return "-" if stats.rate is None else f"{stats.succeeded}/{stats.trials} {stats.rate:.0%}"


def _diff_text(result: Any) -> None:
    click.echo(f"{'category':<28}{'before':>12}{'after':>12}{'delta':>8}  "
               f"{'95% CI of delta':<18}{'p':>8}{'p_holm':>8}  flag")
    for c in result.categories:
        delta = "-" if c.delta is None else f"{c.delta:+.0%}"
        ci = "" if c.interval is None else f"[{c.interval[0]:+.0%}, {c.interval[1]:+.0%}]"
        p_raw = "-" if c.p_value is None else f"{c.p_value:.3g}"
        p_holm = "-" if c.p_holm is None else f"{c.p_holm:.3g}"
        flag = ("WORSE" if (c.delta or 0) > 0 else "better") if c.significant else ""
        click.echo(f"{c.name:<28}{_rate(c.before):>12}{_rate(c.after):>12}{delta:>8}  "
                   f"{ci:<18}{p_raw:>8}{p_holm:>8}  {flag}")
    click.echo(f"Fisher exact two-sided p, Holm-adjusted over the categories compared; "
               f"significant when p_holm <= {result.alpha:g} and |delta| >= "
               f"{result.min_effect:g}; Newcombe hybrid score interval.")


@redteam.command()
@click.argument("run_a")
@click.argument("run_b")
@_STORE
@click.option("--allow-suite-change", is_flag=True,
              help="Compare even when the suite digests differ (the changes are listed).")
@click.option("--alpha", type=float, default=0.05, show_default=True,
              help="Family-wise significance level (Holm over the categories compared).")
@click.option("--min-effect", type=float, default=0.0, show_default=True,
              help="Smallest change in attack success rate (0-1) worth flagging.")
@FORMAT_OPTION
def diff(run_a: str, run_b: str, store: str, allow_suite_change: bool, alpha: float,
         min_effect: float, output_format: str) -> int:
    """Compare RUN_A (before) with RUN_B (after), category by category."""
    from kastell.redteam.campaign import load_summary
    from kastell.redteam.diff import diff_summaries

    results_store = _open_store(store)
    try:
        a, summary_a = load_summary(results_store, run_a)
        b, summary_b = load_summary(results_store, run_b)
    finally:
        results_store.close()
    result = diff_summaries(
        (a.run_id, a.suite_name, a.suite_digest, a.probe_digests, summary_a),
        (b.run_id, b.suite_name, b.suite_digest, b.probe_digests, summary_b),
        allow_suite_change=allow_suite_change, alpha=alpha, min_effect=min_effect,
    )
    worse = [c for c in result.categories if c.significant and (c.delta or 0) > 0]
    if output_format == "json":
        emit_json(result.to_dict())
    else:
        for change in result.suite_changes:
            note(f"warning: {change}")
        _diff_text(result)
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

    results_store = _open_store(store)
    try:
        record = results_store.run(run_id)
        results = results_store.attempts(record.run_id)
    finally:
        results_store.close()
    document = baseline_from_results(record.suite_name, results, reason).to_dict()
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


redteam.add_command(attack)
redteam.add_command(backdoor)
redteam.add_command(privacy)
