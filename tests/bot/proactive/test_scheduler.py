"""The proactive loop end to end on the simulated clock and a real store (SQLite and PostgreSQL):
events in, the shipped rules decided, messages stored on the customer's channel, every outcome
in the ledger (bot/proactive/scheduler.py, delivery.py, facts.py; bot/server/proactive_reach.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from sqlalchemy import update

from bot import clock
from bot.analytics.proactive import proactive_figures
from bot.clock import SimulatedClock, use_clock
from bot.config.loading import load_config
from bot.config.proactive import ProactiveSection
from bot.events import LocalOnlineClients
from bot.proactive import scheduler as scheduler_module
from bot.proactive.delivery import Route
from bot.proactive.render import render, template_variables
from bot.proactive.scheduler import ProactiveScheduler
from bot.server.proactive_reach import ChannelReach
from bot.store import models as m
from bot.store.sql_store import SqlStore
from connectors.wechat.settings import WechatSettings
from tests.bot.proactive import PLAYBOOK_TRIGGERS
from tests.bot.store.conftest import fresh_pg_database

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # Monday 11:00 in Shanghai: outside quiet hours
DATA = {
    "order": "A1001",
    "product": "保温杯 Thermos",
    "coupon": "SAVE10",
    "reason": "card declined",
    "fix": "try another card",
}
_ids = count(1)


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/relaydesk.db"
        return
    async with fresh_pg_database() as url:
        yield url


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlStore]:
    s = await SqlStore.open(db_url)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def sim() -> Iterator[SimulatedClock]:
    with use_clock(SimulatedClock(T0)) as c:
        yield c


@pytest.fixture(scope="module")
def shipped() -> ProactiveSection:
    return load_config(ROOT / "config.yml").proactive


def section(**changes: Any) -> ProactiveSection:
    """A section of four plain rules (no delay, no cool-down) for the caps and de-duplication."""
    rules = [
        {
            "name": f"r{i}",
            "event": f"e{i}",
            "message": {"zh": f"第{i}条", "en": f"Number {i}"},
        }
        for i in range(1, 5)
    ]
    return ProactiveSection.model_validate({"enabled": True, "rules": rules, **changes})


def channels(*, wechat: WechatSettings | None = None, web: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"telegram": SimpleNamespace(settings=None)}
    if web:
        out["web"] = SimpleNamespace(settings=None)
    if wechat is not None:
        out["wechat"] = SimpleNamespace(settings=wechat)
    return out


def scheduler(store: SqlStore, sec: ProactiveSection, **kw: Any) -> ProactiveScheduler:
    return ProactiveScheduler(store, sec, ChannelReach(store, channels(**kw), ONLINE))


async def customer(
    store: SqlStore,
    channel: str = "telegram",
    *,
    language: str = "zh",
    timezone: str | None = None,
    band: str | None = None,
) -> str:
    c = await store.customers.for_identity(channel, f"{channel}-{next(_ids)}")
    fields: dict[str, Any] = {"language": language}
    if timezone:
        fields["attributes"] = {"timezone": timezone}
    await store.customers.update(c.id, **fields)
    if band:

        def work(s: Any) -> None:
            s.execute(update(m.Customer).where(m.Customer.id == c.id).values(value_segment=band))
            s.commit()

        await store.db.run(work)
    return c.id


async def event(
    store: SqlStore, cid: str, type_: str, *, eid: str | None = None, at: datetime | None = None
) -> bool:
    _, new = await store.customer_events.record(
        "shop", eid or f"evt-{next(_ids)}", type_, cid, dict(DATA), at or clock.now()
    )
    return new


async def rows(store: SqlStore, cid: str) -> list[Any]:
    return sorted(await store.proactive.of_customer(cid), key=lambda r: r.id)


async def bot_messages(store: SqlStore, cid: str) -> list[Any]:
    return [
        msg
        for msg in await store.messages.of_customer(cid)
        if msg.sender == "bot" and "proactive" in msg.payload
    ]


ONLINE = LocalOnlineClients()  # the widgets open in these tests (conversation ids are unique)


async def watch_widget(store: SqlStore, conversation_id: str) -> Any:
    """What an open widget socket does: say it has its conversation open; returns its `gone`."""
    await ONLINE.here(conversation_id, "widget")
    return lambda: ONLINE.gone(conversation_id, "widget")


# -- each trigger --------------------------------------------------------------------------------
async def test_each_shipped_trigger_sends_its_message_in_the_customers_language(
    store: SqlStore, sim: SimulatedClock, shipped: ProactiveSection
) -> None:
    assert {r.event for r in shipped.rules} >= PLAYBOOK_TRIGGERS
    for n, rule in enumerate(shipped.rules):
        sim.set(T0 + timedelta(days=10 * n))
        language = "en" if n % 2 else "zh"
        channel = "web" if "web" in rule.conditions.channels else "telegram"
        cid = await customer(store, channel, language=language)
        if channel == "web":  # the visitor's widget is open on the product page
            conv = await store.conversations.active(cid, "web")
            await watch_widget(store, conv.id)
        await event(store, cid, rule.event)
        loop = scheduler(store, shipped)
        if rule.delay:
            await loop.run_once()
            assert [r.status for r in await rows(store, cid)] == ["scheduled"], rule.name
            assert await bot_messages(store, cid) == []
            sim.advance(rule.delay.total_seconds())
        result = await loop.run_once()
        assert result.outcomes["sent"] == 1, (rule.name, result)
        [row] = await rows(store, cid)
        assert (row.status, row.channel) == ("sent", channel)
        [msg] = await bot_messages(store, cid)
        text, buttons = render(rule, language, template_variables(rule, DATA, None))
        assert msg.text == text and msg.payload["buttons"] == buttons
        assert msg.payload["proactive"]["rule"] == rule.name
        assert msg.payload["proactive"]["ledger_id"] == row.id
        assert buttons[-1]["payload"] == "/opt_out"
        if "{order}" in rule.message.get(language):
            assert "A1001" in msg.text
        await loop.stop()


# -- caps ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("band", "cap"), [("high", 3), ("mid", 2), (None, 2)])
async def test_weekly_cap_by_value_band_then_the_window_rolls_on(
    store: SqlStore, sim: SimulatedClock, band: str | None, cap: int
) -> None:
    sec = section()
    cid = await customer(store, band=band)
    for i in range(1, 5):
        await event(store, cid, f"e{i}")
    result = await scheduler(store, sec).run_once()
    assert result.outcomes["sent"] == cap
    assert result.outcomes["suppressed:cap"] == 4 - cap
    assert len(await bot_messages(store, cid)) == cap
    sim.advance(timedelta(days=7, seconds=1).total_seconds())
    await event(store, cid, "e1")
    assert (await scheduler(store, sec).run_once()).outcomes["sent"] == 1


# -- quiet hours -----------------------------------------------------------------------------------
async def test_quiet_hours_in_the_customers_time_zone_defer_and_then_send(
    store: SqlStore, sim: SimulatedClock, shipped: ProactiveSection
) -> None:
    sim.set(datetime(2026, 12, 7, 21, 30, tzinfo=UTC))  # 22:30 Berlin, 05:30 Shanghai
    berlin = await customer(store, timezone="Europe/Berlin", language="en")
    shanghai = await customer(store)  # no time zone: the default, Asia/Shanghai
    await event(store, berlin, "payment_failed")
    await event(store, shanghai, "payment_failed")
    loop = scheduler(store, shipped)
    result = await loop.run_once()
    assert result.outcomes["rescheduled:quiet_hours"] == 2
    [b], [s] = await rows(store, berlin), await rows(store, shanghai)
    assert (b.status, b.reason, b.deferrals) == ("scheduled", "quiet_hours", 1)
    assert b.due_at == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
    assert s.due_at == datetime(2026, 12, 8, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    sim.set(datetime(2026, 12, 8, 1, 0, tzinfo=UTC))
    assert (await loop.run_once()).outcomes == {"sent": 1}
    assert await bot_messages(store, berlin) == []
    sim.set(datetime(2026, 12, 8, 7, 59, tzinfo=UTC))
    assert not (await loop.run_once()).outcomes
    sim.set(datetime(2026, 12, 8, 8, 0, tzinfo=UTC))
    assert (await loop.run_once()).outcomes == {"sent": 1}
    assert len(await bot_messages(store, berlin)) == 1


# -- opt-out ---------------------------------------------------------------------------------------
async def test_opt_out_stops_everything_for_good(
    store: SqlStore, sim: SimulatedClock, shipped: ProactiveSection
) -> None:
    cid = await customer(store)
    await event(store, cid, "cart_abandoned")
    loop = scheduler(store, shipped)
    await loop.run_once()  # scheduled for tomorrow
    assert await store.opt_outs.opt_out(cid, "telegram", "keyword")
    sim.advance(timedelta(hours=24).total_seconds())
    for trigger in ("payment_failed", "shipment_delayed", "repurchase_due"):
        await event(store, cid, trigger)
    result = await loop.run_once()
    assert result.outcomes == {"suppressed:opt_out": 4}
    sim.advance(timedelta(days=60).total_seconds())
    await event(store, cid, "payment_failed")
    assert (await loop.run_once()).outcomes == {"suppressed:opt_out": 1}
    assert await bot_messages(store, cid) == []


# -- expiry ----------------------------------------------------------------------------------------
async def test_a_cart_bought_since_is_cancelled_and_a_late_one_expires(
    store: SqlStore, sim: SimulatedClock, shipped: ProactiveSection
) -> None:
    bought, late = await customer(store), await customer(store)
    await event(store, bought, "cart_abandoned")
    loop = scheduler(store, shipped)
    await loop.run_once()  # due in 24 hours
    sim.advance(timedelta(hours=2).total_seconds())
    await event(store, bought, "order_paid")
    sim.advance(timedelta(hours=22).total_seconds())
    assert (await loop.run_once()).outcomes == {"cancelled:expired": 1}
    [row] = await rows(store, bought)
    assert (row.status, row.reason) == ("cancelled", "expired")
    # Reported (or read) only after its 24 h delay and 72 h expiry had passed.
    await event(store, late, "cart_abandoned", at=clock.now() - timedelta(hours=96, seconds=1))
    assert (await loop.run_once()).outcomes == {"suppressed:expired": 1}
    [row] = await rows(store, late)
    assert (row.status, row.reason) == ("suppressed", "expired")
    assert await bot_messages(store, bought) == [] and await bot_messages(store, late) == []


# -- duplicates ------------------------------------------------------------------------------------
async def test_duplicate_events_and_restarts_never_send_twice(
    store: SqlStore, sim: SimulatedClock, shipped: ProactiveSection
) -> None:
    cid = await customer(store)
    assert await event(store, cid, "payment_failed", eid="pay-1")
    assert not await event(store, cid, "payment_failed", eid="pay-1")  # the shop's retry
    assert (await scheduler(store, shipped).run_once()).outcomes == {"sent": 1}
    again = scheduler(store, shipped)
    again.cursor = 0  # an instance that reads every event again
    result = await again.run_once()
    assert result.events == 1 and result.scheduled == 0 and not result.outcomes
    # A restart resumes SETTLE before the newest scheduled trigger (a late commit may hide
    # there): it reads that event again and does nothing with it.
    restarted = scheduler(store, shipped)
    result = await restarted.run_once()
    assert result.events == 1 and result.scheduled == 0 and not result.outcomes
    await event(store, cid, "payment_failed", eid="pay-2")  # within the rule's cool-down
    assert (await restarted.run_once()).outcomes == {"suppressed:cooldown": 1}
    assert len(await bot_messages(store, cid)) == 1


async def test_two_triggers_of_one_rule_due_together_send_one_message(
    store: SqlStore, sim: SimulatedClock
) -> None:
    cid = await customer(store)
    await event(store, cid, "e1", at=T0 - timedelta(minutes=1))
    await event(store, cid, "e1")
    result = await scheduler(store, section()).run_once()
    assert result.outcomes == {"sent": 1, "suppressed:duplicate": 1}


async def test_two_schedulers_on_one_database_never_send_a_row_twice(
    db_url: str, store: SqlStore, sim: SimulatedClock, shipped: ProactiveSection
) -> None:
    customers = [await customer(store) for _ in range(12)]
    for cid in customers:
        await event(store, cid, "payment_failed")
    other = await SqlStore.open(db_url)
    try:
        a, b = scheduler(store, shipped), scheduler(other, shipped)
        results = await asyncio.gather(a.run_once(), b.run_once(), a.run_once(), b.run_once())
    finally:
        await other.close()
    assert sum(r.outcomes["sent"] for r in results) == len(customers)
    for cid in customers:
        assert len(await bot_messages(store, cid)) == 1
        assert [r.status for r in await rows(store, cid)] == ["sent"]


# -- outcomes --------------------------------------------------------------------------------------
async def test_the_customers_reply_marks_replied_and_order_paid_marks_converted(
    store: SqlStore, sim: SimulatedClock, shipped: ProactiveSection
) -> None:
    cid = await customer(store)
    conv = await store.conversations.active(cid, "telegram")
    await store.messages.append(conv.id, "customer", "hello")  # before the nudge: no reply
    await event(store, cid, "payment_failed")
    loop = scheduler(store, shipped)
    await loop.run_once()
    [row] = await rows(store, cid)
    assert row.conversation_id == conv.id and row.replied_at is None
    sim.advance(300)
    await store.messages.append(conv.id, "customer", "which card works?")
    sim.advance(60)
    assert (await loop.run_once()).replied == 1
    [row] = await rows(store, cid)
    assert row.replied_at == T0 + timedelta(seconds=300)
    sim.advance(3600)
    await event(store, cid, "order_paid")
    assert (await loop.run_once()).converted == 1
    [row] = await rows(store, cid)
    assert row.converted_at == clock.now()


async def telegram_and_open_widget(store: SqlStore) -> tuple[str, str, Any]:
    """A customer on Telegram and one with the widget open, each with a re-purchase due: the
    two ways a message is confirmed delivered. The customers and the widget's conversation."""
    telegram, web = await customer(store), await customer(store, "web")
    conv = await store.conversations.active(web, "web")
    await watch_widget(store, conv.id)
    for cid in (telegram, web):
        await event(store, cid, "repurchase_due")
    return telegram, web, conv


