"""The shop's side of the simulated month: events about the customers (a cart left, a payment
failed, a parcel delayed or delivered, an order paid, a re-purchase due, minutes on a product
page) and the real proactive scheduler (bot/proactive/scheduler.py) run on the simulated clock,
so the month's dashboard shows proactive figures that came out of the product's own decisions:
caps, quiet hours, cool-downs, expiry, opt-outs and unreachable customers included.

Events go in through the store's API (`store.customer_events.record`, as POST /api/events and
the widget do); the scheduler decides and sends. The customers then behave: a web visitor who
lingered on a product page gets "need help?" on the open widget and sometimes starts chatting;
others answer a reminder in the same conversation (a normal visit through the engine), pay
after some cart and payment reminders (`order_paid`), or write "退订" / "stop". The widget's
receipt and the outbox's delivery mark messages delivered, as they do live.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.config.proactive import ProactiveSection
from bot.proactive.delivery import Route
from bot.proactive.scheduler import ProactiveScheduler
from bot.store import models as m
from bot.store.proactive_ledger import ProactiveRecord, ledger_record
from bot.store.sql_store import SqlStore
from bot.store.tables import PUSHED_CHANNELS

from .base import Step, Visit
from .settings import SHOP, SHOP_PRODUCTS, WECHAT_WINDOW
from .visits import Simulation

Process = AsyncIterator[float]


class SimReach:
    """Where a customer can be reached, as bot/server/proactive_reach.py decides it with live
    channels: the widget while the visitor is on the site, Telegram always, WeChat inside the
    48-hour window of their last message; the shop's app (REST) and an absent web visitor not."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.on_site: set[str] = set()  # customers with the widget open now

    async def route(
        self, customer_id: str, now: datetime, channels: Collection[str] = ()
    ) -> Route | None:
        known = {ch for ch, _ in await self.store.profiles.identities(customer_id)}
        if channels:
            known &= set(channels)
        if "web" in known and customer_id in self.on_site:
            conv = await self.store.conversations.active(customer_id, "web")
            return Route("web", "live", conv.id)
        if "telegram" in known:
            return Route("telegram", "push")
        if "wechat" in known:
            said = [
                msg.created_at
                for msg in await self.store.messages.of_customer(customer_id)
                if msg.sender == "customer"
            ]
            if said and now - max(said) < WECHAT_WINDOW:
                return Route("wechat", "window")
        return None


