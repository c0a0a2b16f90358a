"""A customer types into the web widget while PostgreSQL is away, against a real `relaydesk run`.
The client behaves as widget.js does (tests/kit/widget.py): every line is sent at once and kept
until echoed; a `retry` answer sends that line again later; a new socket resends them all.
Checked from the database: every line stored once, in the order typed, and answered."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.faults.conftest import PgServer
from tests.kit.invariants import Ledger, check_when_settled
from tests.kit.processes import PrivatePostgres, until
from tests.kit.servers import logs_on_failure
from tests.kit.widget import TypingWidget

pytestmark = pytest.mark.slow
OUTAGE_S = 3.0  # past the store's reconnect tries (about 2 s): the server answers `retry`


async def test_lines_typed_while_postgresql_is_away_are_stored_once_in_order(
    private_pg: PrivatePostgres, pg_server: PgServer
) -> None:
    server, url = await pg_server("w")
    async with logs_on_failure(server, lines=80), asyncio.timeout(120):
        await server.start()
        async with aiohttp.ClientSession() as session, TypingWidget(server.url, session) as w:

            async def answered() -> bool:
                return w.answered()

            w.type("你好")
            await until(answered, 30, "the first line answered")
            await private_pg.stop()
            for text in ("满多少包邮", "退货运费谁出", "hello"):  # typed fast, into the outage
                w.type(text)
                await asyncio.sleep(0.3)
            await asyncio.sleep(OUTAGE_S)
            await private_pg.start()
            w.type("谢谢")
            await until(answered, 40, "every line echoed and answered")
            assert w.retries or w.reconnects, "the outage refused nothing: the test did not test"

        ledger = Ledger()
        ledger.accepted[("web", w.sender_key())] = list(w.typed)  # all echoed, in typed order
        summary = await check_when_settled(url, ledger)
        assert summary.customer_messages == 5
        print(summary, "retries", w.retries, "reconnects", w.reconnects)