async def test_delivered_by_the_delivery_ledger_or_the_widgets_received_mark(
    store: SqlStore, sim: SimulatedClock, shipped: ProactiveSection
) -> None:
    telegram, web, conv = await telegram_and_open_widget(store)
    loop = scheduler(store, shipped)
    await loop.run_once()
    [t], [w] = await rows(store, telegram), await rows(store, web)
    assert (t.channel, w.channel, w.conversation_id) == ("telegram", "web", conv.id)
    assert (await loop.run_once()).delivered == 0
    sim.advance(5)
    await store.deliveries.sent(t.message_id, via="api")  # the outbox pushed it
    await store.read_marks.mark(conv.id, "customer", received_up_to=w.message_id)
    assert (await loop.run_once()).delivered == 2
    assert all(
        r.delivered_at is not None for r in (*await rows(store, telegram), *await rows(store, web))
    )


async def writes(store: SqlStore, cid: str, channel: str, text: str) -> Any:
    """The customer writes on `channel` as a channel does: a turn begins (the store closes a
    session that expired and opens a new conversation). The conversation it went to."""
    sender = f"{channel}-writer-{cid}"
    await store.customers.link(cid, channel, sender)
    return (await store.turns.begin(channel, sender, text)).conversation


async def test_delivered_survives_a_restart_of_the_scheduler_that_sent(
    store: SqlStore, sim: SimulatedClock, shipped: ProactiveSection
) -> None:
    telegram, web, conv = await telegram_and_open_widget(store)
    first = scheduler(store, shipped)
    assert (await first.run_once()).outcomes == {"sent": 2}
    await first.stop()
    del first  # the instance restarts: nothing it held survives
    [t], [w] = await rows(store, telegram), await rows(store, web)
    sim.advance(3600)
    await store.deliveries.sent(t.message_id or 0, via="api")  # the outbox pushed it meanwhile
    await store.read_marks.mark(conv.id, "customer", received_up_to=w.message_id)
    sim.advance(60)
    assert (await scheduler(store, shipped).run_once()).delivered == 2
    [t], [w] = await rows(store, telegram), await rows(store, web)
    assert t.delivered_at == w.delivered_at == T0 + timedelta(seconds=3600)


