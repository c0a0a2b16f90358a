"""PostgreSQL stops for a few seconds and starts again while customers chat over REST and the
widget with a real `relaydesk run`. The database is the test's own: the machine's shared cluster
is never touched."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.faults.conftest import PgServer
from tests.kit.clients import RestCustomer, WidgetCustomer
from tests.kit.invariants import Ledger, check
from tests.kit.processes import PrivatePostgres, at_least, until
from tests.kit.servers import logs_on_failure

pytestmark = pytest.mark.slow
LINES = ["你好", "满多少包邮", "退货运费谁出", "谢谢", "hello", "how long does a refund take"]
OUTAGE_S = 3.0  # longer than the store's reconnect tries (about 2 s): requests get refused


async def test_a_postgresql_restart_loses_no_message_and_conversations_go_on(
    private_pg: PrivatePostgres, pg_server: PgServer
) -> None:
    server, url = await pg_server("a")
    ledger = Ledger()
    async with logs_on_failure(server, lines=80):
        async with asyncio.timeout(180):
            await server.start()
            async with aiohttp.ClientSession() as session:
                rest = [RestCustomer(f"pg-{i}", [server.url], session, ledger) for i in range(6)]
                widget = WidgetCustomer(server.url, session, ledger)
                stop = asyncio.Event()

                async def rest_chat(customer: RestCustomer, i: int) -> None:
                    while not stop.is_set():
                        await customer.say(LINES[(i + customer.sent) % len(LINES)])

                async def widget_chat() -> None:
                    n = 0
                    while not stop.is_set():
                        await widget.say(LINES[n % len(LINES)])
                        n += 1

                def accepted() -> int:
                    return sum(len(v) for v in ledger.accepted.values())

                chats = [asyncio.create_task(rest_chat(c, i)) for i, c in enumerate(rest)]
                chats.append(asyncio.create_task(widget_chat()))
                try:
                    await until(at_least(accepted, 15), 60, "traffic before the outage")
                    await private_pg.stop()
                    await asyncio.sleep(OUTAGE_S)
                    await private_pg.start()
                    after = accepted()
                    await until(at_least(accepted, after + 20), 60, "traffic after the restart")
                finally:
                    stop.set()
                    await asyncio.gather(*chats)
                # Conversations go on: each customer's next message is answered by the bot.
                for customer in rest:
                    assert await customer.say("满多少包邮"), f"{customer.name} got no answer"
                assert (await widget.say("退货运费谁出"))["sender"] == "bot"
                await widget.close()

            # While the database was away requests were refused quickly and clearly, never
            # with a 500 and never left hanging.
            refusals = [r for c in rest for r in c.refusals]
            assert refusals, "the outage refused nothing: the test did not test"
            assert all(r["http"] == 503 for r in refusals), refusals
            assert all(r["reason"] == "ServiceUnavailable" for r in refusals), refusals
            assert max(r["after_s"] for r in refusals) < 15, refusals
            assert 500 not in ledger.statuses
            summary = await check(url, ledger)
            print(summary, ledger.statuses, "widget retries", widget.retries)
            assert summary.customer_messages >= 40
