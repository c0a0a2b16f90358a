"""Telegram long polling when things go wrong: the database away (no update confirmed to
Telegram before it is stored), redeliveries and edits (no second "typing", no second answer),
a crashed poller (logged and started again); and what the bot tells Telegram and the agent at
start-up (the command menu in both languages, the customer's name and language). The real app
and python-telegram-bot against tests/standins/telegram_api.py."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bot.server.context import CONTEXT
from bot.store.engine import SqliteDatabase
from bot.store.sql_store import SqlStore
from connectors.telegram import connector as connector_module
from connectors.telegram.connector import TelegramConnector
from tests.apps import AppFactory, Client, store_of
from tests.connectors.telegram.test_telegram import (
    CHAT,
    TOKEN,
    customer_texts,
    polling_against,
    wait_until,
)
from tests.standins.telegram_api import TelegramStandIn


@pytest.fixture
async def tg() -> AsyncIterator[TelegramStandIn]:
    async with TelegramStandIn(token=TOKEN) as standin:
        yield standin


async def start(
    make_client: AppFactory, tg: TelegramStandIn, database: Path | None = None
) -> tuple[Client, TelegramConnector]:
    telegram = polling_against(tg)

    def edit(raw: dict[str, Any]) -> None:
        telegram(raw)
        if database is not None:
            raw["storage"]["url"] = f"sqlite:///{database}"

    client = await make_client(dev_agent_api=True, always_open=True, edit=edit)
    connector = client.app[CONTEXT].channels["telegram"].connector
    await asyncio.wait_for(connector.ready.wait(), 10)
    return client, connector


async def _database_away(store: SqlStore) -> SqliteDatabase:
    """Close the store's SQLite database (its connections and its thread): every transaction
    now fails until it is opened again."""
    db = store.db
    assert isinstance(db, SqliteDatabase)
    await db.close()
    return db


def _database_back(db: SqliteDatabase) -> None:
    """Open it again: a new thread, which connects anew on first use."""
    db._thread = ThreadPoolExecutor(1, thread_name_prefix="relaydesk-sqlite")


async def _external_ids(store: SqlStore, chat: int) -> list[str | None]:
    customer = await store.customers.find("telegram", str(chat))
    assert customer is not None
    return [
        m.external_id
        for m in await store.messages.of_customer(customer.id)
        if m.sender == "customer"
    ]


async def test_with_the_database_away_no_update_is_confirmed_and_all_are_stored_once_in_order(
    make_client: AppFactory, tg: TelegramStandIn, tmp_path: Path
) -> None:
    folder = tmp_path / "db"
    client, _ = await start(make_client, tg, folder / "relaydesk.db")
    store = store_of(client)
    tg.push_message(CHAT, "你好")
    await wait_until(lambda: _stored(store, CHAT, 1))
    await tg.wait_for_sent(1, chat_id=CHAT)
    typing_before = len(tg.calls_of("sendChatAction"))

    away = await _database_away(store)
    with pytest.raises(RuntimeError):
        await store.customers.find("telegram", str(CHAT))
    lines = {CHAT: ["满多少包邮", "退货运费谁出", "谢谢"], CHAT + 1: ["在吗", "退款多久到账"]}
    for i in range(3):
        for chat, said in lines.items():
            if i < len(said):
                tg.push_message(chat, said[i])
    polls = len(tg.calls_of("getUpdates"))
    await tg.wait_for_calls("getUpdates", polls + 2, timeout=5)  # tried, and tried again
    # Nothing was confirmed to Telegram: every update is still there to be fetched.
    assert len(tg.pending_updates) == 5
    assert len(tg.calls_of("sendChatAction")) == typing_before

    _database_back(away)
    await wait_until(lambda: _stored(store, CHAT + 1, 2), timeout=10)
    await wait_until(lambda: _stored(store, CHAT, 4), timeout=10)
    await asyncio.sleep(1.2)  # a poll past them confirms them; a duplicate would show by now
    assert await customer_texts(store) == ["你好", *lines[CHAT]]
    assert await customer_texts(store, CHAT + 1) == lines[CHAT + 1]
    for chat in lines:
        ids = await _external_ids(store, chat)
        assert len(ids) == len(set(ids))
    assert tg.pending_updates == []
    # One "typing" per update newly stored, none for the tries that stored nothing.
    assert len(tg.calls_of("sendChatAction")) == typing_before + 5


async def _stored(store: SqlStore, chat: int, n: int) -> bool:
    return len(await customer_texts(store, chat)) >= n


async def test_a_redelivered_update_gets_no_second_typing_and_an_edit_no_second_answer(
    make_client: AppFactory, tg: TelegramStandIn
) -> None:
    """An edited message is not stored and not answered (the original was answered); polling
    does not even ask for edits."""
    client, connector = await start(make_client, tg)
    store = store_of(client)
    user = {"id": CHAT, "is_bot": False, "first_name": "Li", "language_code": "zh"}
    message = {
        "message_id": 1,
        "date": int(time.time()),
        "chat": {"id": CHAT, "type": "private", "first_name": "Li"},
        "from": user,
        "text": "满多少包邮",
    }
    update = {"update_id": 820001, "message": message}
    await connector.process_update(update)
    await connector.process_update(update)  # Telegram hands it over again
    await tg.wait_for_sent(1, chat_id=CHAT)
    edit = {
        "update_id": 820002,
        "edited_message": {**message, "text": "满多少包邮？", "edit_date": int(time.time())},
    }
    await connector.process_update(edit)
    await asyncio.sleep(0.5)
    assert await customer_texts(store) == ["满多少包邮"]
    assert len(tg.calls_of("sendChatAction")) == 1
    assert len(tg.sent(CHAT)) == 1
    polls = tg.calls_of("getUpdates")
    assert polls and "edited_message" not in polls[-1].params["allowed_updates"]


async def test_a_crashed_poller_is_logged_and_polls_again(
    make_client: AppFactory,
    tg: TelegramStandIn,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(connector_module, "RESTART_S", 0.1)
    client, connector = await start(make_client, tg)
    real = connector._get_updates
    crashed = False

    async def crash_once(*args: Any) -> Any:
        nonlocal crashed
        if not crashed:
            crashed = True
            raise RuntimeError("a bug in the poller")
        return await real(*args)

    monkeypatch.setattr(connector, "_get_updates", crash_once)
    with caplog.at_level(logging.ERROR, logger="connectors.telegram.connector"):
        await wait_until(lambda: _true(crashed), timeout=5)
        tg.push_message(CHAT, "你好")
        await tg.wait_for_sent(1, chat_id=CHAT, timeout=10)
    assert connector.crashes == 1
    [record] = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert record.levelno == logging.ERROR and "a bug in the poller" in caplog.text
    assert await customer_texts(store_of(client)) == ["你好"]


async def _true(value: bool) -> bool:
    return value


async def test_the_command_menu_is_set_in_english_and_chinese(
    make_client: AppFactory, tg: TelegramStandIn
) -> None:
    await start(make_client, tg)
    english = tg.command_lists[("default", "")]
    chinese = tg.command_lists[("default", "zh")]
    for menu in (english, chinese):
        assert [c["command"] for c in menu] == ["start", "help", "human"]
    assert "person" in english[2]["description"] and "人工" in chinese[2]["description"]
    for call in tg.calls_of("setMyCommands"):
        assert call.status == 200


async def test_the_agent_sees_the_customers_telegram_name_and_language(
    make_client: AppFactory, tg: TelegramStandIn
) -> None:
    client, _ = await start(make_client, tg)
    store = store_of(client)
    await store.agents.add("sue", "Sue", role="supervisor", status="online")
    tg.push_message(CHAT, "How long does delivery take?", first_name="Li", language_code="en")
    await tg.wait_for_sent(1, chat_id=CHAT)
    customer = await store.customers.find("telegram", str(CHAT))
    assert customer is not None
    assert (customer.name, customer.language) == ("Li", "en")
    sue = {"X-Relaydesk-Agent": "sue"}
    resp = await client.get(f"/api/agent/customers/{customer.id}", headers=sue)
    profile = await resp.json()
    assert profile["customer"]["name"] == "Li"
