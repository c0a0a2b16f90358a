"""One WeChat access token for every instance.

Each fetch of cgi-bin/token gives a new token and retires the previous one (after WeChat's
five-minute overlap), and WeChat allows only a couple of thousand fetches a day. So with several
instances, one fetches and all read: the token lives in Redis under
`relaydesk:wechat:<appid>:token`, and only the holder of a short lease
(`…:token:lease`, SET NX with a time-to-live) fetches a new one. The others wait for it to appear.

A token WeChat refuses (40001, 40014, 42001) is refreshed once: `get(stale=T)` fetches only if the
shared token is still T; an instance that sees another one already there just uses it, so a
refusal seen by ten instances at once costs one fetch. A lease holder that dies lets its lease
lapse and the next waiter fetches.

Without Redis (one instance), or while Redis does not answer, the token is kept in this process
the same way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from connectors.outbox import RetryLater

log = logging.getLogger(__name__)
REFRESH_BEFORE_S = 300  # fetch a new token this long before the old one expires
WAIT_STEP_S = 0.05
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class Token:
    value: str
    renew_at: float  # Unix seconds (shared between machines): fetch a new one after this

    def fresh(self, now: float) -> bool:
        return now < self.renew_at


Fetch = Callable[[], Awaitable[tuple[str, float]]]  # the token and its lifetime in seconds


class AccessTokens:
    """The current token, fetched through `fetch` when missing, due or refused."""

    def __init__(
        self, fetch: Fetch, app_id: str, redis: Any = None, *, lease_s: float = 15.0
    ) -> None:
        self.fetch = fetch
        self.redis = redis
        self.key = f"relaydesk:wechat:{app_id}:token"
        self.lease_key = self.key + ":lease"
        self.lease_ms = int(lease_s * 1000)
        self._local: Token | None = None
        self._lock = asyncio.Lock()  # one fetch or lease wait at a time in this process

    async def get(self, *, stale: str | None = None) -> str:
        """A token to use; `stale`: the one WeChat just refused (never returned again)."""
        async with self._lock:
            if self.redis is not None:
                try:
                    return await self._shared(stale)
                except RedisError as exc:
                    log.warning("wechat token: Redis unavailable (%s); this process fetches", exc)
            return (await self._own(stale)).value

    async def _own(self, stale: str | None) -> Token:
        token = self._local
        if token is None or token.value == stale or not token.fresh(time.time()):
            token = self._local = await self._fetch()
        return token

    async def _fetch(self) -> Token:
        value, lifetime = await self.fetch()
        renew_in = max(lifetime - REFRESH_BEFORE_S, lifetime / 2)
        return Token(value, time.time() + renew_in)

    async def _read(self) -> Token | None:
        raw = await self.redis.get(self.key)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return Token(str(data["value"]), float(data["renew_at"]))
        except (KeyError, TypeError, ValueError):
            return None

    def _usable(self, token: Token | None, stale: str | None) -> bool:
        return token is not None and token.value != stale and token.fresh(time.time())

    async def _shared(self, stale: str | None) -> str:
        deadline = time.monotonic() + self.lease_ms / 1000 * 2
        while True:
            token = await self._read()
            if token is not None and self._usable(token, stale):
                self._local = token
                return token.value
            mine = uuid.uuid4().hex
            if await self.redis.set(self.lease_key, mine, nx=True, px=self.lease_ms):
                try:
                    again = await self._read()  # fetched while we asked for the lease?
                    if again is not None and self._usable(again, stale):
                        self._local = again
                        return again.value
                    token = await self._fetch()
                    ttl = max(1, int(token.renew_at - time.time()) + REFRESH_BEFORE_S)
                    record = json.dumps({"value": token.value, "renew_at": token.renew_at})
                    await self.redis.set(self.key, record, ex=ttl)
                    self._local = token
                    log.info("wechat token: fetched a new access token for every instance")
                    return token.value
                finally:
                    await self.redis.eval(_RELEASE, 1, self.lease_key, mine)
            if time.monotonic() > deadline:
                raise RetryLater("WeChat access token: another instance holds the refresh lease")
            await asyncio.sleep(WAIT_STEP_S)  # another instance is fetching: wait for its token