async def test_a_reply_after_the_session_expired_counts_one_after_the_window_does_not(
    store: SqlStore, sim: SimulatedClock, shipped: ProactiveSection
) -> None:
    store.settings.session_expiry = timedelta(minutes=60)
    expired, elsewhere, late, before = [await customer(store) for _ in range(4)]
    await writes(store, before, "telegram", "hello")  # before the nudge: no answer
    for cid in (expired, elsewhere, late, before):
        await event(store, cid, "payment_failed")
    assert (await scheduler(store, shipped).run_once()).outcomes == {"sent": 4}
    sent = {cid: (await rows(store, cid))[0] for cid in (expired, elsewhere, late, before)}
    sim.advance(timedelta(hours=5).total_seconds())  # the bot sessions expired meanwhile
    conv = await writes(store, expired, "telegram", "still failing")
    assert conv.id != sent[expired].conversation_id  # a new conversation
    await writes(store, elsewhere, "web", "I paid on the website instead")
    sim.advance(timedelta(hours=68).total_seconds())  # 73 h after the nudges
    await writes(store, late, "telegram", "hi again")
    result = await scheduler(store, shipped).run_once()  # another instance, or after a restart
    assert result.replied == 2
    replied = {cid: (await rows(store, cid))[0].replied_at for cid in sent}
    assert replied == {
        expired: T0 + timedelta(hours=5),
        elsewhere: T0 + timedelta(hours=5),
        late: None,  # answered after the 72-hour reply window
        before: None,  # wrote only before the nudge
    }
    sim.advance(timedelta(hours=12).total_seconds())
    assert (await scheduler(store, shipped).run_once()).replied == 0
    figures = await proactive_figures(store.proactive, T0, T0 + timedelta(days=1))
    assert (figures["sent"], figures["replied"]) == (4, 2)  # the dashboard's cohort


