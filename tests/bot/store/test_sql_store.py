"""The store on both back ends, with the concurrency it must survive."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import inspect

from bot.errors import InputError
from bot.store.sql_store import NotFoundError, SqlStore


async def test_migrations_create_every_table_and_rerun_as_a_no_op(store: SqlStore) -> None:
    tables = await store.db.run(lambda s: set(inspect(s.connection()).get_table_names()))
    assert {
        "customers",
        "channel_identities",
        "conversations",
        "messages",
        "tickets",
        "ticket_events",
        "handoffs",
        "agents",
        "ratings",
        "notes",
        "alembic_version",
    } <= tables
    await store.db.migrate()  # already at head


async def test_a_channel_identity_maps_to_one_customer(store: SqlStore) -> None:
    a = await store.customer_for("telegram", "42", name="Li Lei", language="zh")
    b = await store.customer_for("telegram", "42")
    assert a.id == b.id and b.name == "Li Lei"
    assert (await store.customer_for("web", "42")).id != a.id


async def test_a_linked_identity_shows_one_history_across_channels(store: SqlStore) -> None:
    web = await store.customer_for("web", "token-1")
    conv_web = await store.active_conversation(web.id, "web")
    await store.append_message(conv_web.id, "customer", "hi from the web")
    await store.link_identity(web.id, "telegram", "777")
    tg = await store.customer_for("telegram", "777")
    assert tg.id == web.id
    conv_tg = await store.active_conversation(tg.id, "telegram")
    await store.append_message(conv_tg.id, "customer", "hi from telegram")
    texts = [msg.text for msg in await store.customer_messages(web.id)]
    assert texts == ["hi from the web", "hi from telegram"]


async def test_messages_are_numbered_in_order_and_read_after_a_number(store: SqlStore) -> None:
    c = await store.customer_for("web", "t")
    conv = await store.active_conversation(c.id, "web")
    parse = {"intent": {"name": "greet", "confidence": 0.99}}
    first = await store.append_message(conv.id, "customer", "你好", parse=parse)
    second = await store.append_message(
        conv.id,
        "bot",
        "您好！",
        kb_article={"id": "service/x", "version": 3},
        payload={"buttons": [{"title": "查订单", "payload": "/order_status"}]},
    )
    assert (first.seq, second.seq) == (1, 2)
    assert first.parse == parse
    assert (second.kb_article_id, second.kb_article_version) == ("service/x", 3)
    later = await store.messages(conv.id, after_seq=1)
    assert [msg.text for msg in later] == ["您好！"]
    assert later[0].payload["buttons"][0]["title"] == "查订单"
    assert (await store.conversation(conv.id)).last_seq == 2


async def test_concurrent_writers_never_share_or_skip_a_number(store: SqlStore) -> None:
    c = await store.customer_for("web", "busy")
    conv = await store.active_conversation(c.id, "web")
    await asyncio.gather(*(store.append_message(conv.id, "customer", f"m{i}") for i in range(40)))
    seqs = sorted(msg.seq for msg in await store.messages(conv.id))
    assert seqs == list(range(1, 41))


async def test_a_redelivered_message_is_stored_once(store: SqlStore) -> None:
    c = await store.customer_for("telegram", "dup")
    conv = await store.active_conversation(c.id, "telegram")
    results = await asyncio.gather(
        *(
            store.append_message(conv.id, "customer", "hello", external_id="update-9")
            for _ in range(5)
        )
    )
    assert sum(not r.duplicate for r in results) == 1
    assert len({r.seq for r in results}) == 1
    assert len(await store.messages(conv.id)) == 1


async def test_bad_messages_are_refused(store: SqlStore) -> None:
    c = await store.customer_for("web", "x")
    conv = await store.active_conversation(c.id, "web")
    with pytest.raises(InputError, match="sender"):
        await store.append_message(conv.id, "robot", "hi")
    with pytest.raises(NotFoundError):
        await store.append_message("nope", "customer", "hi")


async def test_tickets_are_numbered_and_keep_their_history(store: SqlStore) -> None:
    c = await store.customer_for("web", "tix")
    first = await store.create_ticket(c.id, "Screen flickers")
    second = await store.create_ticket(c.id, "Refund missing")
    assert first.number.startswith("T-") and int(second.number[2:]) == int(first.number[2:]) + 1
    await store.set_ticket_status(first.number, "in_progress", note="checking", actor="agent-1")
    ticket = await store.ticket(first.number.lower())
    assert ticket.status == "in_progress"
    assert [e.status for e in ticket.history] == ["new", "in_progress"]
    with pytest.raises(InputError, match="ticket status"):
        await store.set_ticket_status(first.number, "lost")
    with pytest.raises(NotFoundError):
        await store.ticket("T-9999999")


async def test_queue_orders_by_priority_then_arrival(store: SqlStore) -> None:
    convs = []
    for name in ("a", "b", "c"):
        c = await store.customer_for("web", name)
        convs.append(await store.active_conversation(c.id, "web"))
    await store.queue_handoff(convs[0].id, "failed_turns", "pre_sales", priority=0)
    await store.queue_handoff(convs[1].id, "explicit_request", "pre_sales", priority=5)
    await store.queue_handoff(convs[2].id, "failed_turns", "pre_sales", priority=0)
    order = [h.conversation_id for h in await store.queued_handoffs()]
    assert order == [convs[1].id, convs[0].id, convs[2].id]
    assert (await store.conversation(convs[0].id)).status == "queued"


async def test_a_handoff_goes_to_exactly_one_agent(store: SqlStore) -> None:
    c = await store.customer_for("web", "h")
    conv = await store.active_conversation(c.id, "web")
    handoff = await store.queue_handoff(conv.id, "explicit_request", "after_sales")
    agents = [await store.add_agent(f"agent{i}", f"Agent {i}", status="online") for i in range(6)]
    wins = await asyncio.gather(*(store.assign_handoff(handoff.id, a.id) for a in agents))
    assert sum(wins) == 1
    winner = agents[wins.index(True)]
    assert (await store.handoff(handoff.id)).assigned_to == winner.id
    assert (await store.conversation(conv.id)).status == "assigned"


async def test_no_agent_exceeds_their_limit_under_concurrency(store: SqlStore) -> None:
    agent = await store.add_agent("solo", "Solo", max_concurrent=2, status="online")
    handoffs = []
    for i in range(6):
        c = await store.customer_for("web", f"q{i}")
        conv = await store.active_conversation(c.id, "web")
        handoffs.append(await store.queue_handoff(conv.id, "failed_turns", "billing"))
    wins = await asyncio.gather(*(store.assign_handoff(h.id, agent.id) for h in handoffs))
    assert sum(wins) == 2


async def test_ratings_are_one_to_five_once_per_conversation(store: SqlStore) -> None:
    c = await store.customer_for("web", "r")
    conv = await store.active_conversation(c.id, "web")
    with pytest.raises(InputError, match="1 to 5"):
        await store.rate(conv.id, 6)
    rating = await store.rate(conv.id, 5, "很满意")
    assert rating.score == 5
    with pytest.raises(InputError, match="rated already"):
        await store.rate(conv.id, 4)


async def test_a_resolved_conversation_makes_way_for_a_new_one(store: SqlStore) -> None:
    c = await store.customer_for("web", "again")
    first = await store.active_conversation(c.id, "web")
    assert (await store.active_conversation(c.id, "web")).id == first.id
    await store.update_conversation(first.id, status="resolved")
    second = await store.active_conversation(c.id, "web")
    assert second.id != first.id
    with pytest.raises(InputError, match="unknown conversation field"):
        await store.update_conversation(first.id, colour="red")


async def test_sqlite_file_is_in_wal_mode_and_survives_reopening(tmp_path: Path) -> None:
    s = await SqlStore.open("sqlite:///var/relaydesk.db", base_dir=tmp_path)
    c = await s.customer_for("web", "keep")
    conv = await s.active_conversation(c.id, "web")
    await s.append_message(conv.id, "customer", "do not lose me")
    mode = await s.db.run(
        lambda session: session.connection().exec_driver_sql("PRAGMA journal_mode").scalar()
    )
    assert mode == "wal"
    await s.close()
    again = await SqlStore.open("sqlite:///var/relaydesk.db", base_dir=tmp_path)
    assert [msg.text for msg in await again.messages(conv.id)] == ["do not lose me"]
    await again.close()
    assert (tmp_path / "var" / "relaydesk.db").is_file()


async def test_private_notes_stay_apart_from_the_transcript(store: SqlStore) -> None:
    c = await store.customer_for("web", "n")
    conv = await store.active_conversation(c.id, "web")
    agent = await store.add_agent("nia", "Nia")
    await store.add_note(conv.id, agent.id, "asked for a callback after 18:00")
    assert [n.text for n in await store.notes(conv.id)] == ["asked for a callback after 18:00"]
    assert await store.messages(conv.id) == []
    with pytest.raises(InputError, match="empty"):
        await store.add_note(conv.id, agent.id, "  ")
    with pytest.raises(NotFoundError):
        await store.add_note("nope", agent.id, "x")


async def test_begin_turn_creates_customer_and_conversation_then_reuses_them(
    store: SqlStore,
) -> None:
    first = await store.begin_turn("web", "bt", "hello", external_id="m1")
    assert first.inbound.seq == 1 and not first.inbound.duplicate
    assert first.conversation.last_seq == 1 and first.conversation.status == "bot"
    second = await store.begin_turn("web", "bt", "again", external_id="m2")
    assert second.customer.id == first.customer.id
    assert second.conversation.id == first.conversation.id and second.inbound.seq == 2
    # The same customer on another channel has a conversation of its own.
    other = await store.begin_turn("telegram", "bt", "hi")
    assert other.conversation.id != first.conversation.id
    assert [m.text for m in await store.messages(first.conversation.id)] == ["hello", "again"]


async def test_begin_turn_stores_a_redelivered_message_once(store: SqlStore) -> None:
    a = await store.begin_turn("web", "dup", "where is my parcel", external_id="x-1")
    b = await store.begin_turn("web", "dup", "where is my parcel", external_id="x-1")
    assert b.inbound.duplicate and b.inbound.id == a.inbound.id
    assert len(await store.messages(a.conversation.id)) == 1


async def test_begin_turn_opens_a_new_conversation_after_the_last_was_resolved(
    store: SqlStore,
) -> None:
    first = await store.begin_turn("web", "later", "hi")
    await store.update_conversation(first.conversation.id, status="resolved")
    second = await store.begin_turn("web", "later", "hi again")
    assert second.conversation.id != first.conversation.id
    assert second.customer.id == first.customer.id and second.inbound.seq == 1


async def test_concurrent_first_turns_of_one_sender_make_one_customer(store: SqlStore) -> None:
    starts = await asyncio.gather(
        *(store.begin_turn("web", "race", f"line {i}", external_id=f"r{i}") for i in range(8))
    )
    assert len({s.customer.id for s in starts}) == 1
    assert len({s.conversation.id for s in starts}) == 1
    assert sorted(s.inbound.seq for s in starts) == list(range(1, 9))


async def test_finish_turn_numbers_the_replies_after_the_inbound_message(store: SqlStore) -> None:
    start = await store.begin_turn("web", "fin", "refund?")
    stored = await store.finish_turn(
        start.conversation.id,
        start.inbound.id,
        {"intent": {"name": "question_refund"}},
        [{"text": "one", "kb_article": {"id": "refund-policy", "version": 3}}, {"text": "two"}],
        failed_turns=0,
        language="en",
    )
    assert [(m.seq, m.text) for m in stored] == [(2, "one"), (3, "two")]
    transcript = await store.messages(start.conversation.id)
    assert [m.sender for m in transcript] == ["customer", "bot", "bot"]
    assert transcript[0].parse == {"intent": {"name": "question_refund"}}
    assert (transcript[1].kb_article_id, transcript[1].kb_article_version) == ("refund-policy", 3)
    conv = await store.conversation(start.conversation.id)
    assert conv.last_seq == 3 and conv.language == "en"


async def test_an_in_memory_sqlite_store_keeps_its_data_between_operations() -> None:
    s = await SqlStore.open("sqlite://")
    try:
        start = await s.begin_turn("web", "mem", "hi")
        assert [m.text for m in await s.messages(start.conversation.id)] == ["hi"]
    finally:
        await s.close()


async def test_a_postgresql_connection_killed_by_the_server_is_replaced(store: SqlStore) -> None:
    if store.db.dialect != "postgresql":
        pytest.skip("PostgreSQL's server-side disconnect")
    from sqlalchemy import text

    from tests.bot.store.conftest import _pg_admin

    first = await store.begin_turn("web", "pg-restart", "before")
    name = await store.db.run(lambda s: s.execute(text("SELECT current_database()")).scalar())
    await _pg_admin(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    )
    # Every pooled connection is dead now; the next transaction gets a fresh one.
    second = await store.begin_turn("web", "pg-restart", "after")
    assert second.conversation.id == first.conversation.id and second.inbound.seq == 2
    assert [m.text for m in await store.messages(first.conversation.id)] == ["before", "after"]
