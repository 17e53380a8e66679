"""``kastell scan``: the fail-closed model-file scanner."""

from __future__ import annotations

import json

import click

from kastell.cli._render import format_option

__all__ = ["scan"]


def _text_report(report: object, allow_unscannable: bool) -> None:
    from kastell.scan.interface import ScanReport, Verdict

    if not isinstance(report, ScanReport):
        return
    for result in report.files:
        marker = {Verdict.CLEAN: "ok  ", Verdict.FINDINGS: "FAIL",
                  Verdict.UNSCANNABLE: "SKIP" if allow_unscannable else "FAIL"}[result.verdict]
        click.echo(f"{marker} {result.path} [{result.format}] {result.verdict.value}")
        for finding in result.findings:
            where = f" ({finding.location.member})" if finding.location and \
                finding.location.member else ""
            click.echo(f"     {finding.severity.name:<8} {finding.rule_id}{where}: "
                       f"{finding.message}")
    counts = report.counts()
    verdict = "passed" if report.passed(allow_unscannable=allow_unscannable) else "FAILED"
    click.echo(
        f"{len(report.files)} file(s): {counts['clean']} clean, {counts['findings']} with "
        f"findings, {counts['unscannable']} unscannable - {verdict} "
        f"(policy {report.policy_version})"
    )


def _junit(report: object, allow_unscannable: bool) -> str:
    from kastell.report.junit import JUnitCase, JUnitSuite, render_junit
    from kastell.scan.interface import ScanReport, Verdict

    if not isinstance(report, ScanReport):
        return ""
    cases = []
    for result in report.files:
        details = "\n".join(f"{f.severity.name} {f.rule_id} {f.location}: {f.message}"
                            for f in result.findings)
        failure = error = skipped = None
        if result.verdict is Verdict.FINDINGS or (
                result.fails(allow_unscannable=allow_unscannable)
                and result.verdict is not Verdict.UNSCANNABLE):
            failure = f"{len(result.findings)} finding(s), worst {result.worst.name.lower()}" \
                if result.worst is not None else "findings"
        elif result.verdict is Verdict.UNSCANNABLE:
            reason = "; ".join(result.reasons) or "unscannable"
            if allow_unscannable:
                skipped = reason
            else:
                error = reason
        cases.append(JUnitCase(name=result.path, classname=f"kastell-scan.{result.format}",
                               failure=failure, error=error, skipped=skipped, details=details))
    suite = JUnitSuite(name="kastell scan", cases=tuple(cases),
                       properties=(("policy_version", report.policy_version),))
    return render_junit([suite], name="kastell-scan")


def _machine_output(report: object, output_format: str, allow_unscannable: bool) -> str:
    from kastell.scan.interface import ScanReport

    if not isinstance(report, ScanReport):
        return ""
    if output_format == "json":
        return json.dumps(report.to_dict(allow_unscannable=allow_unscannable), indent=2)
    if output_format == "sarif":
        from kastell.report.interface import ToolInfo
        from kastell.report.sarif import render_sarif

        tool = ToolInfo(name="kastell-scan", version=report.tool_version)
        return json.dumps(render_sarif(list(report.findings), tool), indent=2)
    if output_format == "junit":
        return _junit(report, allow_unscannable)
    return ""


@click.command("scan")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@format_option("text", "json", "sarif", "junit")
@click.option(
    "--allow-unscannable", is_flag=True, envvar="KASTELL_SCAN_ALLOW_UNSCANNABLE",
    help="Do not fail on files that could not be scanned or have an unknown format "
    "(they are still listed and counted).",
)
@click.option(
    "--policy", "policy_file", type=click.Path(dir_okay=False, path_type=str),
    envvar="KASTELL_SCAN_POLICY",
    help="YAML file extending the pickle allowlist ({version: 1, allow: [...], deny: [...]}).",
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, path_type=str),
              help="Write the report to this file instead of stdout.")
def scan(paths: tuple[str, ...], output_format: str, allow_unscannable: bool,
         policy_file: str | None, output: str | None) -> int:
    """Scan model files, directories and archives for code that runs at load time.

    Files are identified by content, never by extension. Every file gets one verdict: clean,
    findings or unscannable. Exit codes: 0 every file clean, 1 findings or unscannable files
    (unless --allow-unscannable), 2 usage error (missing path, bad policy file).
    """
    from kastell.cli._render import note, progress
    from kastell.scan import load_policy, scan_paths
    from kastell.scan.engine import expand_paths

    policy = load_policy(policy_file)
    targets = expand_paths(paths)
    total = sum(t.stat().st_size for t in targets if t.is_file())
    # the shared bar counts bytes (files' sizes; a checkpoint's tensors are not actually read)
    with progress("scanning", total) as advance:
        report = scan_paths(targets, policy, on_file=lambda result: advance(result.size or 0))
    passed = report.passed(allow_unscannable=allow_unscannable)
    text = _machine_output(report, output_format, allow_unscannable)
    if output_format == "text" and output is None:
        _text_report(report, allow_unscannable)
    elif output is not None:
        if output_format == "text":
            text = json.dumps(report.to_dict(allow_unscannable=allow_unscannable), indent=2)
        try:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
        except OSError as error:
            from kastell.scan.interface import ScanOutputError

            raise ScanOutputError(f"cannot write {output}: {error.strerror or error}") from None
        note(f"report written to {output}")
    else:
        click.echo(text)
    counts = report.counts()
    note(f"scanned {len(report.files)} file(s): {counts['clean']} clean, "
         f"{counts['findings']} findings, {counts['unscannable']} unscannable")
    return 0 if passed else 1
