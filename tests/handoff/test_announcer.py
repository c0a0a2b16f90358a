"""Waiting customers hear of their new place in line when the queue moves, once per change."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.dialogue.responses import Responses
from bot.store.sql_store import SqlStore
from handoff.announcer import QueueAnnouncer
from handoff.service import HandoffError, HandoffService

REPO = Path(__file__).resolve().parents[2]


async def _waiting(store: SqlStore, announcer: QueueAnnouncer, name: str, **kw: object) -> str:
    """A customer queued for after-sales and told their first position, as the bot does."""
    start = await store.turns.begin("web", name, "转人工")
    await store.conversations.update(start.conversation.id, language="zh")
    h = await store.handoffs.queue(start.conversation.id, "explicit_request", "after_sales", **kw)  # type: ignore[arg-type]
    place = await announcer.place(h)
    await store.handoffs.tell_position(h.id, place.position)
    return start.conversation.id


async def _updates(store: SqlStore, conversation_id: str) -> list[int]:
    return [
        m.payload["position"]
        for m in await store.messages.of(conversation_id)
        if m.payload.get("event") == "queue_position"
    ]


async def test_a_claim_moves_everyone_behind_up_by_one(store: SqlStore) -> None:
    responses = Responses.load(REPO / "responses.yml", seed=0)
    service = HandoffService(store, responses, handle_minutes=4)
    convs = [await _waiting(store, service.announcer, f"c{i}") for i in range(3)]
    await store.agents.add("amy", "Amy", skills=["after_sales"], languages=["zh"], status="online")
    assert [await _updates(store, c) for c in convs] == [[], [], []]

    await service.claim(convs[0], "amy")
    assert await _updates(store, convs[1]) == [1]
    assert await _updates(store, convs[2]) == [2]
    update = (await store.messages.of(convs[2]))[-1]
    assert update.sender == "system" and "第 2 位" in update.text
    assert update.payload["wait_minutes"] == 8  # two ahead of the work, one agent, 4 min each
    # Nothing moved since: announcing again tells nobody anything.
    assert await service.announcer.announce() == 0


async def test_a_higher_priority_arrival_pushes_the_others_back(store: SqlStore) -> None:
    responses = Responses.load(REPO / "responses.yml", seed=0)
    announcer = QueueAnnouncer(store, responses)
    first = await _waiting(store, announcer, "early")
    urgent = await _waiting(store, announcer, "urgent", priority=5)
    assert await announcer.announce("after_sales") == 1
    assert await _updates(store, first) == [2]
    assert await _updates(store, urgent) == []  # told 1 when queued; still 1


async def test_concurrent_announcers_send_each_update_once(store: SqlStore) -> None:
    responses = Responses.load(REPO / "responses.yml", seed=0)
    announcer = QueueAnnouncer(store, responses)
    convs = [await _waiting(store, announcer, f"r{i}") for i in range(4)]
    head = await store.handoffs.active(convs[0])
    assert head is not None
    await store.handoffs.update(head.id, status="returned")
    told = await asyncio.gather(*(announcer.announce() for _ in range(4)))
    assert sum(told) == 3
    assert [await _updates(store, c) for c in convs[1:]] == [[1], [2], [3]]


async def test_a_transfer_tells_the_customer_their_place_in_the_new_group(
    store: SqlStore,
) -> None:
    responses = Responses.load(REPO / "responses.yml", seed=0)
    service = HandoffService(store, responses)
    conv = await _waiting(store, service.announcer, "moved")
    await service.transfer(conv, "billing")
    msgs = await store.messages.of(conv)
    assert msgs[-1].payload["event"] == "queue_position"
    assert msgs[-1].payload["skill_group"] == "billing" and msgs[-1].payload["position"] == 1


async def test_a_handoff_joins_the_queue_only_with_the_reply_that_tells_the_customer(
    store: SqlStore,
) -> None:
    """While the bot's turn is still answering, no agent may claim the chat and no queue update
    may reach it: otherwise "Amy joined" is numbered before "You are number 1 in the queue"."""
    responses = Responses.load(REPO / "responses.yml", seed=0)
    service = HandoffService(store, responses, handle_minutes=4)
    await store.agents.add("amy", "Amy", skills=["after_sales"], languages=["zh"], status="online")
    ahead = await _waiting(store, service.announcer, "c0")
    start = await store.turns.begin("web", "c1", "转人工")
    cid = start.conversation.id
    h = await store.handoffs.queue(cid, "explicit_request", "after_sales", pending=True)
    place = await service.announcer.place(h)
    assert place.position == 2  # the place it will take: behind the one already waiting
    assert await store.handoffs.tell_position(h.id, place.position)

    assert [q.conversation_id for q in await store.handoffs.queued()] == [ahead]
    assert [v["conversation_id"] for v in await store.handoffs.views()] == [ahead]
    with pytest.raises(HandoffError):
        await service.claim(cid, "amy")  # not in the queue yet
    assert (await store.conversations.get(cid)).status == "bot"

    [reply] = await store.turns.finish(
        cid, start.inbound.id, {}, [{"text": "您前面还有 1 位"}], inbound_seq=start.inbound.seq
    )
    assert (await store.conversations.get(cid)).status == "queued"
    assert [q.conversation_id for q in await store.handoffs.queued()] == [ahead, cid]
    await service.claim(ahead, "amy")  # the queue moves: c1 is told it is next, after the reply
    stored = await store.messages.of(cid)
    updates = [m for m in stored if m.payload.get("event") == "queue_position"]
    assert [u.payload["position"] for u in updates] == [1] and updates[0].seq > reply.seq


async def test_a_pending_handoff_left_by_a_dead_turn_is_replaced_not_doubled(
    store: SqlStore,
) -> None:
    start = await store.turns.begin("web", "c1", "转人工")
    cid = start.conversation.id
    await store.handoffs.queue(cid, "explicit_request", "after_sales", pending=True)
    # The process died here; the turn runs again and queues once more.
    await store.handoffs.queue(cid, "explicit_request", "after_sales", pending=True)
    await store.turns.finish(cid, start.inbound.id, {}, [{"text": "排队中"}])
    assert len(await store.handoffs.queued()) == 1
