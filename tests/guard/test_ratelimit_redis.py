"""The Redis token bucket against the real Redis on 127.0.0.1:6379, shared by two replicas."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from kastell.guard.ratelimit import RateLimitUnavailableError, RedisRateLimiter

from ._servers import free_port

pytestmark = pytest.mark.redis


def test_redis_bucket_is_shared_between_replicas() -> None:
    tenant = f"t-{uuid.uuid4().hex}"

    async def run() -> list[bool]:
        first = RedisRateLimiter.from_url("redis://127.0.0.1:6379/0")
        second = RedisRateLimiter.from_url("redis://127.0.0.1:6379/0")
        try:
            results = []
            for limiter in (first, second, first, second):
                results.append((await limiter.acquire(tenant, 60, 3)).allowed)
            await asyncio.sleep(1.1)
            results.append((await second.acquire(tenant, 60, 3)).allowed)
            return results
        finally:
            await first.aclose()
            await second.aclose()

    assert asyncio.run(run()) == [True, True, True, False, True]


def test_redis_down_fails_closed() -> None:
    async def run() -> None:
        limiter = RedisRateLimiter.from_url(f"redis://127.0.0.1:{free_port()}/0")
        try:
            await limiter.acquire("t", 60, 3)
        finally:
            await limiter.aclose()

    with pytest.raises(RateLimitUnavailableError, match="rate-limit backend failed"):
        asyncio.run(run())


def test_redis_extraction_counters_are_shared_and_alert_once() -> None:
    from kastell.guard.config import ExtractionSettings
    from kastell.guard.extraction import RedisExtractionWatch

    settings = ExtractionSettings(max_requests=3, max_template_repeats=100, window_s=600)
    tenant = f"t-{uuid.uuid4().hex}"

    async def run() -> list[str]:
        replicas = [
            RedisExtractionWatch.from_url("redis://127.0.0.1:6379/0", settings) for _ in range(2)
        ]
        try:
            kinds: list[str] = []
            for n in range(6):
                alerts = await replicas[n % 2].observe(tenant, f"prompt {n}", wants_logprobs=False)
                kinds += [a.kind for a in alerts]
            return kinds
        finally:
            for replica in replicas:
                await replica.aclose()

    assert asyncio.run(run()) == ["volume"]
