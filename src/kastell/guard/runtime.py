"""Everything the running gateway holds, built once from the validated config."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping

from kastell.audit.interface import AuditEvent
from kastell.guard import _records as rec
from kastell.guard.canaries import CanaryBook
from kastell.guard.config import (
    GuardConfig,
    LimitSettings,
    PolicySettings,
    RateLimitSettings,
    RefusalAuditSettings,
)
from kastell.guard.extraction import ExtractionCounter, open_extraction_counter
from kastell.guard.interface import AuditSink, Upstream
from kastell.guard.keys import KeyRing
from kastell.guard.metrics import GuardMetrics
from kastell.guard.model_trust import DigestSource, ServedModel
from kastell.guard.offload import ScreeningPool
from kastell.guard.pipeline import Screener
from kastell.guard.policy import RuleActionPolicy
from kastell.guard.ratelimit import RateLimiter, open_rate_limiter
from kastell.guard.refusals import RefusalCoalescer, RefusalRecorder
from kastell.guard.scanners.registry import all_rules, default_scanners
from kastell.types import Digest

__all__ = [
    "DigestSourceSink",
    "GuardRuntime",
    "TenantRuntime",
    "build_runtime",
    "build_screeners",
]


@dataclasses.dataclass(frozen=True)
class TenantRuntime:
    """One tenant's screening and limits."""

    name: str
    screener: Screener
    policy: PolicySettings
    upstream: str
    rate_limit: RateLimitSettings


class DigestSourceSink:
    """An audit sink that says, on every record with a served model digest, how it is known.

    It adds ``details.served_model_digest_source`` (``verified_local``, ``hashed_local``,
    ``signed_remote`` or ``declared``) from the record's upstream, whichever part of the
    gateway built the record, so a declared digest is never mistaken for an observed one.
    """

    def __init__(self, inner: AuditSink, sources: Mapping[str, DigestSource]) -> None:
        self.inner = inner
        self._sources = {name: source.value for name, source in sources.items()}

    async def record(self, event: AuditEvent) -> str:
        """Append ``event`` (annotated) durably and return the record's hash."""
        return await self.inner.record(rec.with_digest_source(event, self._sources))

    async def aclose(self) -> None:
        """Close the wrapped sink."""
        await self.inner.aclose()


@dataclasses.dataclass
class GuardRuntime:
    """The gateway's state: tenants, upstreams, limiters, watchers, metrics, audit."""

    keyring: KeyRing
    tenants: Mapping[str, TenantRuntime]
    upstreams: Mapping[str, Upstream]
    served_digests: Mapping[str, Digest | None]
    limits: LimitSettings
    limiter: RateLimiter
    extraction: ExtractionCounter
    canaries: CanaryBook
    metrics: GuardMetrics
    audit: AuditSink | None
    refusals: RefusalRecorder
    """Audit records of refused requests (401, 429), coalesced per source under a flood."""
    digest_sources: Mapping[str, DigestSource] = dataclasses.field(default_factory=dict)
    """How each upstream's ``served_digests`` entry is known."""
    clock: Callable[[], float] = time.monotonic
    screening: ScreeningPool | None = None
    """Worker processes for large requests and answers (None: screen everything inline)."""
    metrics_keys: KeyRing | None = None
    """Keys of the scrapers allowed to read ``/metrics`` on the gateway's port."""
    metrics_public: bool = False

    async def aclose(self) -> None:
        """Close upstream pools, the limiter and the audit log (after pending summaries)."""
        if self.screening is not None:
            self.screening.close()
        for upstream in self.upstreams.values():
            await upstream.aclose()
        await self.limiter.aclose()
        await self.extraction.aclose()
        try:
            await self.refusals.aclose()
        finally:
            if self.audit is not None:
                await self.audit.aclose()


def _http_upstreams(config: GuardConfig, given: Mapping[str, Upstream]) -> dict[str, Upstream]:
    from kastell.guard.upstream import HttpUpstream

    upstreams: dict[str, Upstream] = dict(given)
    for name, settings in config.upstreams.items():
        if settings.type == "openai" and name not in given:
            api_key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
            upstreams[name] = HttpUpstream(
                settings.base_url,
                max_body_bytes=config.limits.max_answer_bytes,
                api_key=api_key,
                model=settings.model,
                timeout_s=settings.timeout_s,
                connect_timeout_s=settings.connect_timeout_s,
                max_connections=settings.max_connections,
            )
    return upstreams


def build_runtime(
    config: GuardConfig,
    *,
    upstreams: Mapping[str, Upstream] | None = None,
    served_models: Mapping[str, ServedModel] | None = None,
    audit: AuditSink | None = None,
    limiter: RateLimiter | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> GuardRuntime:
    """Build the runtime; upstreams of type ``openai`` are created unless given by name.

    ``served_models`` (from ``service.prepared_gateway``) gives each upstream's model digest
    and how it is known; records then carry both.
    """
    screeners = build_screeners(config)
    tenants = {
        name: TenantRuntime(
            name=name,
            screener=screeners[name],
            policy=config.policies[t.policy],
            upstream=t.upstream,
            rate_limit=t.rate_limit,
        )
        for name, t in config.tenants.items()
    }
    all_upstreams = _http_upstreams(config, upstreams or {})
    if limiter is None:
        limiter = open_rate_limiter(config.rate_limit_backend, clock)
    served = dict(served_models or {})
    sources = {name: model.source for name, model in served.items()}
    if audit is not None and sources:
        audit = DigestSourceSink(audit, sources)
    refused = config.audit.refused if config.audit is not None else RefusalAuditSettings()
    coalescer = RefusalCoalescer(
        window_s=refused.window_s,
        per_source=refused.per_source,
        max_sources=refused.max_sources,
        clock=clock,
    )
    return GuardRuntime(
        keyring=KeyRing({name: t.key_hashes for name, t in config.tenants.items()}),
        tenants=tenants,
        upstreams=all_upstreams,
        served_digests={name: model.digest for name, model in served.items()},
        digest_sources=sources,
        limits=config.limits,
        limiter=limiter,
        extraction=open_extraction_counter(config.rate_limit_backend, config.extraction, clock),
        canaries=CanaryBook(),
        metrics=GuardMetrics(),
        audit=audit,
        refusals=RefusalRecorder(coalescer, audit),
        clock=clock,
        screening=ScreeningPool(config),
        metrics_keys=KeyRing({"metrics": config.metrics.key_hashes})
        if config.metrics.key_hashes
        else None,
        metrics_public=config.metrics.public,
    )


def build_screeners(config: GuardConfig) -> dict[str, Screener]:
    """Each tenant's screener (scanners and policy) as the config says."""
    limits = config.limits
    scanners = default_scanners(
        max_chars=limits.max_message_chars,
        max_tokens=limits.max_message_tokens,
        ml_classifier=config.ml_classifier,
    )
    rules = all_rules()
    return {
        name: Screener(scanners, RuleActionPolicy(rules, config.policies[t.policy].overrides()))
        for name, t in config.tenants.items()
    }
