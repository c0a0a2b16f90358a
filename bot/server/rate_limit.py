"""Rate limits: per client address on every request, and per customer on every message they
send, as token buckets kept in this process (each instance limits what reaches it; a load
balancer spreads one client over several). Over the limit: HTTP 429 with Retry-After, or an
`error` frame with code `rate_limited` on the widget socket; the message is not stored, so
the client can send it again after the wait.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Hashable

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.config import RateLimits

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

    def customer_wait(self, channel: str, sender: str) -> float:
        return self.customer.check((channel, sender)) if self.customer else 0.0


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
        {"message": f"too many {what}; try again in {seconds} s", "retry_after": seconds},
        status=429,
        headers={"Retry-After": str(seconds)},
    )


@web.middleware
async def ip_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    limits = request.app[LIMITS]
    if limits.ip is not None:
        key = client_address(request, limits.settings.trust_forwarded_for)
        wait = limits.ip.check(key)
        if wait:
            return too_many(wait, "requests from this address")
    return await handler(request)
