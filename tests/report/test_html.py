from __future__ import annotations

import datetime as dt

import pytest

from kastell.report.charts import Bar, render_bar_chart
from kastell.report.html import BASE_TEMPLATE_NAME, html_environment, render_page
from kastell.report.interface import ReportError

PAGE = (
    '{% extends "kastell/base.html" %}{% block content %}'
    "<p id=v>{{ value }}</p>{{ chart }}<p>{{ rate | percent }}</p>{% endblock %}"
)


def test_page_is_self_contained_and_escaped() -> None:
    chart = render_bar_chart([Bar("a", 0.3)], title="c")
    html = render_page(
        PAGE,
        title="T <1>",
        value="<img src=x onerror=alert(1)>",
        chart=chart,
        rate=0.125,
        generated_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    )
    assert html.startswith("<!DOCTYPE html>")
    assert "&lt;img src=x" in html
    assert "<img" not in html
    assert "<svg" in html  # Markup from charts is not escaped
    assert "T &lt;1&gt;" in html
    assert "12.5%" in html
    assert "2026-01-02T03:04:05+00:00" in html
    for external in ("<script", "<link", "http://", "https://", "src="):
        assert external not in html.replace("http://www.w3.org/2000/svg", "").replace(
            "src=x", ""
        )
    assert '"Segoe UI"' in html  # CSS constant is not entity-escaped


def test_undefined_variable_is_a_report_error() -> None:
    with pytest.raises(ReportError, match="cannot render") as caught:
        render_page(PAGE, title="t", value=1, chart="")
    assert "bug" in caught.value.diagnostics()


def test_malformed_template_is_a_report_error() -> None:
    with pytest.raises(ReportError):
        render_page("{% block %}", title="t")


def test_extra_templates_can_be_included() -> None:
    environment = html_environment({"part.html": "<b>{{ x }}</b>"})
    assert BASE_TEMPLATE_NAME in environment.list_templates()
    html = render_page(
        '{% extends "kastell/base.html" %}{% block content %}{% include "part.html" %}'
        "{% endblock %}",
        title="t",
        templates={"part.html": "<b>{{ x }}</b>"},
        x="&",
    )
    assert "<b>&amp;</b>" in html