async def test_two_schedulers_count_each_delivery_and_reply_once(
    db_url: str, store: SqlStore, sim: SimulatedClock, shipped: ProactiveSection
) -> None:
    customers = [await customer(store) for _ in range(8)]
    for cid in customers:
        await event(store, cid, "payment_failed")
    assert (await scheduler(store, shipped).run_once()).outcomes == {"sent": len(customers)}
    sim.advance(30)
    for cid in customers:
        [row] = await rows(store, cid)
        await store.deliveries.sent(row.message_id or 0, via="api")
        await store.messages.append(row.conversation_id or "", "customer", "ok")
    other = await SqlStore.open(db_url)
    try:
        a, b = scheduler(store, shipped), scheduler(other, shipped)
        results = await asyncio.gather(a.run_once(), b.run_once(), a.run_once(), b.run_once())
    finally:
        await other.close()
    assert sum(r.delivered for r in results) == len(customers)
    assert sum(r.replied for r in results) == len(customers)
    for cid in customers:
        [row] = await rows(store, cid)
        assert row.delivered_at == row.replied_at == T0 + timedelta(seconds=30)
    figures = await proactive_figures(store.proactive, T0, T0 + timedelta(days=1))
    assert figures["delivered"] == figures["replied"] == len(customers)
    assert figures["participation_rate"] == 1.0


