"""Freshness and single use of WeChat's webhook signatures.

In plaintext mode WeChat signs only `token`, `timestamp` and `nonce`, never the body, so a
captured signed URL would otherwise carry any XML (another openid, other words) for as long as
anyone cares to reuse it. Two checks close that:

- the timestamp must lie within `timestamp_window_seconds` of now, so a captured URL dies soon;
- within that window, a signature belongs to the first request that used it: the same signature
  with the same message (same sender, account, MsgId and text; for the handshake, the same
  `echostr`) is let through, because WeChat's documentation does not say whether its three
  retries of an unanswered message are new requests or the same one resent, and a retry must
  reach the MsgId de-duplication and get its "success". The same signature with a different
  message is a forgery riding on a captured URL, and is refused.

The first use is remembered in this process, and in Redis (SET NX EX) when instances share one,
so a replay sent to another instance is caught too.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger(__name__)
KEY_PREFIX = "relaydesk:wechat:signature:"


class ReplayRefused(Exception):
    """A signed request that is stale, dated ahead, or reuses a signature for another message."""


class FirstUses:
    """Which request first used each signature, in this process; entries go when their
    timestamp has left the window (nothing older can pass the freshness check anyway)."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}
        self._expiry: list[tuple[float, str]] = []

    def claim(self, signature: str, request: str, expires_at: float, now: float) -> str:
        """Record `request` as the signature's first use unless one is known; return the first."""
        while self._expiry and self._expiry[0][0] < now:
            _, old = heapq.heappop(self._expiry)
            del self._seen[old]
        first = self._seen.get(signature)
        if first is None:
            self._seen[signature] = first = request
            heapq.heappush(self._expiry, (expires_at, signature))
        return first

    def correct(self, signature: str, first: str) -> None:
        """Another instance saw the signature first (a claimed entry exists here already)."""
        self._seen[signature] = first

    def __len__(self) -> int:
        return len(self._seen)


class ReplayGuard:
    """Checks one signed request (its signature already verified) against the window and the
    signatures used before."""

    def __init__(self, window_s: int, redis: Any | None = None) -> None:
        self.window_s = window_s
        self.redis: Any = redis  # None: this instance alone
        self.local = FirstUses()

    async def check(self, query: dict[str, str], request: str, now: float) -> None:
        """Raise ReplayRefused unless the request is fresh and the signature's first use (or a
        resend of it). `request` identifies what the signature is used for; `now` is Unix
        seconds."""
        try:
            timestamp = int(query.get("timestamp", ""))
        except ValueError:
            raise ReplayRefused("the timestamp is not Unix seconds") from None
        age = now - timestamp
        if age > self.window_s:
            raise ReplayRefused(
                f"stale request: signed {int(age)} s ago, more than the "
                f"{self.window_s} s allowed (wechat.timestamp_window_seconds)"
            )
        if -age > self.window_s:
            raise ReplayRefused(f"request dated {int(-age)} s in the future")
        signature = query.get("signature", "").lower()
        expires_at = timestamp + self.window_s
        digest = hashlib.sha256(request.encode()).hexdigest()
        first = self.local.claim(signature, digest, expires_at, now)
        if first == digest and self.redis is not None:
            first = await self._claim_shared(signature, digest, max(1, int(expires_at - now) + 1))
            if first != digest:  # so WeChat's resend of the real first use still passes here
                self.local.correct(signature, first)
        if first != digest:
            raise ReplayRefused("replayed signature: it was already used for another message")

    async def _claim_shared(self, signature: str, digest: str, ttl_s: int) -> str:
        key = KEY_PREFIX + signature
        try:
            if await self.redis.set(key, digest, nx=True, ex=ttl_s):
                return digest
            first = await self.redis.get(key)
        except RedisError as exc:  # the window and this process's memory still hold
            log.warning("wechat replay check: Redis unavailable (%s); checked locally", exc)
            return digest
        if first is None:  # expired between the two calls: the window has closed on it
            return digest
        return first.decode() if isinstance(first, bytes) else str(first)


def request_identity(*parts: str) -> str:
    """One string for the parts of a request a signature must stay bound to."""
    return "\x1f".join(parts)
