"""Redis goes away and comes back (empty, as after a crash) under two `relaydesk run` instances
sharing one PostgreSQL database. Customers keep chatting through both; an agent working through
instance A keeps reaching a widget socket held by instance B."""

from __future__ import annotations

import asyncio
import contextlib
import time
from itertools import groupby
from typing import Any

import aiohttp
import pytest

from bot.config import Config
from bot.store.sql_store import SqlStore
from tests.kit.clients import RestCustomer, WidgetCustomer
from tests.kit.invariants import Ledger, check
from tests.kit.processes import PrivateRedis, at_least, until
from tests.kit.servers import Instance, add_agents, logs_on_failure

pytestmark = pytest.mark.slow
LINES = ["你好", "满多少包邮", "退货运费谁出", "谢谢", "hello", "how long does a refund take"]
OUTAGE_S = 3.0


async def test_a_redis_restart_keeps_events_flowing_between_instances_and_turns_in_order(
    database: str,
    private_redis: PrivateRedis,
    repo_config: Config,
    pair: tuple[Instance, Instance],
) -> None:
    groups = list(repo_config.handoff.skill_groups)
    await add_agents(database, ["amy"], skills=groups, status="online")
    a, b = pair
    ledger = Ledger()
    amy = {"X-Relaydesk-Agent": "amy"}
    async with logs_on_failure(a, b):
        async with asyncio.timeout(180):
            await asyncio.gather(a.start(), b.start())
            async with aiohttp.ClientSession() as session:
                # A customer on B's widget socket is handed to Amy, who works through A.
                widget = WidgetCustomer(b.url, session, ledger)
                await widget.say("转人工")
                async with session.get(f"{a.url}/api/agent/queue", headers=amy) as r:
                    [waiting] = (await r.json())["queue"]
                cid = waiting["conversation_id"]
                claim = f"{a.url}/api/agent/conversations/{cid}/claim"
                async with session.post(claim, headers=amy) as r:
                    assert r.status == 200
                said: list[str] = []

                async def agent_says(text: str) -> None:
                    send = f"{a.url}/api/agent/conversations/{cid}/send"
                    async with session.post(send, headers=amy, json={"text": text}) as r:
                        assert r.status == 200, await r.text()
                    said.append(text)

                def agent_frames(frames: list[dict[str, Any]]) -> list[str]:
                    return [f["text"] for f in frames if f["sender"] == "agent"]

                def caught_up(frames: list[dict[str, Any]]) -> bool:
                    return len(agent_frames(frames)) == len(said)

                await agent_says("您好，我是 Amy")
                await widget.wait_for(lambda f: len(agent_frames(f)) == 1, 15)

                rest = [
                    RestCustomer(f"redis-{i}", [a.url, b.url], session, ledger) for i in range(6)
                ]
                stop = asyncio.Event()

                async def chat(customer: RestCustomer, i: int) -> None:
                    while not stop.is_set():
                        n = customer.sent
                        await customer.say(LINES[(i + n) % len(LINES)], first=(i + n) % 2)

                def accepted() -> int:
                    return sum(len(v) for k, v in ledger.accepted.items() if k[0] == "rest")

                chats = [asyncio.create_task(chat(c, i)) for i, c in enumerate(rest)]
                try:
                    await until(at_least(accepted, 15), 60, "traffic before the restart")
                    await private_redis.stop()
                    down_at = time.monotonic()
                    await agent_says("Redis 不在时发的消息")  # stored; its event is lost
                    await until(at_least(accepted, accepted() + 10), 60, "turns without Redis")
                    # Away long enough for the bus to have given up on a few reconnects.
                    await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
                    await private_redis.start()
                    # Afterwards an agent's words reach B's socket again: the bus has
                    # subscribed anew (within its back-off), and delivery reads the store, so
                    # the message whose event was lost arrives too, once, in its place.
                    for n in range(1, 31):
                        await agent_says(f"Redis 回来后的第 {n} 条")
                        with contextlib.suppress(TimeoutError):
                            await widget.wait_for(caught_up, 1.0)
                        if caught_up(widget.frames):
                            break
                    else:
                        raise AssertionError("no agent message reached B's socket afterwards")
                    for i in range(3):
                        await agent_says(f"恢复后 {i}")
                        await widget.wait_for(caught_up, 10)
                    await until(at_least(accepted, accepted() + 10), 60, "turns after Redis")
                finally:
                    stop.set()
                    await asyncio.gather(*chats)
                assert agent_frames(widget.frames) == said
                for customer in rest:
                    assert await customer.say("满多少包邮"), f"{customer.name} got no answer"
                await widget.close()

            summary = await check(database, ledger)
            assert summary.customer_messages >= 40
            # Turns stayed in order: each REST customer's message is followed by its replies
            # before the next one (they send one at a time).
            store = await SqlStore.open(database)
            try:
                for customer in rest:
                    record = await store.customers.for_identity("rest", customer.name)
                    messages = await store.messages.of_customer(record.id)
                    runs = [(k, len(list(g))) for k, g in groupby(x.sender for x in messages)]
                    assert all(k == "bot" or n == 1 for k, n in runs), runs
                    assert runs[0][0] == "customer" and runs[-1][0] == "bot", runs
            finally:
                await store.close()
