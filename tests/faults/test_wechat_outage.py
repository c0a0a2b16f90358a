"""WeChat against a real `relaydesk run` on PostgreSQL: WeChat's side of the webhook posts signed
XML and retries as WeChat does (tests/kit/wechat.py), its API is the stand-in. PostgreSQL goes
away mid-conversation; and WeChat drops the connection that carries a passive reply. Checked
from the database: every message stored once and in order, every reply reaching the customer
exactly once (in the webhook's answer or through the customer-service API)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from bot.store.sql_store import SqlStore
from tests.faults.conftest import PgServer
from tests.kit.invariants import Ledger, check_when_settled
from tests.kit.processes import PrivatePostgres, until
from tests.kit.servers import Instance, logs_on_failure
from tests.kit.wechat import WechatUser, delivered_once, replies
from tests.standins.wechat_api import WechatStandIn

pytestmark = pytest.mark.slow
TOKEN = "relaydesk-fault-wechat-token"
APP_ID = "wx5e1a7c0ffee0fa17"
ACCOUNT = "gh_fa17fa17fa17"
LINES = ["你好", "满多少包邮", "退货运费谁出", "谢谢", "hello", "how long does a refund take"]
OUTAGE_S = 3.0  # past the store's reconnect tries (about 2 s), within WeChat's 3 tries


@asynccontextmanager
async def wechat_server(
    pg_server: PgServer, **wechat: object
) -> AsyncIterator[tuple[Instance, WechatStandIn, str, SqlStore]]:
    """A `relaydesk run` with the WeChat channel on the private PostgreSQL; the server, the API
    stand-in, the database URL and a store on it."""
    async with WechatStandIn(appid=APP_ID, secret="fault-secret") as wx:
        settings = {
            "enabled": True,
            "token": TOKEN,
            "app_id": APP_ID,
            "app_secret": "fault-secret",
            "api_base": wx.api_base,
            "fetch_user_info": False,
            "delivery": {"first_backoff_seconds": 0.2, "max_backoff_seconds": 1.0},
            **wechat,
        }
        server, url = await pg_server("wechat", connectors={"wechat": settings})
        async with logs_on_failure(server, lines=80), asyncio.timeout(150):
            await server.start()
            store = await SqlStore.open(url)
            try:
                yield server, wx, url, store
            finally:
                await store.close()


async def all_delivered(store: SqlStore, users: list[WechatUser]) -> bool:
    try:
        return all([await delivered_once(store, u) is None for u in users])
    except Exception:  # the database still coming back
        return False


async def test_a_postgresql_outage_during_wechat_webhooks_loses_and_repeats_nothing(
    private_pg: PrivatePostgres, pg_server: PgServer
) -> None:
    ledger = Ledger()
    async with wechat_server(pg_server) as (
        server,
        wx,
        url,
        store,
    ):
        async with aiohttp.ClientSession() as session:
            users = [
                WechatUser(server.url, TOKEN, ACCOUNT, f"o-out-{i}", session, wx, ledger, i * 1000)
                for i in range(3)
            ]
            down = asyncio.Event()

            async def chat(user: WechatUser, i: int) -> None:
                # A customer who reads the answer before writing again: one message at a time.
                for n in range(5):
                    if n == 2:
                        await down.wait()
                    await user.say(LINES[(i + n) % len(LINES)])

            chats = [asyncio.create_task(chat(u, i)) for i, u in enumerate(users)]
            await until(
                lambda: _true(all(len(u.posts) >= 2 and u.posts[1].accepted for u in users)),
                30,
                "two messages each before the outage",
            )
            await private_pg.stop()
            down.set()
            await asyncio.sleep(OUTAGE_S)
            await private_pg.start()
            await asyncio.gather(*chats)

        posts = [p for u in users for p in u.posts]
        assert all(p.accepted for p in posts), [(p.msg_id, p.tries) for p in posts]
        retried = [p for p in posts if len(p.tries) > 1]
        assert retried, "no webhook met the outage: the test did not test"
        assert all(status in (200, 503, None) for p in posts for status in p.tries), posts
        await until(lambda: all_delivered(store, users), 40, "every reply delivered")
        for user in users:  # once delivered, nothing more arrives
            assert await delivered_once(store, user) is None
        summary = await check_when_settled(url, ledger)
        assert summary.customer_messages == len(posts) == 15
        print(summary, ledger.statuses, "retried", [(p.msg_id, p.tries) for p in retried])


async def test_a_dropped_passive_reply_reaches_the_customer_exactly_once(
    pg_server: PgServer,
) -> None:
    ledger = Ledger()
    async with (
        wechat_server(pg_server, dropped_reply_wait_seconds=2) as (server, wx, url, store),
        aiohttp.ClientSession() as session,
    ):
        retried, fast, gone = (
            WechatUser(server.url, TOKEN, ACCOUNT, f"o-drop-{k}", session, wx, ledger, n)
            for n, k in ((1000, "retried"), (2000, "fast"), (3000, "gone"))
        )

        async def dropped(user: WechatUser) -> bool:
            """The reply whose connection dropped is back to pending, waiting."""
            messages, states = await replies(store, user.openid)
            return any(states[m.id].status == "pending" and states[m.id].error for m in messages)

        # WeChat retries once it has seen the connection fail: the retry's answer carries
        # the reply.
        post, query, xml = retried.message("你好")
        await retried.hang_up(query, xml)
        await until(lambda: dropped(retried), 20, "the dropped reply back to pending")
        await retried.deliver(post, query, xml)
        assert post.passive, "the retry was not answered with the dropped reply"

        # WeChat retries at once, while the first try's turn still runs: whichever way
        # the reply goes, it goes once.
        post, query, xml = fast.message("你好")
        await fast.hang_up(query, xml)
        await fast.deliver(post, query, xml)

        # WeChat never retries: the reply goes through the customer-service API.
        post, query, xml = gone.message("你好")
        await gone.hang_up(query, xml)
        ledger.accepted[("wechat", gone.openid)].append(post.msg_id)

        users = [retried, fast, gone]

        async def settled() -> bool:
            # A user whose turn has not stored its reply yet has nothing undelivered: wait
            # for gone's reply to exist first, or this holds before its turn even ran.
            stored, _ = await replies(store, gone.openid)
            return bool(stored) and await all_delivered(store, users)

        await until(settled, 30, "every reply delivered")
        assert wx.texts(retried.openid) == []
        assert gone.received()[1], "the reply never went through the API"
        await asyncio.sleep(1)  # nothing more arrives
        for user in users:
            assert await delivered_once(store, user) is None
        await check_when_settled(url, ledger)


async def _true(value: bool) -> bool:
    return value
