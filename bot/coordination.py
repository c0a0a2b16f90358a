"""What several `relaydesk run` instances share through Redis: the message bus (so a widget or
console socket held by one instance hears a message stored by another), the signal bus (typing
and read receipts, likewise), the per-customer
turn lock (so one customer's messages are processed in order whichever instance receives them),
leases (so a job only one may do, Telegram's long polling, runs in one instance), and which
conversations have a widget open on any instance (so a proactive message goes to it live).

Nothing here is a source of truth: PostgreSQL is. An event lost while Redis restarts only delays
a delivery until the next event; a lock lost with Redis (it expires after `lock_ttl_s`) at worst
lets two turns of one customer overlap, and the store still numbers their messages atomically;
presence lost with Redis sends a proactive message by push instead, until the widgets refresh.
The embedded default (SQLite, one process) needs none of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Generic, Protocol, TypeVar

from redis import asyncio as aioredis
from redis.exceptions import LockError, RedisError

from bot.events import (
    ONLINE_TTL_S,
    SIGNAL_KINDS,
    SIGNAL_SENDERS,
    Fanout,
    LocalMessageBus,
    LocalSignalBus,
    MessageEvent,
    Signal,
)

log = logging.getLogger(__name__)
E = TypeVar("E", bound=MessageEvent | Signal)
CHANNEL = "relaydesk:messages"
SIGNALS = "relaydesk:signals"
ONLINE = "relaydesk:online:"
RECONNECT_S = (0.2, 0.5, 1, 2, 5)


class _RedisFanout(Generic[E]):
    """Listeners in this instance hear its events at once; the other instances hear them
    through Redis pub/sub. Each event carries the publishing instance's id, so an instance
    never hears its own events twice. The subscription is kept: dropped (Redis restarted), it
    is made again after a short pause, and `connected` says whether it is up."""

    def __init__(self, redis: Any, channel: str, local: Fanout[E], name: str) -> None:
        self.local: Fanout[E] = local
        self.instance = uuid.uuid4().hex
        self.channel = channel
        self.redis: Any = redis
        self.connected = asyncio.Event()
        self._name = name
        self._task: asyncio.Task[None] | None = None

    def subscribe(
        self, listener: Callable[[E], None], conversation_id: str | None = None
    ) -> Callable[[], None]:
        return self.local.subscribe(listener, conversation_id)

    async def publish(self, event: E) -> None:
        await self.local.publish(event)
        payload = json.dumps({"from": self.instance, **self._encode(event)}, ensure_ascii=False)
        try:
            await self.redis.publish(self.channel, payload)
        except RedisError as exc:  # a nudge lost: the next event, or a reconnect, catches up
            log.warning("%s: could not publish (%s)", self._name, exc)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name=self._name)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self.connected.wait()

    async def close(self) -> None:
        """Stop listening (the Redis client is closed by whoever opened it)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _encode(self, event: E) -> dict[str, Any]:
        raise NotImplementedError

    def _decode(self, data: dict[str, Any]) -> E:
        """The event in `data`; raises KeyError, TypeError or ValueError if malformed."""
        raise NotImplementedError

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
                log.warning("%s: subscription lost (%s); again in %.1f s", self._name, exc, pause)
                await asyncio.sleep(pause)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _deliver(self, message: dict[str, Any]) -> None:
        try:
            data = json.loads(message["data"])
            if data["from"] == self.instance:
                return
            event = self._decode(data)
        except (KeyError, TypeError, ValueError):
            log.warning("%s: ignored a malformed event", self._name)
            return
        await self.local.publish(event)


class RedisMessageBus(_RedisFanout[MessageEvent]):
    """The message bus shared by instances; it opens (and closes) the Redis client the other
    Redis parts use (`redis`)."""

    local: LocalMessageBus

    def __init__(self, url: str, *, channel: str = CHANNEL) -> None:
        client = aioredis.from_url(url, health_check_interval=10)  # type: ignore[no-untyped-call]
        super().__init__(client, channel, LocalMessageBus(), "redis-bus")

    async def close(self) -> None:
        await super().close()
        await self.redis.aclose()

    def _encode(self, event: MessageEvent) -> dict[str, Any]:
        return {"c": event.conversation_id, "s": event.seq, "x": event.sender}

    def _decode(self, data: dict[str, Any]) -> MessageEvent:
        return MessageEvent(str(data["c"]), int(data["s"]), str(data["x"]))


