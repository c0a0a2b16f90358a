"""PostgreSQL goes away while a real `relaydesk run` long-polls Telegram: the real
python-telegram-bot polls the Bot API stand-in (tests/standins/telegram_api.py) while customers
in several chats keep writing. No update may be confirmed to Telegram (the next getUpdates
offset past it) before it is stored. Checked from the database and the stand-in: every update
stored once, in order per chat, and answered; each reply sent once; nothing left pending."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from bot.store.sql_store import SqlStore
from tests.faults.conftest import PgServer
from tests.kit.invariants import Ledger, check_when_settled
from tests.kit.processes import PrivatePostgres, until
from tests.kit.servers import logs_on_failure
from tests.kit.telegram import TOKEN_ENV, outbound, polling, texts_sent
from tests.standins.telegram_api import TelegramStandIn

pytestmark = pytest.mark.slow
CHATS = (6101, 6102, 6103)
LINES = ["你好", "满多少包邮", "退货运费谁出", "谢谢", "hello", "how long does a refund take"]
OUTAGE_S = 3.0  # past the store's reconnect tries (about 2 s): storing an update fails


def handed_over(tg: TelegramStandIn) -> Counter[int]:
    """How many getUpdates answers carried each update: more than one is a redelivery."""
    return Counter(u["update_id"] for c in tg.calls_of("getUpdates") if c.ok for u in c.result)


async def test_updates_polled_while_postgresql_is_away_are_stored_once_in_order_and_answered(
    private_pg: PrivatePostgres, tg: TelegramStandIn, pg_server: PgServer
) -> None:
    server, url = await pg_server("server", env=TOKEN_ENV, connectors=polling(tg))
    ledger = Ledger()
    said: Counter[int] = Counter()
    store: SqlStore | None = None

    def write(chat: int) -> int:
        update = tg.push_message(chat, LINES[(chat + said[chat]) % len(LINES)])
        ledger.accepted[("telegram", str(chat))].append(f"u{update['update_id']}")
        said[chat] += 1
        return int(update["update_id"])

    async def everything_answered() -> bool:
        """Every update stored and its turn done, every reply sent, every update confirmed."""
        assert store is not None
        try:
            for chat in CHATS:
                customer = await store.customers.find("telegram", str(chat))
                if customer is None:
                    return False
                stored = await store.messages.of_customer(customer.id)
                if sum(m.sender == "customer" and m.parse is not None for m in stored) < said[chat]:
                    return False
                if len(texts_sent(tg, chat)) < len(await outbound(store, chat)):
                    return False
        except Exception:  # the database still coming back
            return False
        return not tg.pending_updates

    async with logs_on_failure(server, lines=80), asyncio.timeout(120):
        await server.start()
        await tg.wait_for_calls("getUpdates", timeout=30)
        store = await SqlStore.open(url)
        try:
            for chat in CHATS:
                write(chat)
            await until(everything_answered, 30, "the first message of each chat answered")

            await private_pg.stop()
            during = []
            for _ in range(3):  # several chats write into the outage, interleaved
                during += [write(chat) for chat in CHATS]
                await asyncio.sleep(0.3)
            await asyncio.sleep(OUTAGE_S)
            # Nothing written during the outage was confirmed to Telegram (so nothing can be
            # lost there), and the poller did fetch it, more than once: the test tested.
            pending = {u["update_id"] for u in tg.pending_updates}
            assert set(during) <= pending, (sorted(during), sorted(pending))
            assert max(handed_over(tg)[u] for u in during) >= 2, handed_over(tg)
            await private_pg.start()
            for chat in CHATS:
                write(chat)
            await until(everything_answered, 40, "every update stored, answered and confirmed")

            # Each reply went out once, in the order stored; one "typing" per update stored
            # (none for the tries that stored nothing).
            for chat in CHATS:
                assert texts_sent(tg, chat) == [m.text for m in await outbound(store, chat)], chat
            assert len(tg.calls_of("sendChatAction")) == sum(said.values())
            summary = await check_when_settled(url, ledger)
            assert summary.customer_messages == sum(said.values()) == 15
            redelivered = {u: n for u, n in handed_over(tg).items() if n > 1}
            print(summary, "redelivered", redelivered)
        finally:
            await store.close()
