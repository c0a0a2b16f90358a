"""Two instances with Telegram long polling, on one PostgreSQL database and the machine's real
Redis, against one Bot API stand-in: only the lease holder calls getUpdates (so Telegram never
answers 409 Conflict), the other takes over when it stops, and no update is stored or answered
twice across the handover."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.server.context import CONTEXT
from bot.store.sql_store import SqlStore
from connectors.telegram.connector import TelegramConnector
from tests.apps import AppFactory, Client
from tests.bot.test_coordination import REDIS
from tests.standins.telegram_api import TelegramStandIn

# A bot of its own per run: the lease is per bot, so nothing else sharing Redis interferes.
TOKEN = f"{random.randint(10**8, 10**9 - 1)}:relaydesk-lease-test-token"


@pytest.fixture
async def tg() -> AsyncIterator[TelegramStandIn]:
    async with TelegramStandIn(token=TOKEN) as standin:
        yield standin


async def _instance(
    make_client: AppFactory, folder: str, database: str, tg: TelegramStandIn
) -> Client:
    """One instance on the shared database and Redis, polling the stand-in with a 1 s lease."""

    def edit(raw: dict[str, Any]) -> None:
        raw["storage"]["url"] = database
        raw["server"]["redis_url"] = REDIS
        raw["connectors"]["telegram"] = {
            "enabled": True,
            "token": TOKEN,
            "mode": "polling",
            "base_url": tg.base_url,
            "base_file_url": tg.base_file_url,
            "polling_timeout_seconds": 1,
            "polling_lease_seconds": 1,
            "delivery": {"first_backoff_seconds": 0.05, "max_backoff_seconds": 0.2},
        }

    client = await make_client(always_open=True, edit=edit, folder=folder)
    connector = client.app[CONTEXT].channels["telegram"].connector
    assert connector is not None
    await asyncio.wait_for(connector.ready.wait(), 10)
    return client


def _connector(client: Client) -> TelegramConnector:
    connector = client.app[CONTEXT].channels["telegram"].connector
    assert connector is not None
    return connector


async def _until(check: Callable[[], bool], timeout: float) -> float:
    """Wait for `check`; return how long it took."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def _said(store: SqlStore, chat: int) -> list[str]:
    customer = await store.customers.find("telegram", str(chat))
    if customer is None:
        return []
    return [m.text for m in await store.messages.of_customer(customer.id) if m.sender == "customer"]


async def _bot_messages(store: SqlStore, chat: int) -> list[str]:
    customer = await store.customers.find("telegram", str(chat))
    assert customer is not None
    return [m.text for m in await store.messages.of_customer(customer.id) if m.sender == "bot"]


async def test_one_instance_polls_and_the_other_takes_over_without_doing_anything_twice(
    make_client: AppFactory,
    database: str,
    tg: TelegramStandIn,
) -> None:
    clients = [await _instance(make_client, n, database, tg) for n in ("a", "b")]
    connectors = [_connector(c) for c in clients]
    await _until(lambda: any(c.polling for c in connectors), 5)
    await asyncio.sleep(2.5)  # more than twice the lease: renewed, never handed back and forth
    assert [c.polling for c in connectors].count(True) == 1
    holder = next(i for i, c in enumerate(connectors) if c.polling)
    standby = 1 - holder
    store = clients[standby].app[CONTEXT].store
    assert store is not None

    # Customers write while one instance polls, and on through the handover.
    chats = [7001, 7002, 7003, 7004, 7005, 7006]
    for chat in chats[:3]:
        tg.push_message(chat, "你好")
    await tg.wait_for_sent(3, timeout=15)
    stop = asyncio.create_task(clients[holder].close())  # shutting down: the lease is given up
    for chat in chats[3:]:
        tg.push_message(chat, "满多少包邮")
        await asyncio.sleep(0.15)
    await stop
    assert not connectors[holder].polling
    took_over = await _until(lambda: connectors[standby].polling, 3)
    assert took_over < 2  # released, not left to expire

    async def all_answered() -> bool:
        return all([await _bot_messages(store, chat) for chat in chats])

    deadline = time.monotonic() + 20
    while not await all_answered():
        assert time.monotonic() < deadline, "not every customer was answered"
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # anything duplicated would show by now

    for chat in chats:
        said = await _said(store, chat)
        assert said == (["你好"] if chat in chats[:3] else ["满多少包邮"]), (chat, said)
        stored = await _bot_messages(store, chat)
        sent = tg.sent_texts(chat)
        assert len(sent) == len(stored), (chat, sent, stored)  # each reply went out once
    polls = tg.calls_of("getUpdates")
    assert polls and not [c for c in polls if c.status == 409]
