"""store.proactive, store.proactive_outcomes and store.opt_outs (contract D3) on SQLite and
PostgreSQL: one row per (rule, customer, trigger), due rows claimed with a lease so two instances
never hold one row, each outcome recorded once, the look-ups caps and cool-downs read, opt-outs
for good, and the dashboard's figures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.clock import SimulatedClock, use_clock
from bot.errors import InputError
from bot.store.customer_events import CustomerEvent
from bot.store.proactive_ledger import ProactiveRecord
from bot.store.proactive_outcomes import awaiting_query
from bot.store.records import ConversationRecord, CustomerRecord
from bot.store.sql_store import SqlStore
from tests.bot.store.conftest import fresh_pg_database

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


async def _trigger(
    store: SqlStore, who: str, event_id: str = "e1", type: str = "cart_abandoned"
) -> tuple[CustomerRecord, CustomerEvent]:
    c = await store.customers.for_identity("web", who)
    event, _ = await store.customer_events.record("shop", f"{who}-{event_id}", type, c.id, {}, T0)
    return c, event


async def test_a_trigger_schedules_one_row_per_rule(store: SqlStore) -> None:
    c, e = await _trigger(store, "one-row")
    row, new = await store.proactive.schedule("cart_reminder", c.id, e.id, T0 + timedelta(hours=24))
    assert new
    assert (row.rule, row.customer_id, row.trigger_event_id, row.status) == (
        "cart_reminder",
        c.id,
        e.id,
        "scheduled",
    )
    assert row.due_at == T0 + timedelta(hours=24) and row.attempts == 0
    again, new_again = await store.proactive.schedule("cart_reminder", c.id, e.id, T0)
    assert not new_again and again == row  # the first due time stands
    other, new_other = await store.proactive.schedule("survey", c.id, e.id, T0)
    assert new_other and other.id != row.id
    with pytest.raises(InputError, match="time zone"):
        await store.proactive.schedule("x", c.id, e.id, T0.replace(tzinfo=None))


async def test_due_rows_are_claimed_with_a_lease_and_due_again_after_it(store: SqlStore) -> None:
    c, e = await _trigger(store, "lease")
    row, _ = await store.proactive.schedule("cart_reminder", c.id, e.id, T0 + timedelta(hours=1))
    assert await store.proactive.due(T0) == []  # not yet
    later = T0 + timedelta(hours=1)
    [claimed] = await store.proactive.due(later, lease_s=60)
    assert claimed.id == row.id and claimed.attempts == 1
    assert await store.proactive.due(later + timedelta(seconds=59)) == []  # held
    [again] = await store.proactive.due(later + timedelta(seconds=61))  # the claimer died
    assert again.id == row.id and again.attempts == 2
    assert await store.proactive.mark_sent(
        row.id, message_id=None, conversation_id=None, channel="web", at=later
    )
    assert await store.proactive.due(later + timedelta(days=1)) == []


async def test_due_uses_the_clock_by_default_and_keeps_the_oldest_first(store: SqlStore) -> None:
    c, e = await _trigger(store, "order")
    late, _ = await store.proactive.schedule("b", c.id, e.id, T0 + timedelta(minutes=2))
    early, _ = await store.proactive.schedule("a", c.id, e.id, T0 + timedelta(minutes=1))
    with use_clock(SimulatedClock(T0 + timedelta(minutes=5))):
        got = await store.proactive.due(limit=1)
        rest = await store.proactive.due()
    assert [r.id for r in got] == [early.id] and [r.id for r in rest] == [late.id]


@asynccontextmanager
async def _two_instances(backend: str, tmp_path: Path) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    if backend == "sqlite":
        url = "sqlite:///db/relaydesk.db"
        a = await SqlStore.open(url, base_dir=tmp_path)
        b = await SqlStore.open(url, base_dir=tmp_path)
        try:
            yield a, b
        finally:
            await a.close()
            await b.close()
        return
    async with fresh_pg_database() as pg:
        a = await SqlStore.open(pg)
        b = await SqlStore.open(pg)
        try:
            yield a, b
        finally:
            await a.close()
            await b.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_two_instances_claiming_at_once_never_hold_the_same_row(
    backend: str, tmp_path: Path
) -> None:
    async with _two_instances(backend, tmp_path) as (a, b):
        c = await a.customers.for_identity("web", "contended")
        ids = []
        for i in range(40):
            e, _ = await a.customer_events.record("shop", f"e{i}", "delivered", c.id, {}, T0)
            row, _ = await a.proactive.schedule("survey", c.id, e.id, T0)
            ids.append(row.id)
        held: list[int] = []
        for _ in range(10):  # rounds of six claimers at once, until every row is held
            claims = await asyncio.gather(
                *(inst.proactive.due(T0, limit=15) for inst in (a, b, a, b, a, b))
            )
            held += [r.id for batch in claims for r in batch]
            if len(held) >= len(ids):
                break
        assert len(held) == len(set(held))  # no row held twice
        assert sorted(held) == sorted(ids)
        assert await a.proactive.due(T0) == await b.proactive.due(T0) == []


async def test_each_outcome_is_recorded_once(store: SqlStore) -> None:
    c, e = await _trigger(store, "outcomes")
    conv = await store.conversations.active(c.id, "web")
    msg = await store.messages.append(conv.id, "bot", "您的购物车里还有风筝……")
    sent, _ = await store.proactive.schedule("cart_reminder", c.id, e.id, T0)
    at = T0 + timedelta(minutes=1)
    assert await store.proactive.mark_sent(
        sent.id, message_id=msg.id, conversation_id=conv.id, channel="web", at=at
    )
    assert not await store.proactive.mark_sent(
        sent.id, message_id=msg.id, conversation_id=conv.id, channel="web"
    )
    assert not await store.proactive.suppress(sent.id, "cap")  # settled already
    assert await store.proactive.by_message(msg.id) == await store.proactive.get(sent.id)
    for outcome in ("delivered", "replied"):
        assert [r.id for r in await store.proactive_outcomes.awaiting(outcome, T0)] == [sent.id]
    assert [
        r.id
        for r in await store.proactive_outcomes.awaiting_conversion(c.id, ["cart_reminder"], at)
    ] == [sent.id]
    for mark in (
        store.proactive_outcomes.mark_delivered,
        store.proactive_outcomes.mark_replied,
        store.proactive_outcomes.mark_converted,
    ):
        assert await mark(sent.id, at + timedelta(minutes=5))
        assert not await mark(sent.id, at + timedelta(minutes=9))  # the first time stands
    row = await store.proactive.get(sent.id)
    assert row is not None
    assert (row.status, row.sent_at, row.message_id, row.conversation_id, row.channel) == (
        "sent",
        at,
        msg.id,
        conv.id,
        "web",
    )
    assert row.delivered_at == row.replied_at == row.converted_at == at + timedelta(minutes=5)
    assert await store.proactive_outcomes.awaiting("delivered", T0) == []
    assert await store.proactive_outcomes.awaiting("replied", T0) == []
    assert await store.proactive_outcomes.awaiting_conversion(c.id, ["cart_reminder"], at) == []

    e2, _ = await store.customer_events.record("shop", "o2", "cart_abandoned", c.id, {}, T0)
    cut, _ = await store.proactive.schedule("cart_reminder", c.id, e2.id, T0)
    assert await store.proactive.suppress(cut.id, "cap", at=at)
    assert not await store.proactive.cancel(cut.id, "expired")
    assert not await store.proactive_outcomes.mark_delivered(cut.id)  # only a sent row is delivered
    got = await store.proactive.get(cut.id)
    assert got is not None and (got.status, got.reason, got.decided_at) == ("suppressed", "cap", at)
    with pytest.raises(InputError, match="unknown proactive reason 'bored'"):
        await store.proactive.suppress(cut.id, "bored")


async def _sent(
    store: SqlStore, c: CustomerRecord, n: int, at: datetime, conv: ConversationRecord
) -> ProactiveRecord:
    """Row `n` to customer `c`, its message stored in `conv` and sent at `at`."""
    e, _ = await store.customer_events.record("shop", f"{c.id}-s{n}", "x", c.id, {}, T0)
    row, _ = await store.proactive.schedule("cart_reminder", c.id, e.id, at)
    with use_clock(SimulatedClock(at)):
        msg = await store.messages.append(conv.id, "bot", f"nudge {n}")
    assert await store.proactive.mark_sent(
        row.id, message_id=msg.id, conversation_id=conv.id, channel=conv.channel, at=at
    )
    got = await store.proactive.get(row.id)
    assert got is not None
    return got


async def test_the_rows_awaiting_an_outcome_come_a_page_at_a_time_oldest_first(
    store: SqlStore,
) -> None:
    c, _ = await _trigger(store, "paged")
    conv = await store.conversations.active(c.id, "telegram")
    rows = [await _sent(store, c, n, T0 + timedelta(minutes=n % 3), conv) for n in range(7)]
    in_order = sorted(rows, key=lambda r: (r.sent_at or T0, r.id))
    got: list[ProactiveRecord] = []
    after: tuple[datetime, int] | None = None
    while page := await store.proactive_outcomes.awaiting("delivered", T0, after=after, limit=3):
        assert len(page) <= 3
        got += page
        after = (page[-1].sent_at or T0, page[-1].id)
    assert [r.id for r in got] == [r.id for r in in_order]
    assert [
        r.id for r in await store.proactive_outcomes.awaiting("replied", T0 + timedelta(minutes=2))
    ] == [
        r.id for r in in_order if r.sent_at == T0 + timedelta(minutes=2)
    ]  # sent before `since`: left out
    marked = {in_order[0].id: T0 + timedelta(hours=1), in_order[1].id: T0 + timedelta(hours=1)}
    assert await store.proactive_outcomes.mark_outcomes("delivered", marked) == 2
    assert await store.proactive_outcomes.mark_outcomes("delivered", marked) == 0  # recorded once
    left = await store.proactive_outcomes.awaiting("delivered", T0)
    assert [r.id for r in left] == [r.id for r in in_order[2:]]
    assert len(await store.proactive_outcomes.awaiting("replied", T0)) == 7  # outcomes apart
    with pytest.raises(InputError, match="unknown followed outcome"):
        await store.proactive_outcomes.awaiting("converted", T0)


@pytest.mark.parametrize("outcome", ["delivered", "replied"])
async def test_the_waiting_rows_are_read_from_their_own_partial_index(
    store: SqlStore, outcome: str
) -> None:
    """No sort and no scan of every sent row: the rows still waiting for the outcome, in order,
    from the partial index of exactly those rows, on either database."""
    index = {"delivered": "undelivered", "replied": "unreplied"}[outcome]

    def plan(s: Session) -> str:
        dialect = s.get_bind().dialect
        query = awaiting_query(dialect.name, outcome, T0, (T0, 3), 500)
        sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        if dialect.name == "sqlite":
            return " ".join(str(r[-1]) for r in s.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
        s.execute(text("SET LOCAL enable_seqscan = off"))  # an empty table: any plan is cheap
        return " ".join(str(r[0]) for r in s.execute(text(f"EXPLAIN {sql}")))

    got = await store.db.run(plan)
    assert f"ix_proactive_messages_{index}" in got
    assert "TEMP B-TREE" not in got and "Sort" not in got


async def test_deliveries_are_confirmed_by_the_delivery_ledger_or_the_received_mark(
    store: SqlStore,
) -> None:
    c, _ = await _trigger(store, "confirmed")
    tg = await store.conversations.active(c.id, "telegram")
    web = await store.conversations.active(c.id, "web")
    pushed, pending = await _sent(store, c, 1, T0, tg), await _sent(store, c, 2, T0, tg)
    seen, unseen = await _sent(store, c, 3, T0, web), await _sent(store, c, 4, T0, web)
    assert (
        await store.proactive_outcomes.deliveries_confirmed([pushed, pending, seen, unseen]) == {}
    )
    with use_clock(SimulatedClock(T0 + timedelta(seconds=7))):
        await store.deliveries.sent(pushed.message_id or 0, via="api")
        await store.read_marks.mark(web.id, "customer", received_up_to=seen.message_id)
    confirmed = await store.proactive_outcomes.deliveries_confirmed([pushed, pending, seen, unseen])
    assert confirmed == {
        pushed.id: T0 + timedelta(seconds=7),
        seen.id: T0 + timedelta(seconds=7),
    }


async def test_the_first_reply_counts_in_any_conversation_within_the_window(
    store: SqlStore,
) -> None:
    c, _ = await _trigger(store, "answers")
    other, _ = await _trigger(store, "someone-else")
    tg = await store.conversations.active(c.id, "telegram")
    theirs = await store.conversations.active(other.id, "telegram")

    async def customer_says(conv: ConversationRecord, at: datetime) -> None:
        with use_clock(SimulatedClock(at)):
            await store.messages.append(conv.id, "customer", "hi")

    await customer_says(tg, T0 - timedelta(minutes=1))  # before the send: no answer
    row = await _sent(store, c, 1, T0, tg)
    window = timedelta(hours=72)
    await customer_says(theirs, T0 + timedelta(minutes=5))  # someone else's: no answer
    assert await store.proactive_outcomes.first_replies([row], window) == {}
    await store.conversations.update(tg.id, status="closed", closed_at=T0 + timedelta(hours=2))
    later = await store.conversations.active(c.id, "web")  # a new conversation, elsewhere
    await customer_says(later, T0 + timedelta(hours=30))
    await customer_says(later, T0 + timedelta(hours=31))
    assert await store.proactive_outcomes.first_replies([row], window) == {
        row.id: T0 + timedelta(hours=30)
    }
    assert (
        await store.proactive_outcomes.first_replies([row], timedelta(hours=29)) == {}
    )  # too late
    assert await store.proactive_outcomes.first_replies([], window) == {}


async def test_quiet_hours_move_a_row_later_without_ending_it(store: SqlStore) -> None:
    c, e = await _trigger(store, "night-owl")
    await store.proactive.schedule("cart_reminder", c.id, e.id, T0)
    [claimed] = await store.proactive.due(T0, lease_s=600)
    morning = T0 + timedelta(hours=11)
    assert await store.proactive.reschedule(claimed.id, morning)
    assert await store.proactive.due(T0 + timedelta(hours=10)) == []  # lease released, not due
    [back] = await store.proactive.due(morning)
    assert (back.status, back.reason, back.deferrals, back.due_at) == (
        "scheduled",
        "quiet_hours",
        1,
        morning,
    )
    assert await store.proactive.cancel(back.id, "expired")
    assert not await store.proactive.reschedule(back.id, morning)


async def test_caps_and_cooldowns_read_what_was_sent(store: SqlStore) -> None:
    c, _ = await _trigger(store, "capped", "e0")
    other, _ = await _trigger(store, "not-me", "e0")
    times = [T0 - timedelta(days=8), T0 - timedelta(days=2), T0 - timedelta(hours=1)]
    for i, (rule, at) in enumerate(zip(["cart", "survey", "cart"], times, strict=True)):
        e, _ = await store.customer_events.record("shop", f"s{i}", "x", c.id, {}, at)
        row, _ = await store.proactive.schedule(rule, c.id, e.id, at)
        await store.proactive.mark_sent(
            row.id, message_id=None, conversation_id=None, channel="telegram", at=at
        )
    e, _ = await store.customer_events.record("shop", "sup", "x", c.id, {}, T0)
    row, _ = await store.proactive.schedule("cart", c.id, e.id, T0)
    await store.proactive.suppress(row.id, "cap")  # not sent: not counted
    week = T0 - timedelta(days=7)
    assert await store.proactive.sent_since(c.id, week) == 2
    assert await store.proactive.sent_times(c.id, week) == tuple(times[1:])
    assert await store.proactive.sent_since(other.id, week) == 0
    assert await store.proactive.last_sent("cart", c.id) == times[2]
    assert await store.proactive.last_sent("survey", c.id) == times[1]
    assert await store.proactive.last_sent("repurchase", c.id) is None
    assert await store.proactive.last_sent_by_rule(c.id) == {"cart": times[2], "survey": times[1]}
    assert [r.rule for r in await store.proactive.of_customer(c.id)] == [
        "cart",
        "cart",
        "survey",
        "cart",
    ]


async def test_an_opt_out_is_for_good_and_the_first_is_kept(store: SqlStore) -> None:
    a, _ = await _trigger(store, "quits")
    b, _ = await _trigger(store, "stays")
    assert not await store.opt_outs.is_opted_out(a.id)
    with use_clock(SimulatedClock(T0)):
        assert await store.opt_outs.opt_out(a.id, "wechat", "keyword")
    assert not await store.opt_outs.opt_out(a.id, "web", "button")
    assert await store.opt_outs.is_opted_out(a.id)
    assert not await store.opt_outs.is_opted_out(b.id)
    assert await store.opt_outs.opted_out([a.id, b.id, "nobody"]) == {a.id}
    assert await store.opt_outs.opt_out_of(a.id) == ("wechat", "keyword", T0)
    assert await store.opt_outs.opt_out_of(b.id) is None
    with pytest.raises(InputError, match="channel"):
        await store.opt_outs.opt_out(b.id, "", "keyword")


async def test_stats_count_a_cohort_of_sent_messages_and_every_suppression(
    store: SqlStore,
) -> None:
    c, _ = await _trigger(store, "figures", "e0")
    since, until = T0, T0 + timedelta(days=7)

    async def row(n: int, rule: str = "cart_reminder", due: datetime = T0) -> ProactiveRecord:
        e, _ = await store.customer_events.record("shop", f"f{n}", "x", c.id, {}, T0)
        r, _ = await store.proactive.schedule(rule, c.id, e.id, due)
        return r

    at = T0 + timedelta(hours=1)
    for n in range(4):  # 4 sent: 3 delivered, 2 replied, 1 converted
        r = await row(n, "cart_reminder" if n < 3 else "survey")
        await store.proactive.mark_sent(
            r.id, message_id=None, conversation_id=None, channel="web", at=at
        )
        if n < 3:
            await store.proactive_outcomes.mark_delivered(r.id, at)
        if n < 2:
            await store.proactive_outcomes.mark_replied(r.id, at)
        if n < 1:
            await store.proactive_outcomes.mark_converted(r.id, at)
    before = await row(10)
    await store.proactive.mark_sent(
        before.id, message_id=None, conversation_id=None, channel="web", at=T0 - timedelta(days=1)
    )  # outside the window
    for n, reason in enumerate(["cap", "cap", "opt_out", "unreachable"]):
        r = await row(20 + n)
        await store.proactive.suppress(r.id, reason, at=at)
    expired = await row(30)
    await store.proactive.cancel(expired.id, "expired", at=at)
    deferred = await row(40)
    await store.proactive.reschedule(deferred.id, T0 + timedelta(hours=12))
    await store.proactive.reschedule(deferred.id, T0 + timedelta(hours=13))
    with use_clock(SimulatedClock(at)):
        await store.opt_outs.opt_out(c.id, "web", "button")

    stats = await store.proactive.stats(since, until)
    assert stats["sent"] == 4 and stats["sent_by_rule"] == {"cart_reminder": 3, "survey": 1}
    assert (stats["delivered"], stats["replied"], stats["converted"]) == (3, 2, 1)
    assert stats["suppressed"] == {
        "cap": 2,
        "expired": 1,
        "opt_out": 1,
        "quiet_hours": 2,
        "unreachable": 1,
    }
    assert stats["suppressed_total"] == 5 and stats["cancelled"] == {"expired": 1}
    assert stats["deferred_quiet_hours"] == 2 and stats["scheduled_now"] == 1
    assert stats["opt_outs"] == 1
    assert stats["participation_rate"] == round(2 / 3, 4)
    assert stats["conversion_rate"] == 0.25
    empty = await store.proactive.stats(until, until + timedelta(days=7))
    assert empty["sent"] == 0 and empty["participation_rate"] is None
    assert empty["suppressed"] == {}
