"""What several `relaydesk run` instances share through Redis: the message bus (so a widget or
console socket held by one instance hears a message stored by another) and the per-customer
turn lock (so one customer's messages are processed in order whichever instance receives them).

Nothing here is a source of truth: PostgreSQL is. An event lost while Redis restarts only delays
a delivery until the next event; a lock lost with Redis (it expires after `lock_ttl_s`) at worst
lets two turns of one customer overlap, and the store still numbers their messages atomically.
The embedded default (SQLite, one process) needs none of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import LockError, RedisError

from bot.events import Listener, LocalMessageBus, MessageEvent

log = logging.getLogger(__name__)
CHANNEL = "relaydesk:messages"
RECONNECT_S = (0.2, 0.5, 1, 2, 5)


class RedisMessageBus:
    """Listeners in this instance hear its events at once; the other instances hear them
    through Redis pub/sub. Each event carries the publishing instance's id, so an instance
    never hears its own events twice."""

    def __init__(self, url: str, *, channel: str = CHANNEL) -> None:
        self.local = LocalMessageBus()
        self.instance = uuid.uuid4().hex
        self.channel = channel
        self.redis: Any = aioredis.from_url(url, health_check_interval=10)  # type: ignore[no-untyped-call]
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def subscribe(
        self, listener: Listener, conversation_id: str | None = None
    ) -> Callable[[], None]:
        return self.local.subscribe(listener, conversation_id)

    async def publish(self, event: MessageEvent) -> None:
        await self.local.publish(event)
        payload = json.dumps(
            {"from": self.instance, "c": event.conversation_id, "s": event.seq, "x": event.sender}
        )
        try:
            await self.redis.publish(self.channel, payload)
        except RedisError as exc:  # a nudge lost: the next event, or a reconnect, catches up
            log.warning("redis bus: could not publish (%s)", exc)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="redis-bus")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self.connected.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.redis.aclose()

    async def _listen(self) -> None:
        failures = 0
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.connected.set()
                failures = 0
                async for message in pubsub.listen():
                    await self._deliver(message)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self.connected.clear()
                pause = RECONNECT_S[min(failures, len(RECONNECT_S) - 1)]
                failures += 1
                log.warning("redis bus: subscription lost (%s); again in %.1f s", exc, pause)
                await asyncio.sleep(pause)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _deliver(self, message: dict[str, Any]) -> None:
        try:
            data = json.loads(message["data"])
            if data["from"] == self.instance:
                return
            event = MessageEvent(str(data["c"]), int(data["s"]), str(data["x"]))
        except (KeyError, TypeError, ValueError):
            log.warning("redis bus: ignored a malformed event")
            return
        await self.local.publish(event)


class RedisTurnLocks:
    """One customer's turns one at a time across instances: an in-process lock first (cheap,
    first come first served), then a Redis lock with a time-to-live that outlives any turn."""

    def __init__(self, redis: Any, *, lock_ttl_s: float = 30.0, wait_s: float = 30.0) -> None:
        from bot.dialogue.engine import KeyedLocks

        self.redis = redis
        self.local = KeyedLocks()
        self.lock_ttl_s = lock_ttl_s
        self.wait_s = wait_s

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        async with self.local.hold(key):
            name = "relaydesk:turn:" + ":".join(str(k) for k in _parts(key))
            lock = self.redis.lock(
                name, timeout=self.lock_ttl_s, blocking_timeout=self.wait_s, sleep=0.005
            )
            try:
                got = await lock.acquire()
            except RedisError as exc:  # Redis away: the local lock and the store still hold
                log.warning("turn lock: Redis unavailable (%s); going on without it", exc)
                got = False
            try:
                yield
            finally:
                if got:
                    with contextlib.suppress(LockError, RedisError):
                        await lock.release()

    def __len__(self) -> int:
        return len(self.local)


def _parts(key: Hashable) -> tuple[Any, ...]:
    return key if isinstance(key, tuple) else (key,)
