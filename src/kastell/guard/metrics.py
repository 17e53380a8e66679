"""Gateway metrics in the Prometheus text exposition format (version 0.0.4)."""

from __future__ import annotations

import bisect
from collections.abc import Mapping

__all__ = ["GuardMetrics"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_HELP = {
    "kastell_guard_requests_total": ("counter", "Chat requests by tenant and HTTP status."),
    "kastell_guard_decisions_total": ("counter", "Screening decisions by direction and action."),
    "kastell_guard_rule_hits_total": ("counter", "Rule firings by rule id."),
    "kastell_guard_alerts_total": ("counter", "Extraction and canary alerts by kind."),
    "kastell_guard_upstream_errors_total": ("counter", "Upstream failures by kind."),
}
_LATENCY = "kastell_guard_request_duration_seconds"


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""

    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in sorted(labels.items())) + "}"


class GuardMetrics:
    """Counters and one latency histogram, rendered on ``/metrics``."""

    def __init__(self) -> None:
        self._counters: dict[str, dict[str, float]] = {name: {} for name in _HELP}
        self._bucket_counts = [0] * (len(_BUCKETS) + 1)
        self._latency_sum = 0.0
        self._latency_count = 0

    def inc(self, name: str, labels: Mapping[str, str] | None = None, value: float = 1.0) -> None:
        """Add ``value`` to a counter series."""
        series = self._counters[name]
        key = _labels(labels or {})
        series[key] = series.get(key, 0.0) + value

    def observe_latency(self, seconds: float) -> None:
        """Record one request's duration."""
        self._bucket_counts[bisect.bisect_left(_BUCKETS, seconds)] += 1
        self._latency_sum += seconds
        self._latency_count += 1

    def render(self) -> str:
        """The exposition text."""
        lines: list[str] = []
        for name, (kind, text) in _HELP.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            series = sorted(self._counters[name].items())
            lines += [f"{name}{key} {value:g}" for key, value in series]
        lines.append(f"# HELP {_LATENCY} Time from request to last byte.")
        lines.append(f"# TYPE {_LATENCY} histogram")
        cumulative = 0
        for bound, count in zip(_BUCKETS, self._bucket_counts, strict=False):
            cumulative += count
            lines.append(f'{_LATENCY}_bucket{{le="{bound:g}"}} {cumulative}')
        lines.append(f'{_LATENCY}_bucket{{le="+Inf"}} {self._latency_count}')
        lines.append(f"{_LATENCY}_sum {self._latency_sum:.6f}")
        lines.append(f"{_LATENCY}_count {self._latency_count}")
        return "\n".join(lines) + "\n"
