"""Rate limits: per client address on every request, and per customer on every message they
send, as token buckets. One instance keeps them in memory; with `server.redis_url` the buckets
live in Redis, so three instances behind a load balancer allow one client what one instance
would, not three times as much. Over the limit: HTTP 429 with Retry-After, or an `error`
frame with code `rate_limited` on the widget socket; the message is not stored, so the client
can send it again after the wait.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from redis.exceptions import RedisError

from bot.config import RateLimits

log = logging.getLogger(__name__)

MAX_KEYS = 100_000  # the least recently seen keys are forgotten beyond this


class RateLimiter:
    def __init__(self, per_minute: int, burst: int | None = None) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(burst if burst is not None else max(1, per_minute // 4))
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()

    def check(self, key: Hashable) -> float:
        """0 if `key` may go on now (and it is counted), else the seconds until it may."""
        now = time.monotonic()
        tokens, at = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        while len(self._buckets) > MAX_KEYS:
            self._buckets.popitem(last=False)
        return wait


# One bucket, refilled and taken from atomically inside Redis, on Redis's clock (the instances'
# clocks need not agree). The wait goes back as a string: Redis truncates Lua numbers to integers.
_BUCKET = """
local rate, capacity = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or capacity
local at = tonumber(b[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return tostring(wait)
"""
PREFIX = "relaydesk:ratelimit"


class SharedRateLimiter:
    """A `RateLimiter` whose buckets all instances share through Redis. While Redis is away
    each instance falls back to its own buckets: a limit loosened for a moment is better than
    every request refused."""

    def __init__(self, redis: Any, name: str, local: RateLimiter) -> None:
        self.local = local
        self.name = name
        self._script = redis.register_script(_BUCKET)
        self._warned = 0.0

    async def check(self, key: Hashable) -> float:
        digest = hashlib.blake2b(repr(key).encode(), digest_size=12).hexdigest()
        try:
            wait = await self._script(
                keys=[f"{PREFIX}:{self.name}:{digest}"],
                args=[self.local.rate, self.local.capacity],
            )
        except (RedisError, OSError) as exc:
            if time.monotonic() - self._warned > 60:  # once a minute, not once a request
                self._warned = time.monotonic()
                log.warning("rate limits kept per instance while Redis is away: %s", exc)
            return self.local.check(key)
        return float(wait)


class Limits:
    """The server's limiters, from `server.rate_limits` (0 turns one off)."""

    def __init__(self, settings: RateLimits) -> None:
        self.settings = settings
        self.ip = RateLimiter(settings.ip_per_minute) if settings.ip_per_minute else None
        self.customer = (
            RateLimiter(settings.customer_per_minute, settings.customer_burst)
            if settings.customer_per_minute
            else None
        )
        self._shared: dict[str, SharedRateLimiter] = {}

    def share(self, redis: Any) -> None:
        """Keep the buckets in Redis from now on (several instances behind a load balancer)."""
        for name, local in (("ip", self.ip), ("customer", self.customer)):
            if local is not None:
                self._shared[name] = SharedRateLimiter(redis, name, local)

    async def _wait(self, name: str, local: RateLimiter | None, key: Hashable) -> float:
        if local is None:
            return 0.0
        shared = self._shared.get(name)
        return await shared.check(key) if shared is not None else local.check(key)

    async def ip_wait(self, address: str) -> float:
        return await self._wait("ip", self.ip, address)

    async def customer_wait(self, channel: str, sender: str) -> float:
        return await self._wait("customer", self.customer, (channel, sender))


LIMITS = web.AppKey("rate_limits", Limits)


def client_address(request: web.Request, trust_forwarded: bool) -> str:
    if trust_forwarded:  # behind a proxy that sets it (and strips what clients send)
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.remote or "?"


def too_many(wait_s: float, what: str) -> web.Response:
    seconds = max(1, math.ceil(wait_s))
    return web.json_response(
        {
            "message": f"too many {what}; try again in {seconds} s",
            "retry_after": seconds,
            "error": "rate_limited",
        },
        status=429,
        headers={"Retry-After": str(seconds)},
    )


@web.middleware
async def ip_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    limits = request.app[LIMITS]
    if limits.ip is not None:
        wait = await limits.ip_wait(client_address(request, limits.settings.trust_forwarded_for))
        if wait:
            return too_many(wait, "requests from this address")
    return await handler(request)