async def test_a_backlog_longer_than_a_round_is_followed_up_over_the_next_rounds(
    store: SqlStore,
    sim: SimulatedClock,
    shipped: ProactiveSection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows that are never confirmed (a blocked bot) do not keep the newer ones from being
    looked at: each round goes on where the last one stopped."""
    customers = [await customer(store) for _ in range(5)]
    for cid in customers:
        await event(store, cid, "payment_failed")
    loop = scheduler(store, shipped)
    assert (await loop.run_once()).outcomes == {"sent": 5}
    monkeypatch.setattr(scheduler_module, "FOLLOW_BATCH", 2)
    monkeypatch.setattr(scheduler_module, "MAX_FOLLOW_BATCHES", 1)
    [newest] = await rows(store, customers[-1])
    sim.advance(30)
    await store.deliveries.sent(newest.message_id or 0, via="api")  # the only one that arrives
    assert [(await loop.run_once()).delivered for _ in range(3)] == [0, 0, 1]
    [newest] = await rows(store, customers[-1])
    assert newest.delivered_at == T0 + timedelta(seconds=30)
    [oldest] = await rows(store, customers[0])
    await store.deliveries.sent(oldest.message_id or 0, via="api")
    assert [(await loop.run_once()).delivered for _ in range(2)] == [1, 0]  # [1, 2], [3, 4]
    [second] = await rows(store, customers[1])
    await store.deliveries.sent(second.message_id or 0, via="api")
    # The last round ended on the newest row: this one starts from the oldest again.
    assert (await loop.run_once()).delivered == 1


# -- where it goes ---------------------------------------------------------------------------------
async def test_channel_preference_widget_then_telegram_then_wechat_window_then_template(
    store: SqlStore, sim: SimulatedClock
) -> None:
    cid = await customer(store, "web")
    await store.customers.link(cid, "telegram", "tg-pref")
    await store.customers.link(cid, "wechat", "openid-pref")
    conv = await store.conversations.active(cid, "web")
    template = {"proactive": {"template_id": "T1", "fields": {"first": "{text}"}}}
    wechat = WechatSettings(templates=template)
    unsubscribe = await watch_widget(store, conv.id)
    assert await ChannelReach(store, channels(), ONLINE).route(cid, clock.now()) == Route(
        "web", "live", conv.id
    )
    await unsubscribe()  # the visitor left the site
    assert await ChannelReach(store, channels(), ONLINE).route(cid, clock.now()) == Route(
        "telegram", "push"
    )
    only_wechat: dict[str, Any] = {"wechat": SimpleNamespace(settings=wechat)}
    wx = await store.conversations.active(cid, "wechat")
    await store.messages.append(wx.id, "customer", "你好")
    assert await ChannelReach(store, only_wechat, ONLINE).route(cid, clock.now()) == Route(
        "wechat", "window"
    )
    sim.advance(timedelta(hours=49).total_seconds())  # the 48-hour window closed
    assert await ChannelReach(store, only_wechat, ONLINE).route(cid, clock.now()) == Route(
        "wechat", "template"
    )
    no_template: dict[str, Any] = {"wechat": SimpleNamespace(settings=WechatSettings())}
    assert await ChannelReach(store, no_template, ONLINE).route(cid, clock.now()) is None


async def test_a_customer_no_channel_reaches_is_suppressed_unreachable(
    store: SqlStore, sim: SimulatedClock, shipped: ProactiveSection
) -> None:
    visitor = await customer(store, "web")  # widget closed, no Telegram, no WeChat
    await event(store, visitor, "payment_failed")
    assert (await scheduler(store, shipped).run_once()).outcomes == {"suppressed:unreachable": 1}
    [row] = await rows(store, visitor)
    assert (row.status, row.reason) == ("suppressed", "unreachable")


def test_wechat_carries_a_proactive_message_outside_the_window_as_its_template() -> None:
    settings = WechatSettings(
        templates={
            "proactive": {"template_id": "P1", "fields": {"first": "{text}"}},
            "agent_replied": {"template_id": "A1", "fields": {"first": "{text}"}},
        }
    )
    payload = {"proactive": {"rule": "cart_reminder", "ledger_id": 1}, "buttons": []}
    chosen = settings.templates.for_message("bot", payload)
    assert chosen is not None and chosen[0] == "proactive"
    assert chosen[1].template_id == "P1"
    assert WechatSettings().templates.for_message("bot", payload) is None


# -- events committed out of id order ---------------------------------------------------------
async def test_an_event_committed_after_a_newer_one_is_still_taken(
    sim: SimulatedClock, shipped: ProactiveSection
) -> None:
    """PostgreSQL hands out an event's id at insert and shows the row at commit, so a slow
    transaction can commit an older id after the scheduler read a newer one. The scheduler
    reads again what arrived within SETTLE, so that event still gets its message; and a new
    scheduler (a restart) resumes early enough to take it too."""
    async with fresh_pg_database() as url:
        store = await SqlStore.open(url)
        slow = await asyncpg.connect(url)
        try:
            slow_cid, fast_cid = await customer(store), await customer(store)
            at = clock.now()
            late = slow.transaction()
            await late.start()
            await slow.execute(
                "INSERT INTO customer_events (source, event_id, type, customer_id, data,"
                " occurred_at, received_at) VALUES ('shop', 'slow-1', 'payment_failed', $1,"
                " $2::json, $3, $3)",
                slow_cid,
                json.dumps(DATA),
                at,
            )  # the id is taken; nobody sees the row yet
            await event(store, fast_cid, "payment_failed")  # a newer id, committed at once
            loop = scheduler(store, shipped)
            first = await loop.run_once()
            assert (first.events, first.outcomes["sent"]) == (1, 1)
            await late.commit()
            sim.advance(5)
            second = await loop.run_once()
            assert (second.events, second.outcomes["sent"]) == (1, 1)
            assert [r.status for r in await rows(store, slow_cid)] == ["sent"]
            sim.advance(5)
            assert (await loop.run_once()).events == 0  # taken once, however often read
            restarted = scheduler(store, shipped)
            again = await restarted.run_once()  # reads the same minute again, sends nothing
            assert again.outcomes["sent"] == 0 and again.scheduled == 0
            sim.advance(scheduler_module.SETTLE.total_seconds() + 1)
            await loop.run_once()
            assert loop.cursor == await store.customer_events.last_id()
            await loop.stop()
            await restarted.stop()
        finally:
            await slow.close()
            await store.close()