class Shop:
    """The shop's events and the proactive scheduler, on the simulation's schedule."""

    def __init__(self, sim: Simulation, section: ProactiveSection, seed: int) -> None:
        self.sim = sim
        self.store = sim.store
        self.section = section
        self.rng = random.Random(seed + 2)
        self.reach = SimReach(self.store)
        self.scheduler = ProactiveScheduler(self.store, section, self.reach)
        self.events = 0
        self._poked = False
        self._last_round: datetime | None = None
        self._answered: set[int] = set()
        self.shoppers: dict[str, Visit] = {}  # customer id -> their first visit
        self.after_id = 0  # ledger rows of earlier runs (--append) are theirs

    async def start(self) -> None:
        """Before the first round: what earlier runs into this database left is not this
        run's (their events are not read again; their messages are not answered again)."""
        self.scheduler.cursor = await self.store.customer_events.last_id()

        def work(s: Session) -> int:
            return int(s.scalar(select(func.max(m.ProactiveMessage.id))) or 0)

        self.after_id = await self.store.db.run(work)

    # -- the scheduler ------------------------------------------------------------------------
    async def ticker(self, until: datetime) -> Step:
        """The scheduler's loop, every SHOP["tick_s"] simulated seconds until `until` (the
        server runs it every few seconds; a quarter of an hour keeps the month quick and a
        reminder at most that late)."""
        while self.sim.clock.now() < until:
            await self.round()
            yield SHOP["tick_s"]

    def poke(self) -> None:
        """An event due at once (a page dwell, a failed payment): a round a moment later."""
        if not self._poked:
            self._poked = True
            self.sim.spawn(self.sim.clock.now() + timedelta(seconds=5), self._poke_round())

    async def _poke_round(self) -> Step:
        self._poked = False
        await self.round()
        return
        yield 0.0  # an async generator, as every process is

    async def round(self) -> None:
        summary = self.sim.summary
        result = await self.scheduler.run_once()
        summary.proactive.update(result.outcomes)
        summary.proactive["delivered"] += result.delivered
        summary.proactive["replied"] += result.replied
        summary.proactive["converted"] += result.converted
        since, self._last_round = self._last_round, self.sim.clock.now()
        for row in await self._sent_since(since):
            await self._after_sent(row)

    async def _sent_since(self, since: datetime | None) -> list[ProactiveRecord]:
        answered = self._answered

        def work(s: Session) -> list[ProactiveRecord]:
            table = m.ProactiveMessage
            query = (
                select(table)
                .where(table.status == "sent", table.id > self.after_id)
                .order_by(table.id)
            )
            if since is not None:
                query = query.where(table.sent_at >= since)
            return [ledger_record(r) for r in s.scalars(query) if r.id not in answered]

        return await self.store.db.run(work)

    async def _after_sent(self, row: ProactiveRecord) -> None:
        """A message went out: the channel delivers it; the customer may answer, pay or stop."""
        self._answered.add(row.id)
        channel = row.channel or ""
        if channel in PUSHED_CHANNELS:
            self.sim._pushed(channel)
        elif channel == "web" and row.conversation_id and row.message_id:
            # The open widget acknowledges what it showed (its `received` read mark).
            await self.store.read_marks.mark(
                row.conversation_id, "customer", received_up_to=row.message_id
            )
        shopper = self.shoppers.get(row.customer_id)
        if shopper is None or row.rule == "dwell_help":  # the dwelling visitor decides apart
            return
        rng = random.Random(self.rng.getrandbits(64))
        if row.rule in SHOP["converts"] and rng.random() < SHOP["converts"][row.rule]:
            at = self.sim.clock.now() + timedelta(hours=rng.uniform(0.2, 30))
            self.sim.spawn(at, self._event(shopper, "order_paid", {"order": shopper.order}))
        chance = SHOP["replies"].get(row.rule, 0.2)
        if rng.random() < chance:
            # Within the bot session's expiry, so the answer continues the same conversation.
            wait = min(rng.lognormvariate(6.5, 0.9), 50 * 60)
            self.sim.spawn(self.sim.clock.now() + timedelta(seconds=wait), self._answer(shopper))

    async def _answer(self, shopper: Visit) -> Step:
        rng = random.Random(self.rng.getrandbits(64))
        if rng.random() < SHOP["opt_out"]:
            word = "退订" if shopper.language == "zh" else rng.choice(("stop", "unsubscribe"))
            await self.sim._say(shopper, word)
            self.sim.summary.proactive["opted_out"] += 1
            return
        again = Visit(
            shopper.number,
            shopper.channel,
            shopper.sender,
            shopper.language,
            rng.choice(("question", "order", "question", "smalltalk")),
            rng,
            order_id=shopper.order_id,
        )
        async for delay in self.sim.visit(again):
            yield delay

    # -- the shop's events --------------------------------------------------------------------
    def _event(self, shopper: Visit, kind: str, data: dict[str, Any]) -> Process:
        async def record() -> Step:
            await self.record(shopper, kind, data)
            return
            yield 0.0

        return record()

    async def record(self, shopper: Visit, kind: str, data: dict[str, Any]) -> None:
        """One event, as the shop's systems post it (replayed now and then: stored once)."""
        assert shopper.customer_id is not None
        self.events += 1
        event_id = f"sim-{self.sim.prefix}{self.events}"
        now = self.sim.clock.now()
        events = self.store.customer_events
        source = "widget" if kind == "page_dwell" else "shop"
        await events.record(source, event_id, kind, shopper.customer_id, data, now)
        summary = self.sim.summary
        summary.shop_events[kind] += 1
        if self.rng.random() < SHOP["replayed"]:
            _, new = await events.record(source, event_id, kind, shopper.customer_id, data, now)
            summary.shop_events["replayed"] += not new
        if any(r.delay == timedelta(0) for r in self.section.rules_for(kind)):
            self.poke()

    def plan(self, shopper: Visit) -> None:
        """After a customer's first visit: what the shop will say about them in the days that
        follow (never after the month's end)."""
        rng = random.Random(self.rng.getrandbits(64))
        now = self.sim.clock.now()
        lang = shopper.language
        product = rng.choice(SHOP_PRODUCTS[lang])
        order = shopper.order_id or rng.choice(self.sim.orders)
        shopper.order = order
        plans: list[tuple[float, str, dict[str, Any]]] = []
        p = SHOP["chances"]
        if rng.random() < p["cart_abandoned"]:
            left = rng.uniform(0.5, 48)
            plans.append((left, "cart_abandoned", {"product": product}))
            if rng.random() < p["paid_before_reminder"]:
                plans.append((left + rng.uniform(1, 20), "order_paid", {"order": order}))
            if rng.random() < p["another_cart"]:  # a keen shopper: cool-down and caps
                other = rng.choice(SHOP_PRODUCTS[lang])
                plans.append((left + rng.uniform(20, 72), "cart_abandoned", {"product": other}))
        if rng.random() < p["payment_failed"]:
            reason, fix = rng.choice(SHOP["payment_reasons"][lang])
            plans.append(
                (
                    rng.uniform(0.2, 36),
                    "payment_failed",
                    {"order": order, "reason": reason, "fix": fix},
                )
            )
        if shopper.scenario == "order" or rng.random() < p["any_order"]:
            if rng.random() < p["shipment_delayed"]:
                data = {"order": order, "coupon": f"SORRY{rng.randint(10, 30)}"}
                plans.append((rng.uniform(2, 30), "shipment_delayed", data))
            if rng.random() < p["delivered"]:
                plans.append((rng.uniform(12, 72), "delivered", {"order": order}))
        if rng.random() < p["repurchase_due"]:
            plans.append((rng.uniform(1, 120), "repurchase_due", {"product": product}))
        for hours, kind, data in plans:
            at = now + timedelta(hours=hours)
            if at < self.sim.end:
                self.sim.spawn(at, self._event(shopper, kind, data))

    async def dwell(self, shopper: Visit) -> bool:
        """A web visitor minutes on a product page before writing: the widget reports it, the
        scheduler offers help on the open widget; True when the visitor then writes."""
        customer = await self.store.customers.for_identity(
            "web", shopper.sender, language=shopper.language
        )
        shopper.customer_id = customer.id
        self.reach.on_site.add(customer.id)
        page = f"https://shop.example.com/products/{self.rng.randint(1000, 9999)}"
        await self.record(shopper, "page_dwell", {"page_url": page, "seconds": 300})
        return self.rng.random() < float(SHOP["replies"]["dwell_help"])

    async def visit(self, v: Visit) -> Step:
        """A customer's visit (visits.py) with the shop around it: some web visitors linger on
        a product page first, and after the visit the shop's events about them are planned."""
        if v.channel == "web" and self.rng.random() < SHOP["chances"]["page_dwell"]:
            stays = await self.dwell(v)
            yield SHOP["dwell_read_s"]  # the prompt (a round 5 s after the event) is on screen
            if not stays:
                self.reach.on_site.discard(v.customer_id or "")
                return
        async for delay in self.sim.visit(v):
            yield delay
        self.reach.on_site.discard(v.customer_id or "")
        if v.conversation_id is None:
            return
        conv = await self.store.conversations.get(v.conversation_id)
        v.customer_id = conv.customer_id
        if conv.customer_id not in self.shoppers:
            self.shoppers[conv.customer_id] = v
            self.plan(v)
