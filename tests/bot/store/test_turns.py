"""Unfinished turns in the store, on SQLite and PostgreSQL: which messages count as unfinished,
how tries are counted, and that a turn's outcome is stored once however many runners finish it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from bot import clock
from bot.clock import SimulatedClock, use_clock
from bot.store.errors import TurnFinishedError
from bot.store.sql_store import SqlStore
from bot.store.tables import MSG


async def test_only_old_unanswered_customer_messages_of_open_conversations_are_due(
    store: SqlStore,
) -> None:
    turns = store.unfinished_turns
    with use_clock(SimulatedClock(clock.real_now())) as sim:
        dead = await store.turns.begin("rest", "ann", "where is my parcel", external_id="a1")
        answered = await store.turns.begin("rest", "bob", "hello")
        await store.turns.finish(answered.conversation.id, answered.inbound.id, {"x": 1}, [])
        closed = await store.turns.begin("rest", "cat", "bye")
        await store.conversations.update(closed.conversation.id, status="closed")
        await store.customers.link(dead.customer.id, "rest", "ann-on-her-phone")
        assert await turns.due(older_than_s=15) == []  # too young: may still be running
        sim.advance(20)
        young = await store.turns.begin("rest", "dan", "hi")
        due = await turns.due(older_than_s=15)
    assert [t.message_id for t in due] == [dead.inbound.id]
    assert due[0].senders == ("ann", "ann-on-her-phone")  # every lock the customer may hold
    assert due[0].channel == "rest" and due[0].conversation_id == dead.conversation.id
    assert young.inbound.parse is None


async def test_each_try_is_counted_and_a_finished_turn_is_not_tried_again(
    store: SqlStore,
) -> None:
    turns = store.unfinished_turns
    start = await store.turns.begin("rest", "eve", "满多少包邮")
    first = await turns.attempt(start.inbound.id)
    second = await turns.attempt(start.inbound.id)
    assert first is not None and second is not None
    assert (first[1], second[1]) == (1, 2)
    assert first[0].inbound.text == "满多少包邮" and not first[0].inbound.duplicate
    assert first[0].conversation.id == start.conversation.id
    await store.turns.finish(start.conversation.id, start.inbound.id, {"intent": {}}, [])
    assert await turns.attempt(start.inbound.id) is None


async def test_a_turn_finished_twice_is_stored_once(store: SqlStore) -> None:
    start = await store.turns.begin("rest", "fay", "hello")
    conv = start.conversation.id
    reply = [{"text": "hi there", "payload": {}}]
    await store.turns.finish(conv, start.inbound.id, {"n": 1}, reply, inbound_seq=1)
    with pytest.raises(TurnFinishedError):
        await store.turns.finish(conv, start.inbound.id, {"n": 2}, reply, inbound_seq=1)
    messages = await store.messages.of(conv)
    assert [(m.sender, m.text) for m in messages] == [("customer", "hello"), ("bot", "hi there")]
    assert messages[0].parse == {"n": 1}
    assert (await store.conversations.get(conv)).last_seq == 2


async def test_a_missing_parse_is_sql_null(store: SqlStore) -> None:
    """The partial index that finds unfinished turns sees SQL NULL only, not JSON null."""
    start = await store.turns.begin("rest", "gus", "hi")

    def parse_is_null(s: Session) -> bool:
        query = select(MSG.c.parse.is_(None)).where(MSG.c.id == start.inbound.id)
        return bool(s.execute(query).scalar_one())

    assert await store.db.run(parse_is_null)


async def test_an_unfinished_turn_stored_before_the_upgrade_is_found_after_it(
    store: SqlStore,
) -> None:
    """Before migration 0006 a missing parse was stored as JSON null, which the partial index
    cannot see; the upgrade turns it into SQL NULL for open conversations."""
    with use_clock(SimulatedClock(clock.real_now())) as sim:
        dead = await store.turns.begin("rest", "hal", "还在吗")
        await _migrate(store, "0005")
        json_null = "'null'::json" if store.db.dialect == "postgresql" else "'null'"
        await _execute(store, f"UPDATE messages SET parse = {json_null}")
        await _migrate(store, "head")
        sim.advance(60)
        due = await store.unfinished_turns.due(older_than_s=15)
    assert [t.message_id for t in due] == [dead.inbound.id]


async def _migrate(store: SqlStore, revision: str) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from bot.store.engine import MIGRATIONS

    def to(connection: Connection) -> None:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = connection
        if revision == "head":
            command.upgrade(cfg, revision)
        else:
            command.downgrade(cfg, revision)

    await _on_connection(store, to)


async def _execute(store: SqlStore, sql: str) -> None:
    await _on_connection(store, lambda connection: connection.execute(text(sql)))


async def _on_connection(store: SqlStore, fn: Callable[[Connection], object]) -> None:
    db: Any = store.db
    if store.db.dialect == "postgresql":
        async with db.engine.begin() as conn:
            await conn.run_sync(fn)
        return

    def run() -> None:
        with db.engine.begin() as conn:
            fn(conn)

    await asyncio.get_running_loop().run_in_executor(db._thread, run)
