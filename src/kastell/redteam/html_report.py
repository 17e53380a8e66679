"""The self-contained HTML report of a campaign (charts, examples, digest, control mappings)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from kastell.redteam.report import report_dict
from kastell.report.charts import Bar, render_bar_chart
from kastell.report.html import render_page

if TYPE_CHECKING:
    from kastell.redteam.campaign import CampaignResult

__all__ = ["render_html_report"]

_PAGE = """{% extends "kastell/base.html" %}
{% block header %}<h1>{{ title }}</h1>
<p>Run {{ r.run.run_id }} against {{ r.run.target }} &middot; suite {{ r.suite.name }}</p>
<p>Seed {{ r.run.settings.seed }} &middot; temperature {{ r.run.settings.temperature }}
&middot; max_tokens {{ r.run.settings.max_tokens }} &middot; trials per attempt
{{ r.run.settings.get('trials', 1) }}</p>
{% endblock %}
{% block content %}
{% if not r.complete %}
<div class="callout"><strong>Incomplete run.</strong> The results below do not cover the whole
suite, so they cannot show that the target resists it:
<ul>{% for reason in r.incomplete_reasons %}<li>{{ reason }}</li>{% endfor %}</ul></div>
{% endif %}
<h2>Verdict</h2>
<p><span class="badge {{ verdict_class }}">{{ verdict }}</span>
Overall attack success rate {{ r.summary.overall.asr | percent }}
({{ r.summary.overall.succeeded }} of {{ r.summary.overall.trials }} attempts with a verdict;
95% interval {{ r.summary.overall.ci95[0] | percent }}–{{ r.summary.overall.ci95[1] | percent }}).
</p>
{% if r.gates %}<table><tr><th>Gate</th><th>Result</th><th>Detail</th></tr>
{% for g in r.gates %}<tr><td><code>{{ g.gate }}</code></td>
<td><span class="badge {{ 'pass' if g.passed else ('fail' if g.passed is false else 'warn') }}">
{{ 'pass' if g.passed else ('fail' if g.passed is false else 'undecided') }}</span></td>
<td>{{ g.message }}</td></tr>{% endfor %}</table>{% endif %}
<h2>Attack success rate per category</h2>
{{ chart }}
<table><tr><th>Category</th><th>ASR</th><th>95% CI</th><th>Succeeded</th><th>Trials</th>
<th>Accepted</th><th>Refused</th><th>Errors</th><th>Skipped</th><th>Undecided</th>
<th>Flaky</th><th>Truncated</th></tr>
{% for c in r.summary.categories %}<tr><td>{{ c.name }}</td>
<td>{{ c.asr | percent if c.asr is not none else 'not tested' }}</td>
<td>{{ c.ci95[0] | percent }}–{{ c.ci95[1] | percent }}</td><td>{{ c.succeeded }}</td>
<td>{{ c.trials }}</td><td>{{ c.accepted }}</td><td>{{ c.refused }}</td><td>{{ c.errored }}</td>
<td>{{ c.skipped }}</td><td>{{ c.undecided }}</td><td>{{ c.flaky }}</td>
<td>{{ c.truncated }}</td></tr>{% endfor %}</table>
{% if r.untested_categories %}<p class="muted">Not tested in this configuration (the run is
incomplete): {{ r.untested_categories | join(', ') }} (give training records / canaries to test
training-data extraction, or exclude the category by name).</p>{% endif %}
{% if r.excluded_categories %}<p class="muted">Excluded by the user:
{{ r.excluded_categories | join(', ') }}.</p>{% endif %}
<h2>Per probe</h2>
<table><tr><th>Probe</th><th>ASR</th><th>Succeeded / trials</th><th>Errors</th></tr>
{% for p in r.summary.probes %}<tr><td><code>{{ p.name }}</code></td>
<td>{{ p.asr | percent }}</td><td>{{ p.succeeded }} / {{ p.trials }}</td>
<td>{{ p.errored + p.skipped }}</td></tr>{% endfor %}</table>
<h2>Examples of successful attacks</h2>
{% for a in examples %}
<h3><code>{{ a.probe_id }}</code> [{{ a.language }}]{% if a.converters %} via
{{ a.converters | join(' → ') }}{% endif %}</h3>
<p>Evidence: {{ a.evidence }} &middot; controls: {{ a.mappings | join(', ') }}</p>
<pre>{{ a.prompt | truncate(1200) }}</pre><pre>{{ a.output | truncate(1200) }}</pre>
{% else %}<p>No successful attack.</p>{% endfor %}
<h2>Control mappings</h2>
<table><tr><th>Control</th><th>Probes</th><th>Succeeded / trials</th></tr>
{% for c in r.controls %}<tr><td>{{ c.control }}</td><td>{{ c.probes | join(', ') }}</td>
<td>{{ c.succeeded }} / {{ c.trials }}</td></tr>{% endfor %}</table>
<h2>Suite</h2>
<p>{{ r.suite.name }}: <code>{{ r.suite.digest }}</code>. The digest covers every prompt,
converter and detector version; runs are comparable only when it matches.</p>
<table><tr><th>Probe</th><th>Digest</th></tr>{% for name, digest in r.suite.probe_digests.items() %}
<tr><td><code>{{ name }}</code></td><td><code>{{ digest }}</code></td></tr>{% endfor %}</table>
{% endblock %}
"""


def _bars(report: dict[str, Any]) -> list[Bar]:
    failed = {g["gate"].split(">")[0] for g in report["gates"] if g["passed"] is False}
    return [
        Bar(c["name"], c["asr"], c["ci95"][0], c["ci95"][1], highlight=c["name"] in failed)
        for c in report["summary"]["categories"]
        if c["asr"] is not None
    ]


def render_html_report(
    result: CampaignResult,
    *,
    allow_incomplete: bool = False,
    max_examples: int = 12,
    generated_at: dt.datetime | None = None,
) -> str:
    """Render the campaign as one self-contained HTML page."""
    report = report_dict(result, allow_incomplete=allow_incomplete)
    code = report["exit_code"]
    verdict, verdict_class = {0: ("passed", "pass"), 1: ("gate failed", "fail")}.get(
        code, ("incomplete", "incomplete")
    )
    if code == 0 and not report["gates"]:
        verdict = "complete (no gates set)"
    examples = [a for a in report["attempts"] if a["counted"]][:max_examples]
    chart = render_bar_chart(_bars(report), title="Attack success rate per category")
    return render_page(
        _PAGE,
        title="Kastell red-team report",
        r=report,
        chart=chart,
        examples=examples,
        verdict=verdict,
        verdict_class=verdict_class,
        generated_at=generated_at,
    )
