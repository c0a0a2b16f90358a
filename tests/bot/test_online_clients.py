"""Which conversations have a widget open (bot.events.OnlineClients), in one process and shared
through the machine's real Redis: here / gone / online, expiry of a client that never said gone,
two clients on one conversation, instances seeing each other's clients, Redis away answered
"offline" without raising, and one widget socket's beacon refreshing and withdrawing its entry."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis import asyncio as aioredis

from bot.coordination import RedisOnlineClients
from bot.events import LocalOnlineClients, OnlineClients
from connectors.web.beacon import OnlineBeacon
from tests.bot.test_coordination import REDIS

Registry = Callable[[float], Awaitable[OnlineClients]]  # a registry with this TTL (seconds)
SHORT_TTL_S = 0.5


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS)  # type: ignore[no-untyped-call]
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"relaydesk:test:online:{uuid.uuid4().hex}:"  # tests never see each other's keys


@pytest.fixture(autouse=True)
async def _clean(redis_client: aioredis.Redis, prefix: str) -> AsyncIterator[None]:
    yield
    keys = [k async for k in redis_client.scan_iter(match=prefix + "*")]
    if keys:
        await redis_client.delete(*keys)


@pytest.fixture(params=["local", "redis"])
def registry(request: pytest.FixtureRequest, redis_client: aioredis.Redis, prefix: str) -> Registry:
    async def make(ttl_s: float) -> OnlineClients:
        if request.param == "local":
            return LocalOnlineClients(ttl_s)
        return RedisOnlineClients(redis_client, ttl_s=ttl_s, prefix=prefix)

    return make


async def test_a_client_is_online_from_here_until_it_says_gone(registry: Registry) -> None:
    online = await registry(60)
    assert not await online.online("c1")
    await online.here("c1", "tab-1")
    assert await online.online("c1")
    assert not await online.online("c2")  # only the conversation it has open
    await online.gone("c1", "tab-1")
    assert not await online.online("c1")
    await online.gone("c1", "tab-1")  # twice, or never here: nothing to undo
    await online.gone("c3", "tab-9")


async def test_two_clients_on_one_conversation_one_leaving_keeps_it_online(
    registry: Registry,
) -> None:
    online = await registry(60)
    await online.here("c1", "tab-1")
    await online.here("c1", "tab-2")
    await online.gone("c1", "tab-1")
    assert await online.online("c1")
    await online.gone("c1", "tab-2")
    assert not await online.online("c1")


async def test_a_client_that_never_says_gone_falls_out_after_its_ttl(registry: Registry) -> None:
    online = await registry(SHORT_TTL_S)
    assert online.refresh_s == pytest.approx(SHORT_TTL_S / 3)
    await online.here("c1", "tab-1")
    await online.here("c2", "tab-1")
    await asyncio.sleep(SHORT_TTL_S * 0.6)
    await online.here("c2", "tab-1")  # c2's client refreshed; c1's went quiet
    await asyncio.sleep(SHORT_TTL_S * 0.6)
    assert not await online.online("c1")
    assert await online.online("c2")
    await asyncio.sleep(SHORT_TTL_S)
    assert not await online.online("c2")


async def test_the_local_registry_forgets_conversations_nobody_asks_about() -> None:
    ticks = [0.0]
    online = LocalOnlineClients(10, now=lambda: ticks[0])
    for i in range(100):
        await online.here(f"c{i}", "tab")  # none of them ever says gone
    assert len(online) == 100
    ticks[0] = 11
    await online.here("fresh", "tab")  # the next announcement a TTL later sweeps the rest
    assert len(online) == 1 and await online.online("fresh")


async def test_redis_keeps_no_key_once_its_last_client_left_or_lapsed(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    online = RedisOnlineClients(redis_client, ttl_s=SHORT_TTL_S, prefix=prefix)
    await online.here("left", "tab")
    await online.here("lapsed", "tab")
    assert await redis_client.exists(prefix + "left", prefix + "lapsed") == 2
    assert 0 < await redis_client.pttl(prefix + "lapsed") <= SHORT_TTL_S * 1000
    await online.gone("left", "tab")
    assert not await redis_client.exists(prefix + "left")
    await asyncio.sleep(SHORT_TTL_S * 1.5)
    assert not await redis_client.exists(prefix + "lapsed")


async def test_instances_see_each_others_clients_and_never_clash_on_a_client_name(
    prefix: str,
) -> None:
    clients = [aioredis.from_url(REDIS) for _ in range(2)]  # type: ignore[no-untyped-call]
    try:
        a, b = (RedisOnlineClients(c, prefix=prefix) for c in clients)
        await a.here("c1", "tab-1")
        assert await b.online("c1")
        await b.here("c1", "tab-1")  # the same name on another instance is another client
        await b.gone("c1", "tab-1")
        assert await b.online("c1")
        await a.gone("c1", "tab-1")
        assert not await b.online("c1")
    finally:
        for c in clients:
            await c.aclose()


async def test_redis_away_is_offline_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    away = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)  # type: ignore[no-untyped-call]
    try:
        online = RedisOnlineClients(away)
        await online.here("c1", "tab-1")
        assert not await online.online("c1")
        await online.gone("c1", "tab-1")
    finally:
        await away.aclose()
    assert sum("online c1" in r.getMessage() for r in caplog.records) == 3


async def test_a_widgets_beacon_refreshes_while_open_and_withdraws_when_it_moves_or_closes(
    registry: Registry,
) -> None:
    online = await registry(SHORT_TTL_S)
    beacon = OnlineBeacon(online)
    await beacon.watch("c1")
    keeper = asyncio.create_task(beacon.keep())
    try:
        await asyncio.sleep(SHORT_TTL_S * 2)  # twice the TTL: alive only through its refreshes
        assert await online.online("c1")
        await beacon.watch("c2")  # the widget moved on to a new conversation
        assert not await online.online("c1")
        assert await online.online("c2")
    finally:
        keeper.cancel()
        with pytest.raises(asyncio.CancelledError):
            await keeper
    await beacon.close()
    assert not await online.online("c2")
    assert beacon.conversation is None
