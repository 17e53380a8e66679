"""Inline SVG bar charts with confidence-interval whiskers, for self-contained HTML reports.

Charts are pure functions from values to SVG text (``markupsafe.Markup``, safe to put straight
into an autoescaped Jinja2 template); every label is escaped. No JavaScript, no external assets.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from markupsafe import Markup, escape

from kastell.errors import UsageError
from kastell.report.interface import ReportError

__all__ = ["Bar", "ChartError", "render_bar_chart"]


class ChartError(ReportError, UsageError):
    """A chart was given values it cannot draw (NaN, negative, interval not around the value)."""

    default_hint = "Pass finite values within [0, max_value], with low <= value <= high."


@dataclasses.dataclass(frozen=True)
class Bar:
    """One bar: a label, a value and an optional confidence interval ``[low, high]``."""

    label: str
    value: float
    low: float | None = None
    high: float | None = None
    highlight: bool = False
    """Draw this bar in the alert colour (e.g. a failed gate)."""


_ROW = 26
_LABEL_WIDTH = 190
_VALUE_WIDTH = 120
_PAD = 8


def _check(bar: Bar, max_value: float) -> None:
    numbers = [bar.value] + [v for v in (bar.low, bar.high) if v is not None]
    if any(not math.isfinite(v) or v < 0 or v > max_value for v in numbers):
        raise ChartError(f"bar {bar.label!r} has a value outside [0, {max_value}]: {numbers}")
    if (bar.low is None) != (bar.high is None):
        raise ChartError(f"bar {bar.label!r} has only one end of its interval")
    slack = 1e-9 * max_value  # rounding in interval formulas
    if (bar.low is not None and bar.high is not None
            and not bar.low - slack <= bar.value <= bar.high + slack):
        raise ChartError(f"bar {bar.label!r}: interval [{bar.low}, {bar.high}] misses {bar.value}")


def _format(value: float, percent: bool) -> str:
    return f"{value * 100:.1f}%" if percent else f"{value:g}"


def _bar_svg(index: int, bar: Bar, scale: float, percent: bool) -> str:
    top = _PAD + index * _ROW
    x0 = _LABEL_WIDTH
    width = bar.value * scale
    fill = "#c0392b" if bar.highlight else "#2c6fbb"
    label = escape(bar.label)
    parts = [
        f'<text x="{x0 - 6}" y="{top + 15}" text-anchor="end">{label}</text>',
        f'<rect x="{x0}" y="{top + 4}" width="{width:.2f}" height="14" fill="{fill}">'
        f"<title>{label}: {escape(_format(bar.value, percent))}</title></rect>",
    ]
    text = _format(bar.value, percent)
    if bar.low is not None and bar.high is not None:
        lo, hi, mid = x0 + bar.low * scale, x0 + bar.high * scale, top + 11
        parts.append(
            f'<path d="M{lo:.2f} {mid}H{hi:.2f}M{lo:.2f} {mid - 5}V{mid + 5}'
            f'M{hi:.2f} {mid - 5}V{mid + 5}" stroke="#222" stroke-width="1.2" fill="none"/>'
        )
        text += f" [{_format(bar.low, percent)}, {_format(bar.high, percent)}]"
    parts.append(
        f'<text x="{x0 + scale + 6}" y="{top + 15}" class="v">{escape(text)}</text>'
    )
    return "".join(parts)


def render_bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    max_value: float = 1.0,
    percent: bool = True,
    plot_width: int = 320,
) -> Markup:
    """Return a horizontal bar chart as inline SVG.

    Args:
        bars: the bars, drawn top to bottom in the given order.
        title: accessible title of the chart (``<title>`` and ``aria-label``).
        max_value: the value drawn as a full-width bar (1.0 for rates).
        percent: print values as percentages.
        plot_width: width in pixels of the bar area.

    Raises:
        ChartError: a value is not finite or outside ``[0, max_value]``, or an interval is bad.
    """
    if not math.isfinite(max_value) or max_value <= 0:
        raise ChartError(f"max_value must be a positive number, not {max_value}")
    for bar in bars:
        _check(bar, max_value)
    scale = plot_width / max_value
    height = 2 * _PAD + max(1, len(bars)) * _ROW
    width = _LABEL_WIDTH + plot_width + _VALUE_WIDTH + 70
    body = "".join(_bar_svg(i, bar, scale, percent) for i, bar in enumerate(bars))
    if not bars:
        body = f'<text x="{_LABEL_WIDTH}" y="{_PAD + 15}">no data</text>'
    axis = (
        f'<line x1="{_LABEL_WIDTH}" y1="{_PAD}" x2="{_LABEL_WIDTH}" y2="{height - _PAD}" '
        'stroke="#888"/>'
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="12">'
        f"<title>{escape(title)}</title>{axis}{body}</svg>"
    )
    return Markup(svg)  # noqa: S704 - every interpolated text above is escaped
