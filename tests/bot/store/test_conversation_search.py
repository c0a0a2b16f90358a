"""Searching past conversations (bot/store/conversation_search.py) on SQLite and PostgreSQL: the
words found in Chinese, English and both, grouped per conversation with a snippet; what is never
indexed; indexing that resumes where it stopped; paging and ranking."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from bot import clock
from bot.errors import InputError
from bot.store import conversation_search
from bot.store.conversation_search import PG_SETTLE, BadCursorError, ConversationSearch
from bot.store.records import ConversationRecord
from bot.store.search_terms import index_terms
from bot.store.sql_store import SqlStore


async def _conversation(store: SqlStore, who: str, *lines: tuple[str, str]) -> str:
    customer = await store.customers.for_identity("web", who)
    await store.customers.update(customer.id, name=who.title())
    conv = await store.conversations.active(customer.id, "web")
    for sender, said in lines:
        payload: dict[str, Any] = {}
        if sender == "internal":
            sender, payload = "agent", {"internal": True}
        await store.messages.append(conv.id, sender, said, payload=payload)
    await store.conversations.update(conv.id, status="closed", closed_at=clock.now())
    return conv.id


async def _indexed_ids(store: SqlStore) -> set[int]:
    column = "rowid" if store.db.dialect == "sqlite" else "message_id"
    rows = await store.db.run(
        lambda s: s.execute(text(f"SELECT {column} FROM message_search")).scalars().all()
    )
    return {int(r) for r in rows}


async def _cursor(store: SqlStore) -> int:
    return int(
        await store.db.run(
            lambda s: s.execute(text("SELECT last_id FROM search_cursors")).scalar_one()
        )
    )


async def test_chinese_english_and_mixed_queries_find_their_conversations(
    store: SqlStore,
) -> None:
    search = store.conversation_search
    earbuds = await _conversation(
        store,
        "lin",
        ("customer", "我的蓝牙耳机连不上了，订单号202312345678"),
        ("bot", "请先把耳机放回充电盒再试一次"),
        ("agent", "Amy here: a Refund for that order is on its way"),
        ("customer", "iPhone 15 的屏幕碎了，I want a refund"),
    )
    screen = await _conversation(
        store,
        "joe",
        ("customer", "My screen is cracked and I want a refund"),
        ("customer", "我要退款"),
    )

    zh = await search.search("蓝牙")
    assert [h.conversation_id for h in zh.results] == [earbuds]
    hit = zh.results[0]
    assert "蓝牙" in hit.snippet and hit.customer_name == "Lin" and hit.channel == "web"
    assert hit.status == "closed" and hit.closed_at is not None and hit.sender == "customer"

    en = await search.search("REFUND")  # case does not matter
    assert {h.conversation_id for h in en.results} == {earbuds, screen}
    assert {h.conversation_id: h.matches for h in en.results} == {earbuds: 2, screen: 1}
    assert "refund" in en.terms

    # Both words in one message: only that message's conversation.
    mixed = await search.search("屏幕 refund")
    assert [h.conversation_id for h in mixed.results] == [earbuds]
    assert "屏幕" in mixed.results[0].snippet and mixed.results[0].seq == 4

    # Segmented differently from the message (我要 | 退款): found through the bigrams.
    assert [h.conversation_id for h in (await search.search("要退款")).results] == [screen]
    # An order number, and a word of the bot's reply.
    assert [h.conversation_id for h in (await search.search("202312345678")).results] == [earbuds]
    assert [h.conversation_id for h in (await search.search("充电盒")).results] == [earbuds]
    assert (await search.search("warranty")).results == []
    with pytest.raises(InputError):
        await search.search("？！...")


async def test_system_messages_and_internal_notes_never_enter_the_index(
    store: SqlStore,
) -> None:
    cid = await _conversation(
        store,
        "ann",
        ("customer", "the charger is broken"),
        ("system", "charger escalation to supervisor"),
        ("internal", "charger: customer is a reseller, be careful"),
    )
    await store.conversation_search.index_pending()
    messages = await store.messages.of(cid)
    assert await _indexed_ids(store) == {messages[0].id}
    found = await store.conversation_search.search("charger")
    assert [h.matches for h in found.results] == [1]
    assert (await store.conversation_search.search("reseller")).results == []
    assert (await store.conversation_search.search("supervisor")).results == []


async def test_indexing_resumes_from_its_cursor_and_a_search_catches_up_first(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await _conversation(store, "kim", ("customer", "parcel never arrived"))
    search = store.conversation_search
    assert await search.index_pending() == 1
    tokenized: list[str] = []

    def counting(said: str) -> str:
        tokenized.append(said)
        return index_terms(said)

    monkeypatch.setattr(conversation_search, "index_terms", counting)
    # Read again on PostgreSQL while too fresh for the cursor, but never tokenized twice.
    assert await search.index_pending() == (0 if store.db.dialect == "sqlite" else 1)
    assert tokenized == []
    # A new process (a restart) starts from the stored cursor, not from the beginning.
    restarted = ConversationSearch(store.db, store.settings)
    if store.db.dialect == "sqlite":
        assert await restarted.index_pending() == 0
        assert await _cursor(store) == (await store.messages.of(first))[0].id
    else:  # too fresh to be sure no lower id is still committing: read again, idempotently
        assert await _cursor(store) == 0
        assert await restarted.index_pending() == 1
        with clock.use_clock(lambda: clock.real_now() + PG_SETTLE + timedelta(seconds=1)):
            await restarted.index_pending()
        assert await _cursor(store) == (await store.messages.of(first))[0].id
        assert await restarted.index_pending() == 0
    second = await _conversation(store, "lee", ("agent", "your parcel is at the depot"))
    # Nobody ran the indexer: the search itself catches up before answering.
    found = await restarted.search("parcel")
    assert {h.conversation_id for h in found.results} == {first, second}
    assert len(await _indexed_ids(store)) == 2  # each message once, however often it was read


async def test_pages_follow_the_cursor_without_repeats_and_respect_allow(
    store: SqlStore,
) -> None:
    ids = [
        await _conversation(store, f"c{i:02d}", ("customer", f"warranty question number {i}"))
        for i in range(23)
    ]
    search = store.conversation_search
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await search.search("warranty", limit=10, before=cursor)
        pages += 1
        seen += [h.conversation_id for h in page.results]
        scores = [h.score for h in page.results]
        assert scores == sorted(scores, reverse=True)
        cursor = page.next
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 23 and set(seen) == set(ids)
    # A conversation added meanwhile does not shift the pages of a search already under way.
    first = await search.search("warranty", limit=10)
    await _conversation(store, "late", ("customer", "warranty again"))
    assert first.next is not None
    rest = await search.search("warranty", limit=50, before=first.next)
    assert len(rest.results) == 13

    allowed = set(ids[::2])

    async def allow(conv: ConversationRecord) -> bool:
        return conv.id in allowed

    shown = await search.search("warranty", limit=50, allow=allow)
    assert {h.conversation_id for h in shown.results} == allowed
    with pytest.raises(BadCursorError):
        await search.search("warranty", before="not-a-cursor")


async def test_recent_conversations_rank_above_old_ones_with_the_same_words(
    store: SqlStore,
) -> None:
    old_time = clock.real_now() - timedelta(days=200)
    with clock.use_clock(lambda: old_time):
        old = await _conversation(store, "old", ("customer", "发票 invoice please"))
    new = await _conversation(store, "new", ("customer", "发票 invoice please"))
    found = await store.conversation_search.search("发票")
    assert [h.conversation_id for h in found.results] == [new, old]
    assert found.results[1].started_at < found.results[0].started_at


async def test_masked_contact_details_are_neither_indexed_nor_shown(store: SqlStore) -> None:
    store.settings.mask_transcripts = True
    await _conversation(
        store, "pat", ("customer", "mail me at pat.smith@example.com about returns")
    )
    found = await store.conversation_search.search("returns")
    assert "[email]" in found.results[0].snippet and "example" not in found.results[0].snippet
    assert (await store.conversation_search.search("example")).results == []


async def test_an_indexer_that_dies_mid_run_loses_nothing_and_the_loop_keeps_up(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conversation_search, "BATCH", 2)
    cid = await _conversation(store, "max", *[("customer", f"lamp number {i}") for i in range(5)])
    calls = 0

    def failing(said: str) -> str:
        nonlocal calls
        calls += 1
        if calls == 3:  # the second batch: its terms never reach the database
            raise RuntimeError("the process dies here")
        return index_terms(said)

    monkeypatch.setattr(conversation_search, "index_terms", failing)
    with pytest.raises(RuntimeError):
        await store.conversation_search.index_pending()
    assert len(await _indexed_ids(store)) == 2  # the first batch, committed with its cursor
    monkeypatch.setattr(conversation_search, "index_terms", index_terms)
    # A new process, its loop running: everything is indexed, the lost batch included.
    again = ConversationSearch(store.db, store.settings)
    loop = conversation_search.SearchIndexer(again, every_s=0.05)
    loop.start()
    try:
        other = await _conversation(store, "max2", ("agent", "the lamp is on its way"))
        for _ in range(200):
            if len(await _indexed_ids(store)) == 6:
                break
            await asyncio.sleep(0.05)
    finally:
        await loop.stop()
    assert len(await _indexed_ids(store)) == 6
    found = await again.search("lamp")
    assert {h.conversation_id: h.matches for h in found.results} == {cid: 5, other: 1}
