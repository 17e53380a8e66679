"""The assessment report as one self-contained HTML file (inline CSS and SVG, no scripts)."""

from __future__ import annotations

import datetime as dt
import importlib.resources
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from kastell.report.charts import Bar, render_bar_chart
from kastell.report.html import render_page

__all__ = ["render_report_html"]

_OUTCOME_CLASS = {"passed": "pass", "failed": "fail", "not_checked": "incomplete",
                  "skipped": "muted"}  # fmt: skip
_VERDICT_CLASS = {"pass": "pass", "fail": "fail", "inconclusive": "incomplete"}


def _template() -> str:
    resource = importlib.resources.files("kastell.comply").joinpath("templates/report.html.j2")
    return resource.read_text(encoding="utf-8")


def _summary_chart(doc: Mapping[str, Any]) -> Markup:
    bars = []
    for framework, counts in doc["summary"].items():
        total = sum(counts.values())
        share = counts.get("satisfied", 0) / total if total else 0.0
        bars.append(Bar(framework, share, highlight=counts.get("failing", 0) > 0))
    return render_bar_chart(bars, title="Share of controls satisfied, by framework")


def _redteam_chart(doc: Mapping[str, Any]) -> Markup:
    categories = (doc.get("redteam") or {}).get("categories") or []
    findings = (doc.get("findings") or {}).get("items") or []
    over = {i["id"] for i in findings if i["source"] == "redteam" and i["state"] != "inconclusive"}
    bars = [
        Bar(str(c["name"]), float(c["attack_success_rate"]), c.get("ci_low"), c.get("ci_high"),
            bool(c.get("gate_failed")) or f"redteam:{c['name']}" in over)
        for c in categories
    ]  # fmt: skip
    if not bars:
        return Markup("")
    return render_bar_chart(
        bars, title="Attack success rate by category (95% CI); highlighted: over the risk appetite"
    )


def _deadlines(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Dates from which more controls of the catalog start to apply to this deployment."""
    groups: dict[tuple[str, str, str | None], int] = {}
    for c in doc["controls"]:
        if c.get("applicability") == "applies_later" and c.get("applies_from"):
            key = (str(c["applies_from"]), str(c["framework"]), c.get("applies_from_alternative"))
            groups[key] = groups.get(key, 0) + 1
    return [{"date": d, "framework": f, "alternative": a, "count": n}
            for (d, f, a), n in sorted(groups.items(), key=lambda kv: kv[0][:2])]  # fmt: skip


def render_report_html(doc: Mapping[str, Any], generated_at: dt.datetime) -> str:
    """HTML from ``assessment_document()`` output."""
    return render_page(
        _template(),
        title=f"Kastell assessment: {doc['deployment']}",
        generated_at=generated_at,
        doc=doc,
        outcome_class=_OUTCOME_CLASS,
        verdict_class=_VERDICT_CLASS.get(doc["verdict"], "incomplete"),
        summary_chart=_summary_chart(doc),
        redteam_chart=_redteam_chart(doc),
        deadlines=_deadlines(doc),
    )