class RedisSignalBus(_RedisFanout[Signal]):
    """The signal bus shared by instances (typing, receipts), on the message bus's Redis
    client (`RedisSignalBus(bus.redis)`) and a channel of its own, so a burst of typing never
    delays a message's nudge. Best-effort like every signal: one lost while Redis restarts is
    a moment's indicator."""

    local: LocalSignalBus

    def __init__(self, redis: Any, *, channel: str = SIGNALS) -> None:
        super().__init__(redis, channel, LocalSignalBus(), "redis-signals")

    def _encode(self, event: Signal) -> dict[str, Any]:
        return {"c": event.conversation_id, "k": event.kind, "x": event.sender, "d": event.data}

    def _decode(self, data: dict[str, Any]) -> Signal:
        kind, sender, body = str(data["k"]), str(data["x"]), data["d"]
        if kind not in SIGNAL_KINDS or sender not in SIGNAL_SENDERS or not isinstance(body, dict):
            raise ValueError("not a signal")
        return Signal(str(data["c"]), kind, sender, body)


class TurnLocks(Protocol):
    def hold(self, key: Hashable) -> AbstractAsyncContextManager[None]: ...


class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or awaits it, so a long-running
    server does not keep a lock for every customer it ever served."""

    def __init__(self) -> None:
        self._held: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._held.get(key, (None, 0))
        lock = lock or asyncio.Lock()
        self._held[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._held[key]
            if users == 1:
                del self._held[key]
            else:
                self._held[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._held)


class RedisTurnLocks:
    """One customer's turns one at a time across instances: an in-process lock first (cheap,
    first come first served), then a Redis lock with a time-to-live.

    The holder renews the lock every third of its time-to-live while the turn runs, so it
    expires only when its holder died (kill -9, a lost machine): a slow turn is never run twice,
    and the customer of a dead instance waits at most `lock_ttl_s` for their next turn. A turn
    still waiting after `wait_s` goes ahead without the lock (the store numbers messages
    atomically and answers each once, so a stuck holder cannot silence a customer)."""

    def __init__(self, redis: Any, *, lock_ttl_s: float = 10.0, wait_s: float = 30.0) -> None:
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
            keeper = asyncio.create_task(self._keep(lock, name)) if got else None
            try:
                yield
            finally:
                if keeper is not None:
                    keeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await keeper
                if got:
                    with contextlib.suppress(LockError, RedisError):
                        await lock.release()

    async def _keep(self, lock: Any, name: str) -> None:
        """Renew the held lock until cancelled; a lock lost (Redis restarted and forgot it) is
        said once, and the turn finishes anyway."""
        while True:
            await asyncio.sleep(self.lock_ttl_s / 3)
            try:
                await lock.reacquire()
            except LockError:
                log.warning("turn lock %s: lost while held; the turn goes on without it", name)
                return
            except RedisError as exc:  # Redis away for a moment: try again at the next beat
                log.warning("turn lock %s: could not renew (%s)", name, exc)

    def __len__(self) -> int:
        return len(self.local)


def _parts(key: Hashable) -> tuple[Any, ...]:
    return key if isinstance(key, tuple) else (key,)


# Renew and release only while the key still holds our token: a lease that lapsed and was taken
# by another instance is never extended or deleted by the old holder.
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLease:
    """One holder at a time across instances, for a job only one may do (Telegram's long
    polling: a second getUpdates makes Telegram end the first with 409 Conflict).

    The lease is a Redis key set with NX and a time-to-live, renewed by the holder every third
    of it. A holder that dies stops renewing, and another instance takes over once the key
    expires; one that stops cleanly deletes it, so the next takes over at its next try. `lost`
    is set when the holder can no longer be sure it holds the lease (another instance has the
    key, or Redis did not answer before the time-to-live ran out): stop the job then.
    """

    def __init__(
        self, redis: Any, name: str, *, ttl_s: float = 10.0, retry_s: float | None = None
    ) -> None:
        self.redis = redis
        self.name = name
        self.ttl_ms = max(1000, int(ttl_s * 1000))
        self.retry_s = retry_s if retry_s is not None else min(2.0, max(0.2, ttl_s / 5))
        self.token = uuid.uuid4().hex
        self.lost = asyncio.Event()
        self._renewal: asyncio.Task[None] | None = None

    @property
    def held(self) -> bool:
        return self._renewal is not None and not self.lost.is_set()

    async def acquire(self) -> None:
        """Wait until this instance holds the lease; it is renewed from then on."""
        while True:
            try:
                if await self.redis.set(self.name, self.token, nx=True, px=self.ttl_ms):
                    break
            except RedisError as exc:  # nobody can be sure to hold it: wait rather than clash
                log.warning("lease %s: Redis unavailable (%s)", self.name, exc)
            await asyncio.sleep(self.retry_s)
        self.lost.clear()
        self._renewal = asyncio.create_task(self._renew(), name=f"lease:{self.name}")

    async def release(self) -> None:
        """Stop renewing and give the lease up, if it is still ours."""
        if self._renewal is None:
            return
        self._renewal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._renewal
        self._renewal = None
        if not self.lost.is_set():
            with contextlib.suppress(RedisError):
                await self.redis.eval(_RELEASE, 1, self.name, self.token)
        self.lost.set()

    async def _renew(self) -> None:
        loop = asyncio.get_running_loop()
        every = self.ttl_ms / 3000
        valid_until = loop.time() + self.ttl_ms / 1000
        while True:
            await asyncio.sleep(every)
            try:
                if not await self.redis.eval(_EXTEND, 1, self.name, self.token, self.ttl_ms):
                    log.warning("lease %s: taken by another instance", self.name)
                    break
                valid_until = loop.time() + self.ttl_ms / 1000
            except RedisError as exc:
                # Ours until the last renewal's time-to-live runs out, unless a renewal gets
                # through first; give it up a renewal period early, so the next holder and
                # this one never overlap.
                if loop.time() + every >= valid_until:
                    log.warning("lease %s: Redis unavailable (%s); given up", self.name, exc)
                    break
        self.lost.set()


# Presence on Redis's clock (TIME), so instances whose clocks drift still agree on who is online.
# A conversation's sorted set holds its clients scored by the millisecond their entry expires;
# the key itself expires with its last client, so nothing outlives the widgets that wrote it.
_HERE = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('zremrangebyscore', KEYS[1], '-inf', now)
redis.call('zadd', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local last = redis.call('zrange', KEYS[1], -1, -1, 'withscores')
redis.call('pexpireat', KEYS[1], last[2])
return 1
"""
_ONLINE = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('zcount', KEYS[1], '(' .. now, '+inf')
"""


class RedisOnlineClients:
    """The widget sockets open on every instance, per conversation (bot.events.OnlineClients):
    a sorted set per conversation, `<prefix><conversation id>`, whose members are
    `<instance>:<client>` scored by when they expire.

    Redis away: `here` and `gone` are logged and dropped (an entry expires by itself, and the
    socket's next refresh writes it again), and `online` answers False, so a proactive message
    falls back to a pushed channel rather than waiting on a widget nobody can confirm."""

    def __init__(
        self,
        redis: Any,
        *,
        ttl_s: float = ONLINE_TTL_S,
        prefix: str = ONLINE,
        instance: str | None = None,
    ) -> None:
        self.redis = redis
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.prefix = prefix
        self.instance = instance or uuid.uuid4().hex

    @property
    def refresh_s(self) -> float:
        return self.ttl_ms / 3000

    async def here(self, conversation_id: str, client: str) -> None:
        try:
            await self.redis.eval(
                _HERE, 1, self._key(conversation_id), self._member(client), self.ttl_ms
            )
        except RedisError as exc:
            log.warning("online %s: could not announce (%s)", conversation_id, exc)

    async def gone(self, conversation_id: str, client: str) -> None:
        try:
            await self.redis.zrem(self._key(conversation_id), self._member(client))
        except RedisError as exc:  # the entry expires with its TTL
            log.warning("online %s: could not say gone (%s)", conversation_id, exc)

    async def online(self, conversation_id: str) -> bool:
        try:
            return int(await self.redis.eval(_ONLINE, 1, self._key(conversation_id))) > 0
        except RedisError as exc:
            log.warning("online %s: unknown, taken as offline (%s)", conversation_id, exc)
            return False

    def _key(self, conversation_id: str) -> str:
        return self.prefix + conversation_id

    def _member(self, client: str) -> str:
        return f"{self.instance}:{client}"
