"""One access token for every instance: instances sharing the machine's real Redis fetch it
once, a token WeChat refuses is refreshed once however many instances saw the refusal, and a
single instance without Redis (or with Redis away) still works on its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis import asyncio as aioredis

from connectors.wechat.api import WechatApi
from tests.bot.test_coordination import REDIS
from tests.standins.wechat_api import WechatStandIn

OPENID = "o-token-user"


@pytest.fixture
async def wx() -> AsyncIterator[WechatStandIn]:
    # A fresh appid per test: the shared token's Redis key is per appid.
    async with WechatStandIn(appid=f"wx{uuid.uuid4().hex[:16]}") as stand_in:
        stand_in.customer_wrote(OPENID)
        yield stand_in


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS)
    yield client
    await client.aclose()


def instances(wx: WechatStandIn, redis: object, n: int) -> list[WechatApi]:
    return [WechatApi(wx.api_base, wx.appid, wx.secret, redis=redis) for _ in range(n)]


async def test_instances_share_one_token_fetched_once(
    wx: WechatStandIn, redis: aioredis.Redis
) -> None:
    apis = instances(wx, redis, 3)
    try:
        tokens = await asyncio.gather(*(api.token() for api in apis for _ in range(3)))
        assert len(set(tokens)) == 1 and wx.token_requests == 1
        await asyncio.gather(*(api.send_text(OPENID, f"第{n}条") for n, api in enumerate(apis)))
        assert wx.token_requests == 1 and len(wx.messages) == 3
        # A later instance (a restart, a new machine) reads it too.
        (late,) = instances(wx, redis, 1)
        assert await late.token() == tokens[0]
        await late.close()
    finally:
        await asyncio.gather(*(api.close() for api in apis))
        await redis.delete(f"relaydesk:wechat:{wx.appid}:token")


async def test_a_refused_token_is_refreshed_once_for_all_instances(
    wx: WechatStandIn, redis: aioredis.Redis
) -> None:
    apis = instances(wx, redis, 3)
    try:
        old = await apis[0].token()
        for api in apis:
            await api.token()  # each instance has read the shared token
        wx.expire_tokens()  # WeChat invalidates it: every instance's next send gets 40001
        await asyncio.gather(*(api.send_text(OPENID, f"again {n}") for n, api in enumerate(apis)))
        assert len(wx.messages) == 3
        assert wx.token_requests == 2, "each instance fetched its own token after the refusal"
        new = wx.issued_tokens[-1]
        assert new != old and {await api.token() for api in apis} == {new}
        refused = [c for c in wx.calls if c.errcode == 40001]
        assert 1 <= len(refused) <= 3 and all(c.query["access_token"] == old for c in refused)
    finally:
        await asyncio.gather(*(api.close() for api in apis))
        await redis.delete(f"relaydesk:wechat:{wx.appid}:token")


async def test_an_expired_token_is_replaced_on_42001() -> None:
    async with WechatStandIn() as short:
        short.customer_wrote(OPENID)
        api = WechatApi(short.api_base, short.appid, short.secret)
        try:
            await api.send_text(OPENID, "one")
            # The token times out on WeChat's side (42001) while ours still thinks it good.
            short.time_out_tokens()
            await api.send_text(OPENID, "two")
            assert [c.errcode for c in short.calls if c.path.endswith("/send")] == [0, 42001, 0]
            assert short.token_requests == 2 and short.texts(OPENID) == ["one", "two"]
        finally:
            await api.close()


async def test_one_instance_without_redis_or_with_redis_away(
    wx: WechatStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    alone = WechatApi(wx.api_base, wx.appid, wx.secret)
    away = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    cut_off = WechatApi(wx.api_base, wx.appid, wx.secret, redis=away)
    try:
        assert await alone.token() == await alone.token()
        await alone.send_text(OPENID, "solo")
        assert wx.token_requests == 1
        await cut_off.send_text(OPENID, "no redis")
        assert "Redis unavailable" in caplog.text
        assert wx.texts(OPENID) == ["solo", "no redis"]
    finally:
        await alone.close()
        await cut_off.close()
        await away.aclose()
