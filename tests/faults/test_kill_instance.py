"""One of two `relaydesk run` instances (one PostgreSQL database, one Redis) is killed with
SIGKILL in the middle of turns, while customers chat through both over REST and agents race to
claim the queue through both. Clients that lose a request send it again to the survivor; what
the dead instance left half done is finished by the survivor's recovery."""

from __future__ import annotations

import asyncio
import contextlib
import random

import aiohttp
import asyncpg
import pytest

from bot.config import Config
from tests.kit.clients import RestCustomer
from tests.kit.invariants import Ledger, check
from tests.kit.processes import at_least, until
from tests.kit.servers import Instance, add_agents, logs_on_failure

pytestmark = pytest.mark.slow
LINES = ["你好", "满多少包邮", "退货运费谁出", "谢谢", "hello", "how long does a refund take"]
AGENTS = ("amy", "bob", "cai")


async def unfinished(url: str) -> set[int]:
    """Customer messages stored whose turn has not finished (yet)."""
    conn = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1))
    try:
        rows = await conn.fetch(
            "SELECT id FROM messages WHERE sender = 'customer' AND parse IS NULL"
        )
    finally:
        await conn.close()
    return {r["id"] for r in rows}


async def test_an_instance_killed_mid_turn_loses_nothing_and_its_customers_go_on(
    database: str,
    repo_config: Config,
    pair: tuple[Instance, Instance],
) -> None:
    groups = list(repo_config.handoff.skill_groups)
    # The schema, and the agents on duty: one chat each, fewer places than customers asking, so
    # every claim is contested.
    await add_agents(database, AGENTS, skills=groups, status="online", max_concurrent=1)
    a, b = pair
    ledger = Ledger()
    rng = random.Random(8)
    async with logs_on_failure(a, b):
        async with asyncio.timeout(240):
            await asyncio.gather(a.start(), b.start())
            urls = [a.url, b.url]
            async with aiohttp.ClientSession() as session:
                chatty = [RestCustomer(f"kill-{i}", urls, session, ledger) for i in range(8)]
                seekers = [RestCustomer(f"human-{i}", urls, session, ledger) for i in range(6)]
                leavers = [RestCustomer(f"gone-{i}", urls, session, ledger) for i in range(4)]
                stop = asyncio.Event()

                async def chat(customer: RestCustomer, i: int) -> None:
                    while not stop.is_set():  # each message to the other instance in turn
                        n = customer.sent
                        await customer.say(LINES[(i + n) % len(LINES)], first=(i + n) % 2)

                async def seek(customer: RestCustomer, i: int) -> None:
                    await asyncio.sleep(rng.uniform(0, 3))
                    await customer.say("转人工", first=i % 2)

                async def claim(agent: str, i: int) -> None:
                    """Take whatever waits, through either instance; both race for each."""
                    headers = {"X-Relaydesk-Agent": agent}
                    while not stop.is_set():
                        url = urls[(i + rng.randrange(2)) % 2]
                        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                            async with session.get(f"{url}/api/agent/queue", headers=headers) as r:
                                waiting = (await r.json())["queue"] if r.status == 200 else []
                            for item in waiting:
                                cid = item["conversation_id"]
                                async with session.post(
                                    f"{url}/api/agent/conversations/{cid}/claim", headers=headers
                                ) as r:
                                    if r.status == 200:
                                        ledger.claims[cid].append(agent)
                        await asyncio.sleep(0.05)

                tasks = [asyncio.create_task(chat(c, i)) for i, c in enumerate(chatty)]
                tasks += [asyncio.create_task(seek(c, i)) for i, c in enumerate(seekers)]
                tasks += [asyncio.create_task(claim(n, i)) for i, n in enumerate(AGENTS)]

                def accepted() -> int:
                    return sum(len(v) for v in ledger.accepted.values())

                await until(at_least(accepted, 25), 60, "traffic before the kill")
                # Freeze A with turns in flight, so the kill lands mid-turn for certain: what
                # stays unfinished over two seconds (B finishes its own turns meanwhile) is A's.
                stuck: set[int] = set()
                for _ in range(30):
                    forgotten = [
                        asyncio.create_task(c.send_and_forget(a.url, "满多少包邮")) for c in leavers
                    ]
                    await asyncio.sleep(rng.uniform(0.02, 0.1))
                    a.pause()
                    await asyncio.sleep(1.0)
                    stuck = await unfinished(database)
                    await asyncio.sleep(1.0)
                    stuck &= await unfinished(database)
                    if stuck:
                        break
                    a.resume()
                    await asyncio.gather(*forgotten)
                assert stuck, "A was never caught mid-turn"
                a.kill()
                await asyncio.gather(*forgotten)
                after = accepted()
                await until(at_least(accepted, after + 20), 90, "traffic on the survivor")
                # The survivor finishes what A left: resumed when a client sent it again,
                # swept (after 3 s) when nobody did.
                await until(lambda: _none_of(stuck, database), 60, "A's turns finished by B")
                stop.set()
                await asyncio.gather(*tasks)
                # Conversations go on: each chatting customer's next message is answered.
                for customer in chatty + leavers:
                    replies = await customer.say("满多少包邮", first=1)
                    assert replies, f"{customer.name} got no answer after the kill"
            summary = await check(database, ledger)
            assert summary.recovered >= 1  # A's half-done turns, finished by B
            assert summary.handed_over >= len(seekers)
            assert summary.assigned == len(AGENTS)  # every agent full, none beyond
            assert 1 <= sum(len(w) for w in ledger.claims.values()) <= len(AGENTS)


async def _none_of(ids: set[int], url: str) -> bool:
    return not ids & await unfinished(url)
