"""Instances coordinating through the machine's real Redis: events and signals reach the other
instances (and survive a dropped subscription), and one customer's turns run one at a time
across them."""

from __future__ import annotations

import asyncio
import functools
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis import asyncio as aioredis

from bot.coordination import RedisLease, RedisMessageBus, RedisSignalBus, RedisTurnLocks
from bot.events import LocalSignalBus, MessageEvent, Signal

REDIS = os.environ.get("RELAYDESK_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def buses() -> AsyncIterator[tuple[RedisMessageBus, RedisMessageBus]]:
    channel = f"relaydesk:test:{uuid.uuid4().hex}"  # tests never hear each other
    a, b = RedisMessageBus(REDIS, channel=channel), RedisMessageBus(REDIS, channel=channel)
    await a.start()
    await b.start()
    yield a, b
    await a.close()
    await b.close()


async def _until(*, got: list[MessageEvent], n: int) -> None:
    async with asyncio.timeout(5):
        while len(got) < n:
            await asyncio.sleep(0.01)


async def test_an_event_reaches_the_other_instance_once(
    buses: tuple[RedisMessageBus, RedisMessageBus],
) -> None:
    a, b = buses
    on_a: list[MessageEvent] = []
    on_b: list[MessageEvent] = []
    a.subscribe(on_a.append)
    b.subscribe(on_b.append, "conv-1")
    b.subscribe(on_b.append, "conv-2")  # another conversation: not called for conv-1
    event = MessageEvent("conv-1", 7, "agent")
    await a.publish(event)
    await _until(got=on_b, n=1)
    await asyncio.sleep(0.1)
    assert on_b == [event]
    assert on_a == [event]  # its own listeners at once, and not again from Redis


async def test_the_bus_resubscribes_after_redis_drops_it(
    buses: tuple[RedisMessageBus, RedisMessageBus],
) -> None:
    a, b = buses
    on_b: list[MessageEvent] = []
    b.subscribe(on_b.append)
    admin = aioredis.from_url(REDIS)
    try:
        await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")  # as a Redis restart
    finally:
        await admin.aclose()
    b.connected.clear()
    async with asyncio.timeout(10):
        await b.connected.wait()
        await a.connected.wait()
    await a.publish(MessageEvent("conv-9", 1, "bot"))
    await _until(got=on_b, n=1)
    assert on_b[0].conversation_id == "conv-9"


@pytest.fixture
async def signal_buses() -> AsyncIterator[tuple[RedisSignalBus, RedisSignalBus]]:
    """Two instances' signal buses, each on its own client as separate processes would be."""
    channel = f"relaydesk:test:signals:{uuid.uuid4().hex}"
    clients = [aioredis.from_url(REDIS) for _ in range(2)]  # type: ignore[no-untyped-call]
    a, b = (RedisSignalBus(c, channel=channel) for c in clients)
    await a.start()
    await b.start()
    yield a, b
    await a.close()
    await b.close()
    for c in clients:
        await c.aclose()


async def test_a_signal_reaches_the_other_instance_once_and_only_its_conversation(
    signal_buses: tuple[RedisSignalBus, RedisSignalBus],
) -> None:
    a, b = signal_buses
    on_a: list[Signal] = []
    on_b: list[Signal] = []
    other: list[Signal] = []
    a.subscribe(on_a.append)
    b.subscribe(on_b.append, "conv-1")
    b.subscribe(other.append, "conv-2")
    typing = Signal("conv-1", "typing", "agent", {"on": True, "name": "艾米 Amy"})
    receipt = Signal("conv-1", "receipt", "customer", {"received_up_to": 9, "read_up_to": 7})
    await a.publish(typing)
    await a.publish(receipt)
    async with asyncio.timeout(5):
        while len(on_b) < 2:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert on_b == [typing, receipt]  # in order, data intact (non-ASCII names too)
    assert on_a == [typing, receipt]  # its own listeners at once, and not again from Redis
    assert other == []


async def test_a_malformed_signal_is_ignored_and_the_bus_goes_on(
    signal_buses: tuple[RedisSignalBus, RedisSignalBus],
) -> None:
    a, b = signal_buses
    on_b: list[Signal] = []
    b.subscribe(on_b.append)
    for junk in (
        "not json",
        '{"from": "x", "c": "conv-1", "k": "shout", "x": "agent", "d": {}}',
        '{"from": "x", "c": "conv-1", "k": "typing", "x": "bot", "d": {}}',
        '{"from": "x", "c": "conv-1", "k": "typing", "x": "agent", "d": []}',
    ):
        await a.redis.publish(a.channel, junk)
    await a.publish(Signal("conv-1", "typing", "customer", {"on": False, "name": None}))
    async with asyncio.timeout(5):
        while not on_b:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert [s.data for s in on_b] == [{"on": False, "name": None}]


async def test_the_local_signal_bus_keeps_conversations_apart_and_unsubscribes() -> None:
    bus = LocalSignalBus()
    one: list[Signal] = []
    every: list[Signal] = []
    stop = bus.subscribe(one.append, "c1")
    bus.subscribe(every.append)
    first = Signal("c1", "typing", "customer", {"on": True, "name": None})
    await bus.publish(first)
    await bus.publish(Signal("c2", "typing", "customer", {"on": True, "name": None}))
    stop()
    await bus.publish(first)
    assert one == [first]
    assert len(every) == 3
    assert bus.listeners("c1") == 0


async def _turn(
    order: list[str], key: tuple[str, str], locks: RedisTurnLocks, name: str, pause: float
) -> None:
    """One customer turn under `locks`: `order` notes when it starts and when it ends."""
    async with locks.hold(key):
        order.append(f"{name} in")
        await asyncio.sleep(pause)
        order.append(f"{name} out")


async def test_one_customers_turns_run_one_at_a_time_across_instances() -> None:
    redis = aioredis.from_url(REDIS)
    first, second = RedisTurnLocks(redis), RedisTurnLocks(redis)  # two instances' locks
    key = ("web", f"customer-{uuid.uuid4().hex}")
    order: list[str] = []
    turn = functools.partial(_turn, order, key)

    try:
        one = asyncio.create_task(turn(first, "A", 0.3))
        await asyncio.sleep(0.05)  # A holds the lock when B's message arrives elsewhere
        await asyncio.gather(one, turn(second, "B", 0.0))
        assert order == ["A in", "A out", "B in", "B out"]
        # Another customer is not held up.
        other = RedisTurnLocks(redis)
        async with first.hold(key), other.hold(("web", "someone-else")):
            pass
    finally:
        await redis.aclose()


async def test_a_turn_longer_than_the_lock_ttl_keeps_its_lock_and_a_dead_holders_lapses() -> None:
    redis = aioredis.from_url(REDIS)
    first, second = RedisTurnLocks(redis, lock_ttl_s=1), RedisTurnLocks(redis, lock_ttl_s=1)
    key = ("rest", f"customer-{uuid.uuid4().hex}")
    order: list[str] = []
    turn = functools.partial(_turn, order, key)

    try:
        # A's turn runs three times the time-to-live: renewed, it is never run beside B's.
        slow = asyncio.create_task(turn(first, "A", 3.0))
        await asyncio.sleep(0.1)
        await asyncio.gather(slow, turn(second, "B", 0.0))
        assert order == ["A in", "A out", "B in", "B out"]
        # A holder that died (its lock left in Redis, never renewed) holds nobody up for
        # longer than the time-to-live.
        dead = redis.lock("relaydesk:turn:" + ":".join(key), timeout=1)
        assert await dead.acquire(blocking=False)
        started = asyncio.get_running_loop().time()
        await turn(second, "C", 0.0)
        assert asyncio.get_running_loop().time() - started < 3
    finally:
        await redis.aclose()


async def test_a_lease_has_one_holder_renewed_past_its_ttl_and_handed_on_at_release() -> None:
    redis = aioredis.from_url(REDIS)
    name = f"relaydesk:test:lease:{uuid.uuid4().hex}"
    a = RedisLease(redis, name, ttl_s=1, retry_s=0.1)
    b = RedisLease(redis, name, ttl_s=1, retry_s=0.1)
    try:
        await a.acquire()
        waiting = asyncio.create_task(b.acquire())
        await asyncio.sleep(2.5)  # more than twice the time-to-live: renewed, still A's
        assert not waiting.done() and a.held and not a.lost.is_set()
        released = asyncio.get_running_loop().time()
        await a.release()
        assert a.lost.is_set() and not a.held
        await asyncio.wait_for(waiting, 2)
        assert asyncio.get_running_loop().time() - released < 0.5  # at B's next try
        assert b.held and await redis.get(name) == b.token.encode()
    finally:
        await b.release()
        await redis.aclose()


async def test_a_dead_holders_lease_lapses_and_a_holder_that_lost_it_is_told() -> None:
    redis = aioredis.from_url(REDIS)
    name = f"relaydesk:test:lease:{uuid.uuid4().hex}"
    try:
        # A holder that died: its key left in Redis, never renewed.
        await redis.set(name, "dead-instance", px=1000)
        b = RedisLease(redis, name, ttl_s=1, retry_s=0.1)
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(b.acquire(), 3)
        assert 0.5 < asyncio.get_running_loop().time() - started < 1.5

        # B's key changes hands behind its back (it stalled past the time-to-live, say): its
        # next renewal notices, and releasing then leaves the new holder's key alone.
        await redis.set(name, "new-holder", px=5000)
        await asyncio.wait_for(b.lost.wait(), 2)
        await b.release()
        assert await redis.get(name) == b"new-holder"
    finally:
        await redis.delete(name)
        await redis.aclose()
