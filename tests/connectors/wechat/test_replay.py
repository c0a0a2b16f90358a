"""The replay guard on its own: the window on both sides, a signature bound to its first
request, memory that lets go of what the window no longer admits, and the first use shared
through the machine's real Redis (and this process's memory when Redis is away)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis import asyncio as aioredis

from connectors.wechat.protocol import signature
from connectors.wechat.replay import ReplayGuard, ReplayRefused, request_identity
from tests.bot.test_coordination import REDIS

TOKEN = "relaydesk-webhook-token"
NOW = 1_795_000_000.0
MESSAGE = request_identity("o-customer", "gh_account", "20002", "你好")
OTHER = request_identity("o-someone-else", "gh_account", "20003", "把钱退给我")


def query(timestamp: int | float, nonce: str | None = None) -> dict[str, str]:
    ts, nonce = str(int(timestamp)), nonce or uuid.uuid4().hex[:10]
    return {"signature": signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}


async def test_a_fresh_request_passes_and_stale_or_future_ones_are_refused() -> None:
    guard = ReplayGuard(300)
    await guard.check(query(NOW - 299), MESSAGE, NOW)
    await guard.check(query(NOW + 299), MESSAGE, NOW)
    with pytest.raises(ReplayRefused, match=r"stale request: signed 301 s ago.*300 s"):
        await guard.check(query(NOW - 301), MESSAGE, NOW)
    with pytest.raises(ReplayRefused, match="301 s in the future"):
        await guard.check(query(NOW + 301), MESSAGE, NOW)
    with pytest.raises(ReplayRefused, match="not Unix seconds"):
        await guard.check({**query(NOW), "timestamp": "yesterday"}, MESSAGE, NOW)


async def test_a_signature_serves_its_first_message_and_no_other() -> None:
    guard = ReplayGuard(300)
    signed = query(NOW)
    await guard.check(signed, MESSAGE, NOW)
    await guard.check(signed, MESSAGE, NOW + 5)  # the same message again: WeChat resending
    with pytest.raises(ReplayRefused, match="replayed signature"):
        await guard.check(signed, OTHER, NOW + 6)
    await guard.check(query(NOW + 6), OTHER, NOW + 6)  # freshly signed: fine


async def test_memory_lets_go_once_the_window_has_closed_on_a_signature() -> None:
    guard = ReplayGuard(300)
    for i in range(50):
        await guard.check(query(NOW + i), MESSAGE, NOW + i)
    assert len(guard.local) == 50
    old = query(NOW)
    await guard.check(old, MESSAGE, NOW)
    await guard.check(query(NOW + 400), MESSAGE, NOW + 400)  # the first ones have expired
    assert len(guard.local) < 50
    with pytest.raises(ReplayRefused, match="stale"):  # ...and cannot come back
        await guard.check(old, OTHER, NOW + 400)


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS)
    yield client
    await client.aclose()


async def test_a_replay_to_another_instance_is_caught_through_redis(redis: aioredis.Redis) -> None:
    now = float(int(time.time()))  # Redis expires keys on its own clock
    a, b = ReplayGuard(300, redis), ReplayGuard(300, redis)
    signed = query(now)
    await a.check(signed, MESSAGE, now)
    await b.check(signed, MESSAGE, now)  # WeChat's resend, reaching the other instance
    with pytest.raises(ReplayRefused, match="replayed signature"):
        await b.check(signed, OTHER, now)
    # A forgery that reaches an instance first locally is refused there too, and does not
    # make that instance refuse the resend of the real message afterwards.
    c, forged = ReplayGuard(300, redis), query(now)
    await a.check(forged, MESSAGE, now)
    with pytest.raises(ReplayRefused, match="replayed signature"):
        await c.check(forged, OTHER, now)
    await c.check(forged, MESSAGE, now)
    key = "relaydesk:wechat:signature:" + signed["signature"]
    ttl = await redis.ttl(key)
    assert 300 <= ttl <= 302  # gone once the timestamp leaves the window
    await redis.delete(key, "relaydesk:wechat:signature:" + forged["signature"])


async def test_with_redis_away_the_check_falls_back_to_this_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    away = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    guard = ReplayGuard(300, away)
    signed = query(NOW)
    await guard.check(signed, MESSAGE, NOW)
    assert "Redis unavailable" in caplog.text
    with pytest.raises(ReplayRefused, match="replayed signature"):
        await guard.check(signed, OTHER, NOW)
    await away.aclose()
