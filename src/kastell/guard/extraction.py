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
from typing import Any, Protocol

from kastell.guard.config import ExtractionSettings

__all__ = [
    "ExtractionAlert",
    "ExtractionCounter",
    "ExtractionWatch",
    "RedisExtractionWatch",
    "WindowCounts",
    "crossed",
    "open_extraction_counter",
    "prompt_template",
]

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


@dataclasses.dataclass(frozen=True)
class WindowCounts:
    """One tenant's counters in the current window, after counting the current request."""

    requests: int
    logprobs: int
    distinct: int
    template_repeats: int


def crossed(tenant: str, counts: WindowCounts, s: ExtractionSettings) -> list[ExtractionAlert]:
    """Every threshold the counts are over (the caller keeps each alert to once a window)."""
    alerts: list[ExtractionAlert] = []

    def alert(kind: str, value: float, threshold: float, what: str) -> None:
        alerts.append(ExtractionAlert(tenant, kind, value, threshold, what))

    if counts.requests > s.max_requests:
        alert("volume", counts.requests, s.max_requests, "request volume over the window limit")
    if counts.logprobs > s.max_logprob_requests:
        alert(
            "logprobs",
            counts.logprobs,
            s.max_logprob_requests,
            "many requests for log-probabilities",
        )
    if counts.template_repeats > s.max_template_repeats:
        alert(
            "templated",
            counts.template_repeats,
            s.max_template_repeats,
            "systematic templated queries (prompts differ only in values)",
        )
    if counts.requests >= s.min_requests_for_diversity:
        diversity = counts.distinct / counts.requests
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


class ExtractionCounter(Protocol):
    """Counts requests per tenant and window; returns the alerts newly crossed."""

    async def observe(
        self, tenant: str, prompt: str, *, wants_logprobs: bool
    ) -> list[ExtractionAlert]:
        """Count one request of ``tenant``."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class ExtractionWatch:
    """In-process counters (one window per tenant, per replica)."""

    def __init__(self, settings: ExtractionSettings, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    async def observe(
        self, tenant: str, prompt: str, *, wants_logprobs: bool
    ) -> list[ExtractionAlert]:
        """Count one request of ``tenant``; return alerts crossed by it."""
        return self.observe_now(tenant, prompt, wants_logprobs=wants_logprobs)

    def observe_now(
        self, tenant: str, prompt: str, *, wants_logprobs: bool
    ) -> list[ExtractionAlert]:
        """``observe`` without the event loop (the in-process counters never wait)."""
        now = self._clock()
        window = self._windows.get(tenant)
        if window is None or now - window.started >= self._settings.window_s:
            window = self._windows[tenant] = _Window(started=now)
        window.requests += 1
        window.logprobs += int(wants_logprobs)
        window.distinct.add(_key(prompt))
        template = _key(prompt_template(prompt))
        window.templates[template] = window.templates.get(template, 0) + 1
        counts = WindowCounts(
            window.requests, window.logprobs, len(window.distinct), window.templates[template]
        )
        fresh = [a for a in crossed(tenant, counts, self._settings) if a.kind not in window.fired]
        window.fired.update(a.kind for a in fresh)
        return fresh

    async def aclose(self) -> None:
        """Nothing to release."""


_LUA = """
local t = redis.call('TIME')
local window = math.floor(tonumber(t[1]) / tonumber(ARGV[1]))
local base = KEYS[1] .. ':' .. window
local ttl = math.ceil(tonumber(ARGV[1]) * 2)
local requests = redis.call('HINCRBY', base, 'requests', 1)
local logprobs = redis.call('HINCRBY', base, 'logprobs', tonumber(ARGV[2]))
redis.call('PFADD', base .. ':d', ARGV[3])
local distinct = redis.call('PFCOUNT', base .. ':d')
local repeats = redis.call('HINCRBY', base .. ':t', ARGV[4], 1)
for _, key in ipairs({base, base .. ':d', base .. ':t'}) do redis.call('EXPIRE', key, ttl) end
return {requests, logprobs, distinct, repeats, window}
"""


class RedisExtractionWatch:
    """Counters in Redis shared by every replica (distinct prompts via HyperLogLog)."""

    def __init__(
        self, client: Any, settings: ExtractionSettings, prefix: str = "kastell:guard:ex:"
    ) -> None:
        self._client = client
        self._settings = settings
        self._prefix = prefix
        self._script = client.register_script(_LUA)

    @classmethod
    def from_url(cls, url: str, settings: ExtractionSettings) -> RedisExtractionWatch:
        """Connect lazily to the Redis at ``url``."""
        import redis.asyncio as redis_asyncio

        return cls(redis_asyncio.Redis.from_url(url), settings)

    async def observe(
        self, tenant: str, prompt: str, *, wants_logprobs: bool
    ) -> list[ExtractionAlert]:
        """Count one request in Redis; alerts fire once per window across all replicas."""
        from redis.exceptions import RedisError

        from kastell.guard.ratelimit import RateLimitUnavailableError

        key = self._prefix + tenant
        try:
            requests, logprobs, distinct, repeats, window = await self._script(
                keys=[key],
                args=[
                    self._settings.window_s,
                    int(wants_logprobs),
                    _key(prompt).hex(),
                    _key(prompt_template(prompt)).hex(),
                ],
            )
            counts = WindowCounts(int(requests), int(logprobs), int(distinct), int(repeats))
            fresh = []
            for alert in crossed(tenant, counts, self._settings):
                once = f"{key}:{window}:fired:{alert.kind}"
                ttl = int(self._settings.window_s * 2) + 1
                if await self._client.set(once, 1, nx=True, ex=ttl):
                    fresh.append(alert)
        except RedisError as error:
            raise RateLimitUnavailableError(f"extraction counters unavailable: {error}") from None
        return fresh

    async def aclose(self) -> None:
        """Close the Redis connection pool."""
        await self._client.aclose()


def open_extraction_counter(
    backend: str, settings: ExtractionSettings, clock: Callable[[], float]
) -> ExtractionCounter:
    """In-process for ``memory``, else Redis at the same URL as the rate limits."""
    if backend == "memory":
        return ExtractionWatch(settings, clock)
    return RedisExtractionWatch.from_url(backend, settings)
