"""Instances coordinating through the machine's real Redis: events reach the other instances
(and survive a dropped subscription), and one customer's turns run one at a time across them."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis import asyncio as aioredis

from bot.coordination import RedisMessageBus, RedisTurnLocks
from bot.events import MessageEvent

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


async def test_one_customers_turns_run_one_at_a_time_across_instances() -> None:
    redis = aioredis.from_url(REDIS)
    first, second = RedisTurnLocks(redis), RedisTurnLocks(redis)  # two instances' locks
    key = ("web", f"customer-{uuid.uuid4().hex}")
    order: list[str] = []

    async def turn(locks: RedisTurnLocks, name: str, pause: float) -> None:
        async with locks.hold(key):
            order.append(f"{name} in")
            await asyncio.sleep(pause)
            order.append(f"{name} out")

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
