"""The store's contract: every repository, through the interface its callers use, behaving the same
on SQLite and on PostgreSQL (the `store` fixture runs each test on both), with the concurrency
each must survive. The delivery ledger, unfinished turns and masking have modules of their own
(test_deliveries.py, test_turns.py, test_masked_transcripts.py) on the same fixture."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect

from bot.errors import InputError
from bot.store.accounts import Credentials
from bot.store.errors import NotFoundError
from bot.store.sql_store import SqlStore


# -- the database ----------------------------------------------------------------------------------
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


async def test_sqlite_file_is_in_wal_mode_and_survives_reopening(tmp_path: Path) -> None:
    s = await SqlStore.open("sqlite:///var/relaydesk.db", base_dir=tmp_path)
    c = await s.customers.for_identity("web", "keep")
    conv = await s.conversations.active(c.id, "web")
    await s.messages.append(conv.id, "customer", "do not lose me")
    mode = await s.db.run(
        lambda session: session.connection().exec_driver_sql("PRAGMA journal_mode").scalar()
    )
    assert mode == "wal"
    await s.close()
    again = await SqlStore.open("sqlite:///var/relaydesk.db", base_dir=tmp_path)
    assert [msg.text for msg in await again.messages.of(conv.id)] == ["do not lose me"]
    await again.close()
    assert (tmp_path / "var" / "relaydesk.db").is_file()


async def test_an_in_memory_sqlite_store_keeps_its_data_between_operations() -> None:
    s = await SqlStore.open("sqlite://")
    try:
        start = await s.turns.begin("web", "mem", "hi")
        assert [m.text for m in await s.messages.of(start.conversation.id)] == ["hi"]
    finally:
        await s.close()


async def test_a_postgresql_connection_killed_by_the_server_is_replaced(store: SqlStore) -> None:
    if store.db.dialect != "postgresql":
        pytest.skip("PostgreSQL's server-side disconnect")
    from sqlalchemy import text

    from tests.bot.store.conftest import _pg_admin

    first = await store.turns.begin("web", "pg-restart", "before")
    name = await store.db.run(lambda s: s.execute(text("SELECT current_database()")).scalar())
    await _pg_admin(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    )
    # Every pooled connection is dead now; the next transaction gets a fresh one.
    second = await store.turns.begin("web", "pg-restart", "after")
    assert second.conversation.id == first.conversation.id and second.inbound.seq == 2
    assert [m.text for m in await store.messages.of(first.conversation.id)] == ["before", "after"]


# -- customers ------------------------------------------------------------------------------------
async def test_a_channel_identity_maps_to_one_customer(store: SqlStore) -> None:
    a = await store.customers.for_identity("telegram", "42", name="Li Lei", language="zh")
    b = await store.customers.for_identity("telegram", "42")
    assert a.id == b.id and b.name == "Li Lei"
    assert (await store.customers.for_identity("web", "42")).id != a.id


async def test_find_never_creates_a_customer(store: SqlStore) -> None:
    assert await store.customers.find("telegram", "nobody") is None
    made = await store.customers.for_identity("telegram", "somebody")
    found = await store.customers.find("telegram", "somebody")
    assert found is not None and found.id == made.id
    assert await store.customers.find("telegram", "nobody") is None


async def test_a_linked_identity_shows_one_history_across_channels(store: SqlStore) -> None:
    web = await store.customers.for_identity("web", "token-1")
    conv_web = await store.conversations.active(web.id, "web")
    await store.messages.append(conv_web.id, "customer", "hi from the web")
    await store.customers.link(web.id, "telegram", "777")
    tg = await store.customers.for_identity("telegram", "777")
    assert tg.id == web.id
    conv_tg = await store.conversations.active(tg.id, "telegram")
    await store.messages.append(conv_tg.id, "customer", "hi from telegram")
    texts = [msg.text for msg in await store.messages.of_customer(web.id)]
    assert texts == ["hi from the web", "hi from telegram"]


async def test_linking_a_known_identity_moves_it_to_the_new_customer(store: SqlStore) -> None:
    first = await store.customers.for_identity("telegram", "555")
    second = await store.customers.for_identity("web", "token-2")
    await store.customers.link(second.id, "telegram", "555")
    moved = await store.customers.find("telegram", "555")
    assert moved is not None and moved.id == second.id != first.id


async def test_customers_are_read_and_updated_by_id(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "upd")
    updated = await store.customers.update(
        c.id, name="Han Mei", language="zh", tags=("vip",), attributes={"tier": 2}
    )
    assert (updated.name, updated.tags, updated.attributes) == ("Han Mei", ("vip",), {"tier": 2})
    assert await store.customers.get(c.id) == updated
    assert updated.created_at.tzinfo is not None
    with pytest.raises(InputError, match="unknown customer field"):
        await store.customers.update(c.id, colour="red")
    with pytest.raises(NotFoundError):
        await store.customers.get("nope")
    with pytest.raises(NotFoundError):
        await store.customers.update("nope", name="x")


# -- conversations --------------------------------------------------------------------------------
async def test_a_resolved_conversation_makes_way_for_a_new_one(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "again")
    first = await store.conversations.active(c.id, "web")
    assert (await store.conversations.active(c.id, "web")).id == first.id
    await store.conversations.update(first.id, status="resolved")
    second = await store.conversations.active(c.id, "web")
    assert second.id != first.id
    with pytest.raises(InputError, match="unknown conversation field"):
        await store.conversations.update(first.id, colour="red")


async def test_conversation_updates_are_checked(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "chk")
    conv = await store.conversations.active(c.id, "web")
    with pytest.raises(InputError, match="status"):
        await store.conversations.update(conv.id, status="lost")
    with pytest.raises(NotFoundError):
        await store.conversations.update("nope", status="closed")
    with pytest.raises(NotFoundError):
        await store.conversations.get("nope")
    await store.conversations.update(conv.id, state={"slot": "x"}, failed_turns=2)
    again = await store.conversations.get(conv.id)
    assert (again.state, again.failed_turns) == ({"slot": "x"}, 2)


async def test_latest_and_of_customer_see_closed_conversations_too(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "hist")
    assert await store.conversations.latest(c.id, "web") is None
    first = await store.conversations.active(c.id, "web")
    await store.conversations.update(first.id, status="closed")
    latest = await store.conversations.latest(c.id, "web")
    assert latest is not None and latest.id == first.id and latest.status == "closed"
    second = await store.conversations.active(c.id, "web")
    other = await store.conversations.active(c.id, "telegram")
    listed = [conv.id for conv in await store.conversations.of_customer(c.id)]
    assert listed == [first.id, second.id, other.id]


# -- messages -------------------------------------------------------------------------------------
async def test_messages_are_numbered_in_order_and_read_after_a_number(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "t")
    conv = await store.conversations.active(c.id, "web")
    parse = {"intent": {"name": "greet", "confidence": 0.99}}
    first = await store.messages.append(conv.id, "customer", "你好", parse=parse)
    second = await store.messages.append(
        conv.id,
        "bot",
        "您好！",
        kb_article={"id": "service/x", "version": 3},
        payload={"buttons": [{"title": "查订单", "payload": "/order_status"}]},
    )
    assert (first.seq, second.seq) == (1, 2)
    assert first.parse == parse
    assert (second.kb_article_id, second.kb_article_version) == ("service/x", 3)
    later = await store.messages.of(conv.id, after_seq=1)
    assert [msg.text for msg in later] == ["您好！"]
    assert later[0].payload["buttons"][0]["title"] == "查订单"
    assert (await store.conversations.get(conv.id)).last_seq == 2


async def test_concurrent_writers_never_share_or_skip_a_number(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "busy")
    conv = await store.conversations.active(c.id, "web")
    await asyncio.gather(*(store.messages.append(conv.id, "customer", f"m{i}") for i in range(40)))
    seqs = sorted(msg.seq for msg in await store.messages.of(conv.id))
    assert seqs == list(range(1, 41))


async def test_a_redelivered_message_is_stored_once(store: SqlStore) -> None:
    c = await store.customers.for_identity("telegram", "dup")
    conv = await store.conversations.active(c.id, "telegram")
    results = await asyncio.gather(
        *(
            store.messages.append(conv.id, "customer", "hello", external_id="update-9")
            for _ in range(5)
        )
    )
    assert sum(not r.duplicate for r in results) == 1
    assert len({r.seq for r in results}) == 1
    assert len(await store.messages.of(conv.id)) == 1


async def test_bad_messages_are_refused(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "x")
    conv = await store.conversations.active(c.id, "web")
    with pytest.raises(InputError, match="sender"):
        await store.messages.append(conv.id, "robot", "hi")
    with pytest.raises(InputError, match="characters"):
        await store.messages.append(conv.id, "customer", "x" * 20_001)
    with pytest.raises(InputError, match="surrogate"):
        await store.messages.append(conv.id, "customer", "\ud800")
    with pytest.raises(NotFoundError):
        await store.messages.append("nope", "customer", "hi")


async def test_stored_messages_are_announced_once_on_the_bus(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "bus")
    conv = await store.conversations.active(c.id, "web")
    seen: list[tuple[int, str]] = []
    unsubscribe = store.bus.subscribe(lambda e: seen.append((e.seq, e.sender)), conv.id)
    try:
        await store.messages.append(conv.id, "customer", "one", external_id="e1")
        await store.messages.append(conv.id, "customer", "one", external_id="e1")  # redelivery
        await store.messages.append(conv.id, "agent", "two")
        await asyncio.sleep(0)
    finally:
        unsubscribe()
    assert seen == [(1, "customer"), (2, "agent")]


async def test_a_channel_reads_one_customers_messages_with_the_agents_name(
    store: SqlStore,
) -> None:
    c = await store.customers.for_identity("web", "chan")
    agent = await store.agents.add("ann", "Ann")
    first = await store.conversations.active(c.id, "web")
    await store.messages.append(first.id, "customer", "hello")
    await store.messages.append(first.id, "agent", "hi, Ann here", sender_id=agent.id)
    await store.conversations.update(first.id, status="resolved")
    second = await store.conversations.active(c.id, "web")
    await store.messages.append(second.id, "customer", "me again")
    await store.messages.append(
        (await store.conversations.active(c.id, "telegram")).id, "customer", "elsewhere"
    )
    read = await store.messages.on_channel(c.id, "web")
    assert [(m.text, name) for m, name in read] == [
        ("hello", None),
        ("hi, Ann here", "Ann"),
        ("me again", None),
    ]
    after = await store.messages.on_channel(c.id, "web", after_id=read[0][0].id, limit=1)
    assert [m.text for m, _ in after] == ["hi, Ann here"]


# -- turns ----------------------------------------------------------------------------------------
async def test_begin_turn_creates_customer_and_conversation_then_reuses_them(
    store: SqlStore,
) -> None:
    first = await store.turns.begin("web", "bt", "hello", external_id="m1")
    assert first.inbound.seq == 1 and not first.inbound.duplicate
    assert first.conversation.last_seq == 1 and first.conversation.status == "bot"
    second = await store.turns.begin("web", "bt", "again", external_id="m2")
    assert second.customer.id == first.customer.id
    assert second.conversation.id == first.conversation.id and second.inbound.seq == 2
    # The same customer on another channel has a conversation of its own.
    other = await store.turns.begin("telegram", "bt", "hi")
    assert other.conversation.id != first.conversation.id
    assert [m.text for m in await store.messages.of(first.conversation.id)] == ["hello", "again"]


async def test_begin_turn_stores_a_redelivered_message_once(store: SqlStore) -> None:
    a = await store.turns.begin("web", "dup", "where is my parcel", external_id="x-1")
    b = await store.turns.begin("web", "dup", "where is my parcel", external_id="x-1")
    assert b.inbound.duplicate and b.inbound.id == a.inbound.id
    assert len(await store.messages.of(a.conversation.id)) == 1


async def test_begin_turn_opens_a_new_conversation_after_the_last_was_resolved(
    store: SqlStore,
) -> None:
    first = await store.turns.begin("web", "later", "hi")
    await store.conversations.update(first.conversation.id, status="resolved")
    second = await store.turns.begin("web", "later", "hi again")
    assert second.conversation.id != first.conversation.id
    assert second.customer.id == first.customer.id and second.inbound.seq == 1


async def test_concurrent_first_turns_of_one_sender_make_one_customer(store: SqlStore) -> None:
    starts = await asyncio.gather(
        *(store.turns.begin("web", "race", f"line {i}", external_id=f"r{i}") for i in range(8))
    )
    assert len({s.customer.id for s in starts}) == 1
    assert len({s.conversation.id for s in starts}) == 1
    assert sorted(s.inbound.seq for s in starts) == list(range(1, 9))


async def test_finish_turn_numbers_the_replies_after_the_inbound_message(store: SqlStore) -> None:
    start = await store.turns.begin("web", "fin", "refund?")
    stored = await store.turns.finish(
        start.conversation.id,
        start.inbound.id,
        {"intent": {"name": "question_refund"}},
        [{"text": "one", "kb_article": {"id": "refund-policy", "version": 3}}, {"text": "two"}],
        failed_turns=0,
        language="en",
    )
    assert [(m.seq, m.text) for m in stored] == [(2, "one"), (3, "two")]
    transcript = await store.messages.of(start.conversation.id)
    assert [m.sender for m in transcript] == ["customer", "bot", "bot"]
    assert transcript[0].parse == {"intent": {"name": "question_refund"}}
    assert (transcript[1].kb_article_id, transcript[1].kb_article_version) == ("refund-policy", 3)
    conv = await store.conversations.get(start.conversation.id)
    assert conv.last_seq == 3 and conv.language == "en"


async def test_finish_turn_refuses_fields_a_turn_may_not_set(store: SqlStore) -> None:
    start = await store.turns.begin("web", "fields", "hi")
    with pytest.raises(InputError, match="closed_at"):
        await store.turns.finish(start.conversation.id, start.inbound.id, {}, [], closed_at=None)


# -- tickets --------------------------------------------------------------------------------------
async def test_tickets_are_numbered_and_keep_their_history(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "tix")
    first = await store.tickets.create(c.id, "Screen flickers")
    second = await store.tickets.create(c.id, "Refund missing")
    assert first.number.startswith("T-") and int(second.number[2:]) == int(first.number[2:]) + 1
    await store.tickets.set_status(first.number, "in_progress", note="checking", actor="agent-1")
    ticket = await store.tickets.get(first.number.lower())
    assert ticket.status == "in_progress"
    assert [e.status for e in ticket.history] == ["new", "in_progress"]
    with pytest.raises(InputError, match="ticket status"):
        await store.tickets.set_status(first.number, "lost")
    with pytest.raises(NotFoundError):
        await store.tickets.get("T-9999999")
    listed = [t.number for t in await store.tickets.of_customer(c.id)]
    assert listed == [first.number, second.number]


# -- agents ---------------------------------------------------------------------------------------
async def test_agents_are_added_once_read_and_updated(store: SqlStore) -> None:
    kim = await store.agents.add("kim", "Kim", skills=["billing"])
    assert (kim.role, kim.languages, kim.max_concurrent, kim.status) == (
        "agent",
        ("zh", "en"),
        3,
        "offline",
    )
    with pytest.raises(InputError, match="exists already"):
        await store.agents.add("kim", "Another Kim")
    await store.agents.add("abe", "Abe")
    online = await store.agents.update("kim", status="online", max_concurrent=5)
    assert (online.status, online.max_concurrent) == ("online", 5)
    assert await store.agents.get("kim") == online
    assert [a.username for a in await store.agents.all()] == ["abe", "kim"]
    with pytest.raises(InputError, match="unknown agent field"):
        await store.agents.update("kim", password="x")
    with pytest.raises(NotFoundError):
        await store.agents.get("nobody")


# -- the queue ------------------------------------------------------------------------------------
async def test_queue_orders_by_priority_then_arrival(store: SqlStore) -> None:
    convs = []
    for name in ("a", "b", "c"):
        c = await store.customers.for_identity("web", name)
        convs.append(await store.conversations.active(c.id, "web"))
    await store.handoffs.queue(convs[0].id, "failed_turns", "pre_sales", priority=0)
    await store.handoffs.queue(convs[1].id, "explicit_request", "pre_sales", priority=5)
    await store.handoffs.queue(convs[2].id, "failed_turns", "pre_sales", priority=0)
    order = [h.conversation_id for h in await store.handoffs.queued()]
    assert order == [convs[1].id, convs[0].id, convs[2].id]
    assert (await store.conversations.get(convs[0].id)).status == "queued"
    views = await store.handoffs.views()
    assert [v["conversation_id"] for v in views] == order
    assert views[0]["channel"] == "web" and views[0]["status"] == "queued"


async def test_a_handoff_goes_to_exactly_one_agent(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "h")
    conv = await store.conversations.active(c.id, "web")
    handoff = await store.handoffs.queue(conv.id, "explicit_request", "after_sales")
    agents = [await store.agents.add(f"agent{i}", f"Agent {i}", status="online") for i in range(6)]
    wins = await asyncio.gather(*(store.handoffs.assign(handoff.id, a.id) for a in agents))
    assert sum(wins) == 1
    winner = agents[wins.index(True)]
    assert (await store.handoffs.get(handoff.id)).assigned_to == winner.id
    assert (await store.conversations.get(conv.id)).status == "assigned"
    assert await store.handoffs.agent_loads() == {winner.id: 1}
    mine = await store.handoffs.views(statuses=("assigned",), assigned_to=winner.id)
    assert [v["assigned_to"] for v in mine] == [winner.username]


async def test_no_agent_exceeds_their_limit_under_concurrency(store: SqlStore) -> None:
    agent = await store.agents.add("solo", "Solo", max_concurrent=2, status="online")
    handoffs = []
    for i in range(6):
        c = await store.customers.for_identity("web", f"q{i}")
        conv = await store.conversations.active(c.id, "web")
        handoffs.append(await store.handoffs.queue(conv.id, "failed_turns", "billing"))
    wins = await asyncio.gather(*(store.handoffs.assign(h.id, agent.id) for h in handoffs))
    assert sum(wins) == 2


async def test_a_pending_handoff_joins_the_queue_when_its_turn_finishes(store: SqlStore) -> None:
    start = await store.turns.begin("web", "pend", "转人工")
    cid = start.conversation.id
    await store.handoffs.queue(cid, "explicit_request", "after_sales", pending=True)
    # A turn that died left one: queueing again replaces it, never doubles it.
    await store.handoffs.queue(cid, "explicit_request", "after_sales", pending=True)
    assert await store.handoffs.queued() == [] and await store.handoffs.active(cid) is None
    await store.turns.finish(cid, start.inbound.id, {}, [{"text": "排队中"}])
    [queued] = await store.handoffs.queued()
    assert queued.conversation_id == cid
    assert await store.handoffs.active(cid) == queued
    assert (await store.conversations.get(cid)).status == "queued"


async def test_a_queue_position_is_told_once_and_handoffs_update(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "pos")
    conv = await store.conversations.active(c.id, "web")
    h = await store.handoffs.queue(conv.id, "failed_turns", "billing")
    told = await asyncio.gather(*(store.handoffs.tell_position(h.id, 3) for _ in range(4)))
    assert sum(told) == 1
    assert await store.handoffs.tell_position(h.id, 2)
    await store.handoffs.update(h.id, status="returned", priority=9)
    again = await store.handoffs.get(h.id)
    assert (again.status, again.priority, again.position_told) == ("returned", 9, 2)
    assert not await store.handoffs.tell_position(h.id, 1)  # it left the queue
    with pytest.raises(InputError, match="unknown handoff field"):
        await store.handoffs.update(h.id, reason="x")
    with pytest.raises(NotFoundError):
        await store.handoffs.get(999_999)


async def test_an_agent_sees_customers_waiting_in_their_skills_or_held_by_them(
    store: SqlStore,
) -> None:
    billing = await store.agents.add("bill", "Bill", skills=["billing"], status="online")
    sales = await store.agents.add("sal", "Sal", skills=["pre_sales"], status="online")
    c = await store.customers.for_identity("web", "seen")
    conv = await store.conversations.active(c.id, "web")
    h = await store.handoffs.queue(conv.id, "failed_turns", "billing")
    assert await store.handoffs.agent_may_see(billing, c.id)
    assert not await store.handoffs.agent_may_see(sales, c.id)
    await store.handoffs.update(h.id, skill_group="pre_sales")
    assert await store.handoffs.agent_may_see(sales, c.id)
    assert await store.handoffs.assign(h.id, sales.id)
    await store.handoffs.update(h.id, status="resolved")
    assert await store.handoffs.agent_may_see(sales, c.id)  # has held one
    assert not await store.handoffs.agent_may_see(billing, c.id)


# -- notes and ratings ----------------------------------------------------------------------------
async def test_private_notes_stay_apart_from_the_transcript(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "n")
    conv = await store.conversations.active(c.id, "web")
    agent = await store.agents.add("nia", "Nia")
    await store.notes.add(conv.id, agent.id, "asked for a callback after 18:00")
    assert [n.text for n in await store.notes.of(conv.id)] == ["asked for a callback after 18:00"]
    assert await store.messages.of(conv.id) == []
    with pytest.raises(InputError, match="empty"):
        await store.notes.add(conv.id, agent.id, "  ")
    with pytest.raises(NotFoundError):
        await store.notes.add("nope", agent.id, "x")


async def test_ratings_are_one_to_five_once_per_conversation(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "r")
    conv = await store.conversations.active(c.id, "web")
    with pytest.raises(InputError, match="1 to 5"):
        await store.ratings.add(conv.id, 6)
    with pytest.raises(InputError, match="1 to 5"):
        await store.ratings.add(conv.id, True)
    rating = await store.ratings.add(conv.id, 5, "很满意")
    assert rating.score == 5 and rating.created_at.tzinfo is not None
    with pytest.raises(InputError, match="rated already"):
        await store.ratings.add(conv.id, 4)


async def test_only_a_resolved_unrated_conversation_awaits_a_rating(store: SqlStore) -> None:
    c = await store.customers.for_identity("web", "await")
    assert await store.ratings.awaiting(c.id, "web") is None
    conv = await store.conversations.active(c.id, "web")
    assert await store.ratings.awaiting(c.id, "web") is None  # still open
    await store.conversations.update(conv.id, status="resolved")
    waiting = await store.ratings.awaiting(c.id, "web")
    assert waiting is not None and waiting.id == conv.id
    await store.ratings.add(conv.id, 4)
    assert await store.ratings.awaiting(c.id, "web") is None


# -- accounts (console logins) ---------------------------------------------------------------------
async def test_a_password_hash_is_set_and_read_back_and_ends_the_agents_sessions(
    store: SqlStore,
) -> None:
    amy = await store.agents.add("amy", "Amy")
    assert await store.accounts.credentials("nobody") is None
    fresh = await store.accounts.credentials("amy")
    assert fresh == Credentials(amy, None, None)
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    await store.accounts.start_session(amy.id, "d1", "csrf-1", now, now + timedelta(hours=1))
    await store.accounts.set_password_hash("amy", "$argon2id$hash")
    found = await store.accounts.credentials("amy")
    assert found is not None and found.password_hash == "$argon2id$hash"
    assert await store.accounts.session("d1", now) is None  # a new password logs everyone out
    with pytest.raises(NotFoundError):
        await store.accounts.set_password_hash("nobody", "$argon2id$hash")


async def test_failed_logins_lock_the_account_and_a_login_clears_them(store: SqlStore) -> None:
    amy = await store.agents.add("amy", "Amy")
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    lockout = timedelta(minutes=15)
    for _ in range(2):
        await store.accounts.record_failure(amy.id, now, max_failures=3, lockout=lockout)
    found = await store.accounts.credentials("amy")
    assert found is not None and found.locked_until is None
    await store.accounts.record_failure(amy.id, now, max_failures=3, lockout=lockout)
    found = await store.accounts.credentials("amy")
    assert found is not None and found.locked_until == now + lockout
    # The count started again: two more failures do not lock it further.
    later = now + timedelta(minutes=20)
    for _ in range(2):
        await store.accounts.record_failure(amy.id, later, max_failures=3, lockout=lockout)
    await store.accounts.start_session(amy.id, "d1", "c", later, later + timedelta(hours=1))
    await store.accounts.record_failure(amy.id, later, max_failures=3, lockout=lockout)
    found = await store.accounts.credentials("amy")
    assert found is not None and found.locked_until is None  # the login cleared both


async def test_a_session_lives_until_it_expires_or_ends(store: SqlStore) -> None:
    amy = await store.agents.add("amy", "Amy")
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    hour = timedelta(hours=1)
    await store.accounts.start_session(amy.id, "d1", "csrf-1", now, now + hour)
    await store.accounts.start_session(amy.id, "d2", "csrf-2", now, now + hour)
    assert await store.accounts.session("d1", now) == (amy, "csrf-1")
    assert await store.accounts.session("d1", now + hour) is None  # expired
    assert await store.accounts.session("nope", now) is None
    await store.accounts.end_session("d2")
    await store.accounts.end_session("d2")  # twice: nothing to end
    assert await store.accounts.session("d2", now) is None
    # A later login drops the expired sessions it finds.
    await store.accounts.start_session(amy.id, "d3", "csrf-3", now + 2 * hour, now + 3 * hour)
    assert await store.accounts.session("d1", now) is None
    assert await store.accounts.session("d3", now + 2 * hour) == (amy, "csrf-3")
