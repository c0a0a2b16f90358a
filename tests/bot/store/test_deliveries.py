"""The delivery ledger of pushed channels and the cross-channel link codes, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.store import models as m
from bot.store.sql_store import SqlStore


async def _conversation(store: SqlStore, channel: str, sender: str) -> str:
    start = await store.turns.begin(channel, sender, "hello")
    return start.conversation.id


async def test_outbound_messages_on_pushed_channels_get_a_delivery_and_others_do_not(
    store: SqlStore,
) -> None:
    tg = await _conversation(store, "telegram", "42")
    web = await _conversation(store, "web", "tok")
    await store.messages.append(tg, "bot", "hi on telegram")
    await store.messages.append(tg, "system", "for agents", payload={"internal": True})
    await store.messages.append(web, "bot", "hi on the web")
    d = store.deliveries
    assert [s.status for s in (await d.states(tg)).values()] == ["pending"]
    assert await d.states(web) == {}
    [due] = await d.claim_due("telegram")
    assert due.message.text == "hi on telegram" and due.recipient == "42"
    assert due.attempts == 1


async def test_one_conversation_goes_out_in_order_and_a_claim_is_exclusive(
    store: SqlStore,
) -> None:
    a = await _conversation(store, "telegram", "1")
    b = await _conversation(store, "telegram", "2")
    for text in ("a1", "a2"):
        await store.messages.append(a, "bot", text)
    await store.messages.append(b, "bot", "b1")
    d = store.deliveries
    first = await d.claim_due("telegram")
    # Only the head of each conversation is due; both conversations at once.
    assert sorted(x.message.text for x in first) == ["a1", "b1"]
    # Claimed (leased): nobody else gets them, and a2 waits behind a1.
    assert await d.claim_due("telegram") == []
    a1 = next(x for x in first if x.message.text == "a1")
    await d.retry(a1.message.id, after_s=0, error="HTTP 500")
    again = await d.claim_due("telegram")
    assert [(x.message.text, x.attempts) for x in again] == [("a1", 2)]
    await d.sent(a1.message.id)
    assert [x.message.text for x in await d.claim_due("telegram")] == ["a2"]


async def test_an_expired_lease_makes_the_message_due_again(store: SqlStore) -> None:
    cid = await _conversation(store, "telegram", "7")
    await store.messages.append(cid, "bot", "once")
    d = store.deliveries
    [claimed] = await d.claim_due("telegram", lease_s=0.05)
    await asyncio.sleep(0.1)  # the claimer died without a word
    [again] = await d.claim_due("telegram")
    assert again.message.id == claimed.message.id and again.attempts == 2


async def test_a_passive_reply_and_a_sender_never_both_take_a_message(store: SqlStore) -> None:
    cid = await _conversation(store, "wechat", "openid-1")
    replies = await store.turns.finish(
        cid,
        (await store.messages.of(cid))[0].id,
        {},
        [{"text": "first"}, {"text": "second"}],
        hold_s=30,
    )
    d = store.deliveries
    assert await d.claim_due("wechat") == []  # held for the passive window
    taken = await d.claim_passive(cid, replies[0].seq)
    assert taken is not None and taken.text == "first"
    assert await d.claim_passive(cid, replies[0].seq) is None  # once
    await d.release(cid)
    [due] = await d.claim_due("wechat")
    assert due.message.text == "second"
    assert await d.claim_passive(cid, replies[1].seq) is None  # the sender has it
    states = await d.states(cid)
    assert states[replies[0].id].via == "passive" and states[replies[0].id].status == "sent"


async def test_the_window_counts_api_sends_since_the_customers_last_message(
    store: SqlStore,
) -> None:
    cid = await _conversation(store, "wechat", "openid-2")
    customer = (await store.conversations.get(cid)).customer_id
    d = store.deliveries
    for text in ("a", "b"):
        await store.messages.append(cid, "agent", text)
    for due in await d.claim_due("wechat"):
        await d.sent(due.message.id)
    for due in await d.claim_due("wechat"):
        await d.sent(due.message.id)
    last, used = await d.window(customer, "wechat")
    assert used == 2 and last is not None
    assert abs((datetime.now(UTC) - last).total_seconds()) < 60
    await asyncio.sleep(0.01)
    await store.turns.begin("wechat", "openid-2", "again")
    assert (await d.window(customer, "wechat"))[1] == 0  # a new message opens a new window


async def test_a_link_code_works_once_and_not_after_it_expires(store: SqlStore) -> None:
    customer = await store.customers.for_identity("web", "tok-9")
    codes = store.link_codes
    code, expires = await codes.issue(customer.id, minutes=5)
    assert expires > datetime.now(UTC)
    assert await codes.redeem("not-a-code") is None
    assert await codes.redeem(code) == customer.id
    assert await codes.redeem(code) is None
    old, _ = await codes.issue(customer.id)

    def expire(s: Session) -> None:
        s.execute(update(m.LinkCode).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        s.commit()

    await store.db.run(expire)
    assert await codes.redeem(old) is None


async def test_an_idle_bot_conversation_expires_and_a_queued_one_never_does(
    store: SqlStore,
) -> None:
    from bot.clock import SimulatedClock, use_clock

    store.settings.session_expiry = timedelta(minutes=60)
    clock = SimulatedClock(datetime(2026, 11, 3, 9, 0, tzinfo=UTC))
    with use_clock(clock):
        first = await store.turns.begin("web", "idle", "你好")
        clock.advance(59 * 60)
        same = await store.turns.begin("web", "idle", "还在吗")
        assert same.conversation.id == first.conversation.id
        quiet_since = clock.now()
        clock.advance(61 * 60)
        fresh = await store.turns.begin("web", "idle", "我又来了")
        assert fresh.conversation.id != first.conversation.id
        old = await store.conversations.get(first.conversation.id)
        assert old.status == "closed" and old.closed_at == quiet_since

        waiting = await store.turns.begin("web", "queued", "转人工")
        await store.handoffs.queue(waiting.conversation.id, "explicit_request", "after_sales")
        clock.advance(5 * 3600)  # a queue wait, however long, is not the end of a chat
        later = await store.turns.begin("web", "queued", "还要等多久")
        assert later.conversation.id == waiting.conversation.id
