"""Issue 20 on the store and the handoff service, on SQLite and PostgreSQL: the queue's
last-message preview (clipped, system notices skipped, one query however long the list),
the holder's display name, transfer to a named colleague (recorded like a group transfer,
told to the customer in their language, refused when the colleague is away or full, and
atomic when two transfers race for the last seat), and the stable error codes the service
refuses with."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.dialogue.responses import Responses
from bot.store.sql_store import SqlStore
from handoff.service import HandoffError, HandoffService

REPO = Path(__file__).resolve().parents[2]


def _service(store: SqlStore) -> HandoffService:
    return HandoffService(store, Responses.load(REPO / "responses.yml", seed=0), handle_minutes=4)


async def _queued(store: SqlStore, name: str, language: str = "zh", text: str = "转人工") -> str:
    start = await store.turns.begin("web", name, text)
    await store.conversations.update(start.conversation.id, language=language)
    await store.handoffs.queue(start.conversation.id, "explicit_request", "after_sales")
    return start.conversation.id


def _count_statements(store: SqlStore) -> tuple[list[str], Any]:
    """Every SQL statement the store runs from now on (and the engine to stop listening on)."""
    seen: list[str] = []
    engine: Any = store.db.engine  # type: ignore[attr-defined]
    engine = getattr(engine, "sync_engine", engine)  # PostgreSQL's async engine

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    return seen, (engine, note)


async def test_queue_items_preview_the_last_message_in_one_query(store: SqlStore) -> None:
    long = "我的订单 20240101 " + "一直没有发货，" * 40
    first = await _queued(store, "preview-a", text=long)
    await _queued(store, "preview-b", text="hello there")
    # A queue notice (a system message) after the customer's words is not the preview.
    await store.messages.append(first, "system", "您前面还有 1 位", payload={"event": "x"})

    items = {i["conversation_id"]: i for i in await store.handoffs.views()}
    preview = items[first]["last_message"]
    assert preview["sender"] == "customer"
    assert len(preview["text"]) == 120 and preview["text"].endswith("…")
    assert preview["text"].startswith("我的订单 20240101 一直没有发货")
    assert preview["at"]
    assert items[first]["assigned_to_name"] is None

    seen, (engine, note) = _count_statements(store)
    try:
        await store.handoffs.views()
        few = len(seen)
        for i in range(6):
            await _queued(store, f"preview-more-{i}")
        seen.clear()
        views = await store.handoffs.views()
        many = len(seen)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert len(views) == 8 and all(v["last_message"] for v in views)
    assert many == few  # not one query per item


async def test_transfer_to_a_named_colleague(store: SqlStore) -> None:
    service = _service(store)
    await store.agents.add("amy", "Amy", skills=["after_sales"], status="online")
    await store.agents.add("bob", "鲍勃 Bob", skills=["billing"], status="online")
    await store.agents.add("cat", "Cat", skills=["billing"], status="away")
    zh = await _queued(store, "named-zh")
    en = await _queued(store, "named-en", language="en")
    for cid in (zh, en):
        await service.claim(cid, "amy")

    moved = await service.transfer_to_agent(zh, "bob")
    bob = await store.agents.get("bob")
    assert moved.status == "assigned" and moved.assigned_to == bob.id
    assert moved.reason == "transfer" and moved.skill_group == "after_sales"
    assert (await store.conversations.get(zh)).status == "assigned"
    mine = await store.handoffs.views(statuses=("assigned",), assigned_to=bob.id)
    assert [i["conversation_id"] for i in mine] == [zh]
    assert mine[0]["assigned_to_name"] == "鲍勃 Bob"
    told = (await store.messages.of(zh))[-1]
    assert told.sender == "system" and "鲍勃 Bob" in told.text and "转接" in told.text
    assert told.payload == {"event": "transferred_to_agent", "agent": "鲍勃 Bob"}

    # Amy no longer holds it; an away colleague is refused, and nothing changes then.
    with pytest.raises(HandoffError) as refused:
        await service.send(zh, "amy", "still here?")
    assert refused.value.error_code == "not_holder"
    with pytest.raises(HandoffError) as away:
        await service.transfer_to_agent(en, "cat")
    assert away.value.error_code == "agent_unavailable"
    held = await store.handoffs.active(en)
    assert held is not None and held.assigned_to == (await store.agents.get("amy")).id

    await service.transfer_to_agent(en, "bob")
    told_en = (await store.messages.of(en))[-1]
    assert "鲍勃 Bob" in told_en.text and "colleague" in told_en.text


async def test_two_transfers_race_for_a_colleagues_last_seat(store: SqlStore) -> None:
    service = _service(store)
    await store.agents.add("amy", "Amy", skills=["after_sales"], max_concurrent=5, status="online")
    await store.agents.add("dan", "Dan", skills=["after_sales"], max_concurrent=1, status="online")
    convs = [await _queued(store, f"race-{i}") for i in range(2)]
    for cid in convs:
        await service.claim(cid, "amy")
    results = await asyncio.gather(
        *(service.transfer_to_agent(cid, "dan") for cid in convs), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, HandoffError)]
    assert len(refused) == 1 and refused[0].error_code == "agent_unavailable"
    dan = await store.agents.get("dan")
    assert (await store.handoffs.agent_loads()).get(dan.id) == 1


async def test_the_service_refuses_with_stable_codes(store: SqlStore) -> None:
    service = _service(store)
    await store.agents.add("amy", "Amy", skills=["after_sales"], max_concurrent=1, status="online")
    await store.agents.add("bob", "Bob", skills=["after_sales"], status="online")
    one, two = await _queued(store, "codes-1"), await _queued(store, "codes-2")
    await service.claim(one, "amy")

    async def code(action: Any) -> str:
        with pytest.raises(HandoffError) as caught:
            await action
        return caught.value.error_code

    assert await code(service.claim(one, "bob")) == "already_claimed"
    assert await code(service.claim(two, "amy")) == "at_capacity"  # her one seat is taken
    assert await code(service.send(one, "bob", "hi")) == "not_holder"
    await service.return_to_bot(two)
    assert await code(service.send(two, "amy", "hi")) == "returned"
    await service.resolve(one)
    assert await code(service.send(one, "amy", "hi")) == "resolved"
