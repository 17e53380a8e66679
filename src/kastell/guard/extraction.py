"""Model-extraction watch: per-tenant counters that raise alerts above thresholds.

Signals, per tenant and time window: request volume, requests for log-probabilities, the
share of distinct prompts (very low: scripted replay; very high over many requests:
systematic coverage of the input space), and templated queries (many prompts that differ only
in numbers or quoted values). Each alert fires once per window and kind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable

from kastell.guard.config import ExtractionSettings

__all__ = ["ExtractionAlert", "ExtractionWatch", "prompt_template"]

_MASKS = (
    (re.compile(r"\"[^\"]{0,200}\"|'[^']{0,200}'|«[^»]{0,200}»"), "Q"),
    (re.compile(r"\d+(?:[.,]\d+)*"), "N"),
    (re.compile(r"\s+"), " "),
)


def prompt_template(prompt: str) -> str:
    """The prompt with quoted values and numbers masked: equal for templated queries."""
    text = prompt.casefold()
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text.strip()


@dataclasses.dataclass(frozen=True)
class ExtractionAlert:
    """One threshold crossed by one tenant."""

    tenant: str
    kind: str
    """volume | logprobs | templated | low_diversity | high_coverage"""
    value: float
    threshold: float
    message: str


@dataclasses.dataclass
class _Window:
    started: float
    requests: int = 0
    logprobs: int = 0
    distinct: set[bytes] = dataclasses.field(default_factory=set)
    templates: dict[bytes, int] = dataclasses.field(default_factory=dict)
    fired: set[str] = dataclasses.field(default_factory=set)


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).digest()


class ExtractionWatch:
    """In-process counters (one window per tenant); ``observe`` returns new alerts."""

    def __init__(self, settings: ExtractionSettings, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def observe(self, tenant: str, prompt: str, *, wants_logprobs: bool) -> list[ExtractionAlert]:
        """Count one request of ``tenant``; return alerts crossed by it."""
        now = self._clock()
        window = self._windows.get(tenant)
        if window is None or now - window.started >= self._settings.window_s:
            window = self._windows[tenant] = _Window(started=now)
        window.requests += 1
        window.logprobs += int(wants_logprobs)
        window.distinct.add(_key(prompt))
        template = _key(prompt_template(prompt))
        window.templates[template] = window.templates.get(template, 0) + 1
        fresh = [a for a in self._check(tenant, window, template) if a.kind not in window.fired]
        window.fired.update(a.kind for a in fresh)
        return fresh

    def _check(self, tenant: str, w: _Window, template: bytes) -> list[ExtractionAlert]:
        s = self._settings
        alerts: list[ExtractionAlert] = []

        def alert(kind: str, value: float, threshold: float, what: str) -> None:
            alerts.append(ExtractionAlert(tenant, kind, value, threshold, what))

        if w.requests > s.max_requests:
            alert("volume", w.requests, s.max_requests, "request volume over the window limit")
        if w.logprobs > s.max_logprob_requests:
            alert(
                "logprobs",
                w.logprobs,
                s.max_logprob_requests,
                "many requests for log-probabilities",
            )
        repeats = w.templates[template]
        if repeats > s.max_template_repeats:
            alert(
                "templated",
                repeats,
                s.max_template_repeats,
                "systematic templated queries (prompts differ only in values)",
            )
        if w.requests >= s.min_requests_for_diversity:
            diversity = len(w.distinct) / w.requests
            if s.min_diversity > 0 and diversity < s.min_diversity:
                alert("low_diversity", diversity, s.min_diversity, "scripted replay of few prompts")
            if s.max_diversity < 1 and diversity > s.max_diversity:
                alert(
                    "high_coverage",
                    diversity,
                    s.max_diversity,
                    "nearly every prompt is new: systematic coverage of the input space",
                )
        return alerts
