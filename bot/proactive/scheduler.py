"""The proactive loop: events in, messages out, every outcome in the proactive ledger.

One `ProactiveScheduler` per instance, run every `proactive.interval_seconds` by bot/periodic.py
(started with the server in bot/server/context.py). Each round:

1. **Events** received after the cursor (`store.customer_events.after`), in id order. Each event
   schedules one ledger row per rule it triggers, due at `occurred_at + delay`
   (`store.proactive.schedule`: unique per rule, customer and event, so a replayed event, or two
   instances reading the same events, schedule one message). An `order_paid` marks the customer's
   sent `payment_failed` / `cart_abandoned` nudges of the conversion window converted.
2. **Due rows**, claimed with a lease (`store.proactive.due`: two instances never hold the same
   row). For each: the trigger, the customer's facts (bot/proactive/facts.py), the later event
   types, then `decide` (bot/proactive/decide.py):
   send -> render and store the message where the customer is reached
   (bot/proactive/delivery.py), `mark_sent`; nowhere -> suppressed "unreachable";
   suppress / cancel -> recorded with the reason; wait -> re-scheduled when the quiet hours end.
   A message of the same rule already sent since the trigger happened: suppressed "duplicate".
3. **Outcomes**, followed up from the database, so a restart, or the instance that did not
   send the message, misses none: the sent rows still waiting for one
   (`store.proactive_outcomes.awaiting`, a partial index of exactly those rows), a bounded page
   at a time, oldest first, each page looked up in one or two queries and recorded in one
   transaction (`mark_outcomes`: set only while empty, so two schedulers count each outcome
   once):
   - **delivered**: the delivery ledger marked the message `sent` (Telegram, WeChat), or the
     customer's received mark covers it (the widget); looked for DELIVERY_WATCH after the send;
   - **replied**: the customer's first message (any of their conversations, any channel: a
     session that expired meanwhile, another channel) after the send, if it came within
     REPLY_WINDOW; looked for until FOLLOW_GRACE after the window closed;
   - **converted**: an `order_paid` event (step 1, read from the event table like every
     trigger) marks the customer's `payment_failed` / `cart_abandoned` nudges sent before it,
     within the caps' window.
   A backlog longer than a round's pages goes on next round where this one stopped (an
   in-memory position that only spreads the work: lost, the next round starts from the oldest).

The event cursor lives in memory and passes an event only once it is SETTLE old: ids are given
at insert but rows appear at commit, so an older id can appear after a newer one was read; the
younger events are taken at once and read again (skipped) until they settle. A new scheduler
resumes SETTLE before the newest trigger event the ledger holds. Reading an event twice (two
instances, a restart) is harmless anyway: the ledger is unique, only `scheduled` rows are due,
and an outcome is recorded once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import clock
from bot.config.proactive import ProactiveRule, ProactiveSection
from bot.periodic import Periodic
from bot.proactive import delivery
from bot.proactive.decide import decide
from bot.proactive.facts import gather
from bot.proactive.render import render, template_variables
from bot.store.customer_events import CustomerEvent
from bot.store.errors import NotFoundError
from bot.store.proactive_ledger import ProactiveRecord
from bot.store.sql_store import SqlStore

log = logging.getLogger(__name__)

EVENT_BATCH = 500  # events read per query; a round reads until it has caught up
MAX_EVENT_BATCHES = 20  # ... or this many batches, the rest next round
# Event ids are handed out when a row is inserted, but rows become visible when their
# transaction commits: on PostgreSQL an event can appear after a newer id already has. The cursor
# therefore passes an event only once it was received this long ago; younger ones are taken at
# once and read again (and skipped) until then, so a late commit within SETTLE is not missed.
SETTLE = timedelta(seconds=60)
DUE_BATCH = 200
LEASE_S = 120.0
# The nudges an order_paid converts, and for how long after the nudge it counts.
CONVERTING = ("payment_failed", "cart_abandoned")
CONVERTED_BY = "order_paid"
# Outcomes are followed up from the database each round (see the module docstring).
# A channel's confirmation is looked for this long after the send (the outbox's retries end
# well within it); a row never confirmed by then stays undelivered.
DELIVERY_WATCH = timedelta(days=2)
# A customer's first message within this long after a proactive message answers it. Three days
# carry a Friday evening's message over the weekend, and cover the cart reminder's own life (its
# trigger expires after 72 h); a first message later than that is a new matter, not an answer.
REPLY_WINDOW = timedelta(hours=72)
# Rows whose reply window closed this recently are still looked at, so a scheduler that was
# down (every instance restarting, a long round) loses no reply that came in time.
FOLLOW_GRACE = timedelta(days=1)
FOLLOW_BATCH = 500  # rows followed up per query
MAX_FOLLOW_BATCHES = 4  # ... per outcome and round; a longer backlog goes on next round


@dataclass
class RoundResult:
    """What one round did (logs, tests, the simulation's figures)."""

    events: int = 0
    scheduled: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # sent, suppressed:cap, ...
    delivered: int = 0
    replied: int = 0
    converted: int = 0


class ProactiveScheduler:
    """Schedules, decides and sends proactive messages (the module docstring has the round)."""

    def __init__(
        self,
        store: SqlStore,
        section: ProactiveSection,
        reach: delivery.Reach | None = None,
    ) -> None:
        self.store = store
        self.section = section
        self.reach: delivery.Reach = reach or delivery.NoReach(store)
        self.cursor: int | None = None  # events up to here are settled; None: from the ledger
        self._taken: set[int] = set()  # events after the cursor already taken (not yet settled)
        # Where each outcome's follow-up goes on next round, (sent_at, id) of the last row
        # looked at; None: from the oldest. Only spreads a long backlog over rounds: losing it
        # (a restart) means starting from the oldest again.
        self._follow_after: dict[str, tuple[datetime, int] | None] = {
            "delivered": None,
            "replied": None,
        }
        self._loop = Periodic("proactive", self.run_once, self._interval, self._failed)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def _interval(self) -> float:
        return self.section.interval_seconds  # validated at start-up (0.5 s to an hour)

    def _failed(self, exc: Exception) -> None:
        log.exception("proactive round failed (next round as usual): %s", exc)

    # -- one round ------------------------------------------------------------------------------
    async def run_once(self) -> RoundResult:
        """Read new events, settle every due row, follow up outcomes; what was done."""
        result = RoundResult()
        now = clock.now()
        await self._ingest(result, now)
        while True:
            rows = await self.store.proactive.due(now, DUE_BATCH, lease_s=LEASE_S)
            for row in rows:
                outcome = await self._settle(row, now)
                result.outcomes[outcome] += 1
            if len(rows) < DUE_BATCH:
                break
        outcomes = self.store.proactive_outcomes
        result.delivered += await self._follow(
            "delivered", now - DELIVERY_WATCH, outcomes.deliveries_confirmed
        )
        result.replied += await self._follow(
            "replied",
            now - REPLY_WINDOW - FOLLOW_GRACE,
            lambda rows: outcomes.first_replies(rows, REPLY_WINDOW),
        )
        if result.events or result.outcomes:
            log.info(
                "proactive: %d events, %d scheduled, %s",
                result.events,
                result.scheduled,
                dict(result.outcomes),
            )
        return result

    async def _ingest(self, result: RoundResult, now: datetime) -> None:
        """Take the events after the cursor; move the cursor over the settled ones (SETTLE)."""
        if self.cursor is None:
            self.cursor = await self.store.proactive.resume_point(SETTLE)
        settled_before = now - SETTLE
        position, settled = self.cursor, True
        for _ in range(MAX_EVENT_BATCHES):
            events = await self.store.customer_events.after(position, EVENT_BATCH)
            for event in events:
                if event.id not in self._taken:
                    await self._take(event, result)
                    self._taken.add(event.id)
                position = event.id
                settled = settled and event.received_at <= settled_before
                if settled:
                    self.cursor = event.id
            if len(events) < EVENT_BATCH:
                break
        self._taken = {i for i in self._taken if i > self.cursor}

    async def _take(self, event: CustomerEvent, result: RoundResult) -> None:
        result.events += 1
        if event.type == CONVERTED_BY:  # before scheduling: the resume point is a scheduled event
            result.converted += await self._convert(event)
        for rule in self.section.rules_for(event.type):
            _, new = await self.store.proactive.schedule(
                rule.name, event.customer_id, event.id, event.occurred_at + rule.delay
            )
            result.scheduled += new

    async def _convert(self, paid: CustomerEvent) -> int:
        """Mark the nudges this payment follows converted: sent before it, within the window
        (the caps' window, a week by default)."""
        rules = [r.name for r in self.section.rules if r.event in CONVERTING]
        rows = await self.store.proactive_outcomes.awaiting_conversion(
            paid.customer_id, rules, paid.occurred_at
        )
        since = paid.occurred_at - self.section.caps.window
        done = 0
        for row in rows:
            if row.sent_at is not None and row.sent_at >= since:
                done += await self.store.proactive_outcomes.mark_converted(row.id, paid.occurred_at)
        return done

    async def _settle(self, row: ProactiveRecord, now: datetime) -> str:
        """Decide one claimed row and record the outcome; the outcome's name."""
        ledger = self.store.proactive
        rule = self.section.rule(row.rule)
        trigger = await self.store.customer_events.get(row.trigger_event_id)
        if rule is None or trigger is None:  # the rule left the config; the event was erased
            await ledger.cancel(row.id, "expired", at=now)
            return "cancelled:expired"
        try:
            facts = await gather(self.store, row.customer_id, rule.name, now, self.section)
        except NotFoundError:
            await ledger.cancel(row.id, "expired", at=now)
            return "cancelled:expired"
        later = await self.store.customer_events.types_after(
            row.customer_id, rule.expires_if, trigger.occurred_at
        )
        decision = decide(rule, facts, trigger, later, now, self.section)
        if decision.action == "send":
            last = facts.last_sent_by_rule.get(rule.name)
            if last is not None and last >= trigger.occurred_at:
                await ledger.suppress(row.id, "duplicate", at=now)
                return "suppressed:duplicate"
            return await self._send(row, rule, trigger, facts.language, now)
        if decision.action == "wait" and decision.at is not None:
            await ledger.reschedule(row.id, decision.at, decision.reason or "quiet_hours")
            return "rescheduled:quiet_hours"
        reason = decision.reason or "conditions"
        if decision.action == "cancel":
            await ledger.cancel(row.id, reason, at=now)
            return f"cancelled:{reason}"
        await ledger.suppress(row.id, reason, at=now)
        return f"suppressed:{reason}"

    async def _send(
        self,
        row: ProactiveRecord,
        rule: ProactiveRule,
        trigger: CustomerEvent,
        language: str,
        now: datetime,
    ) -> str:
        customer = await self.store.customers.get(row.customer_id)
        text, buttons = render(
            rule, language, template_variables(rule, trigger.data, customer.name)
        )
        sent = await delivery.send(
            self.store,
            self.reach,
            customer_id=row.customer_id,
            rule=rule.name,
            ledger_id=row.id,
            text=text,
            buttons=buttons,
            now=now,
            via=rule.via,
        )
        if sent is None:
            await self.store.proactive.suppress(row.id, "unreachable", at=now)
            return "suppressed:unreachable"
        await self.store.proactive.mark_sent(
            row.id,
            message_id=sent.message_id,
            conversation_id=sent.conversation_id,
            channel=sent.channel,
            at=now,
        )
        return "sent"

    # -- outcomes -------------------------------------------------------------------------------
    async def _follow(
        self,
        outcome: str,
        since: datetime,
        check: Callable[[Sequence[ProactiveRecord]], Awaitable[dict[int, datetime]]],
    ) -> int:
        """Look up what became of the sent rows (sent since `since`) still waiting for
        `outcome`, a page at a time, oldest first, and record what `check` finds; how many
        this round recorded (a row another scheduler marked first is not counted)."""
        outcomes = self.store.proactive_outcomes
        after = self._follow_after[outcome]
        recorded = 0
        pages = 0
        while pages < MAX_FOLLOW_BATCHES:
            rows = await outcomes.awaiting(outcome, since, after=after, limit=FOLLOW_BATCH)
            if not rows and after is not None:
                after = None  # the last round ended on the last row: from the oldest again
                continue
            pages += 1
            if rows:
                recorded += await outcomes.mark_outcomes(outcome, await check(rows))
            last = rows[-1] if len(rows) == FOLLOW_BATCH else None
            if last is None or last.sent_at is None:
                after = None  # caught up: next round starts from the oldest again
                break
            after = (last.sent_at, last.id)
        self._follow_after[outcome] = after
        return recorded
