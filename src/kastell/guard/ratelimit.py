"""Per-tenant token-bucket rate limits: in-process, or in Redis for several replicas.

A bucket holds up to ``burst`` tokens and refills at ``per_minute / 60`` tokens a second; a
request takes one token or is refused with the seconds to wait. The Redis backend runs the
same arithmetic atomically in a Lua script, using the Redis server's clock so replicas agree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

from kastell.errors import CheckError, UsageError
from kastell.guard.interface import GuardError

__all__ = [
    "MemoryRateLimiter",
    "RateDecision",
    "RateLimitBackendError",
    "RateLimitUnavailableError",
    "RateLimiter",
    "RedisRateLimiter",
    "open_rate_limiter",
]


class RateLimitBackendError(GuardError, UsageError):
    """The rate-limit backend setting cannot be used."""

    default_hint = "Use rate_limit_backend: memory, or redis://HOST:PORT/DB with redis installed."


class RateLimitUnavailableError(GuardError, CheckError):
    """The shared rate-limit store did not answer; requests are refused (fail closed, 503)."""

    default_hint = "Check that Redis is reachable at the configured rate_limit_backend URL."


@dataclasses.dataclass(frozen=True)
class RateDecision:
    """Whether a request may pass and, if not, when to retry."""

    allowed: bool
    retry_after_s: float = 0.0


class RateLimiter(Protocol):
    """Takes one token from a tenant's bucket."""

    async def acquire(self, tenant: str, per_minute: float, burst: int) -> RateDecision:
        """Take a token or say how long to wait."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def _take(tokens: float, last: float, now: float, rate: float, burst: int) -> tuple[float, float]:
    """Refill then take one token; return (tokens left, wait seconds) (negative-free)."""
    tokens = min(float(burst), tokens + max(0.0, now - last) * rate)
    if tokens >= 1.0:
        return tokens - 1.0, 0.0
    return tokens, (1.0 - tokens) / rate


class MemoryRateLimiter:
    """Buckets in this process (one replica)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    async def acquire(self, tenant: str, per_minute: float, burst: int) -> RateDecision:
        """Take a token from the tenant's in-process bucket."""
        now = self._clock()
        tokens, last = self._buckets.get(tenant, (float(burst), now))
        tokens, wait = _take(tokens, last, now, per_minute / 60.0, burst)
        self._buckets[tenant] = (tokens, now)
        return RateDecision(wait == 0.0, wait)

    async def aclose(self) -> None:
        """Nothing to release."""


_LUA = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', key, 'tokens', 'last')
local tokens = tonumber(state[1]) or burst
local last = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', key, 'tokens', tostring(tokens), 'last', tostring(now))
redis.call('EXPIRE', key, math.ceil(burst / rate) + 60)
return tostring(wait)
"""


class RedisRateLimiter:
    """Buckets in Redis, shared by every gateway replica."""

    def __init__(self, client: Any, prefix: str = "kastell:guard:rl:") -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_LUA)

    @classmethod
    def from_url(cls, url: str) -> RedisRateLimiter:
        """Connect lazily to the Redis at ``url``."""
        try:
            import redis.asyncio as redis_asyncio
        except ImportError:
            raise RateLimitBackendError("the redis package is not installed") from None
        return cls(redis_asyncio.Redis.from_url(url))

    async def acquire(self, tenant: str, per_minute: float, burst: int) -> RateDecision:
        """Take a token from the tenant's bucket in Redis."""
        from redis.exceptions import RedisError

        try:
            key = self._prefix + tenant
            answer = await self._script(keys=[key], args=[per_minute / 60.0, burst])
        except RedisError as error:
            raise RateLimitUnavailableError(f"rate-limit backend failed: {error}") from None
        wait = float(answer)
        return RateDecision(wait == 0.0, wait)

    async def aclose(self) -> None:
        """Close the Redis connection pool."""
        await self._client.aclose()


def open_rate_limiter(backend: str, clock: Callable[[], float]) -> RateLimiter:
    """``memory`` or a ``redis://`` URL."""
    if backend == "memory":
        return MemoryRateLimiter(clock)
    return RedisRateLimiter.from_url(backend)
