from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from kastell.errors import UsageError
from kastell.report.charts import Bar, ChartError, render_bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_bars_and_whiskers_are_drawn_to_scale() -> None:
    svg = render_bar_chart(
        [Bar("injection", 0.5, 0.25, 0.75), Bar("leak", 0.0)], title="ASR", plot_width=200
    )
    root = ET.fromstring(str(svg))
    rects = root.findall(f"{SVG}rect")
    assert [float(r.get("width", "nan")) for r in rects] == [100.0, 0.0]
    whiskers = root.findall(f"{SVG}path")
    assert len(whiskers) == 1
    assert whiskers[0].get("d", "").startswith("M240.00")  # 190 label + 0.25 * 200
    assert "50.0% [25.0%, 75.0%]" in "".join(root.itertext())


def test_labels_are_escaped() -> None:
    svg = render_bar_chart([Bar("<script>alert(1)</script>", 0.1)], title='"x" & <y>')
    assert "<script>" not in str(svg)
    ET.fromstring(str(svg))  # still well-formed


def test_empty_chart_says_no_data() -> None:
    assert "no data" in str(render_bar_chart([], title="t"))


def test_highlighted_bar_uses_alert_colour() -> None:
    svg = str(render_bar_chart([Bar("a", 0.2, highlight=True)], title="t"))
    assert "#c0392b" in svg


@pytest.mark.parametrize(
    ("bar", "fragment"),
    [
        (Bar("a", math.nan), "outside"),
        (Bar("a", 1.5), "outside"),
        (Bar("a", -0.1), "outside"),
        (Bar("a", 0.5, 0.6, 0.7), "misses"),
        (Bar("a", 0.5, 0.4, None), "one end"),
    ],
)
def test_bad_values_raise_chart_error(bar: Bar, fragment: str) -> None:
    with pytest.raises(ChartError, match=fragment) as caught:
        render_bar_chart([bar], title="t")
    assert isinstance(caught.value, UsageError)
    assert "low <= value <= high" in caught.value.diagnostics()


def test_bad_max_value_raises() -> None:
    with pytest.raises(ChartError, match="max_value"):
        render_bar_chart([], title="t", max_value=0)
